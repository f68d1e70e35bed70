"""Traces of either engine's schedule: per-cycle line trace and Chrome/Perfetto JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from compressor.csc import compress_layer
from eiesim.config import ArchConfig
from eiesim.engines import ScheduleRecorder
from eiesim.engines.reference import trace_lines
from eiesim.simulation import prepare_activations, simulate
from eiesim.trace import line_trace, perfetto_trace
from tests.test_csc_golden import golden_matrix
from tests.test_engines import make_layer

GOLDEN_ACTS = np.array([0, 0, 0.5, 0, 1.0, 0.25, 0, 2.0])


def traced(layer, acts, config, engine) -> ScheduleRecorder:
    trace = ScheduleRecorder()
    simulate(layer, acts, config, engine=engine, observer=trace)
    return trace


def test_golden_line_trace(engine):
    config = ArchConfig(n_pe=4)
    layer = compress_layer(golden_matrix(), config)
    lines = list(line_trace(traced(layer, GOLDEN_ACTS, config, engine), layer, config))
    assert lines[0] == "row block 0: T_block = 16 cycles + 0 write-back cycles"
    assert lines[1].split(" | ") == ["cycle", "broadcast", "PE0".ljust(15), "PE1".ljust(15), "PE2".ljust(15), "PE3"]
    assert len(lines) == 2 + 16
    cells = {t: [c.strip() for c in line.split(" | ")] for t, line in enumerate(lines[2:])}
    # b = 1, 2, 3, 4 broadcasts j2, j4, j5, j7; every PE pops j2 in cycle 2.
    assert [cells[t][1] for t in range(1, 5)] == ["j2 a=0.5", "j4 a=1", "j5 a=0.25", "j7 a=2"]
    assert cells[2][2:] == ["q1 ptr j2"] * 4
    # PE0 (Fig 3): W0,2 W12,2 issued in cycles 3, 4 while it pops j4 in cycle 4 (s_0(2) = 4).
    assert cells[3][2] == "q2 j2:r0" and cells[4][2] == "q2 j2:r3 ptr j4"
    # PE1 has no entry in j5: it pops j5 in cycle 4 and j7 in 5; its last entry in cycle 6.
    assert cells[4][3] == "q1 j4:r0 ptr j5" and cells[5][3] == "q0 ptr j7" and cells[6][3] == "q0 j7:r2"
    assert cells[10][2] == "q0 j7:r3" and cells[11][2:] == ["q0 -"] * 4


def test_line_trace_shows_starvation_fillers_and_blocks(engine):
    # Worked example (N = 2, D = 1): PE1 waits in cycle 4 before popping column 2 in 5.
    config = ArchConfig(n_pe=2, queue_depth=1)
    layer = make_layer([(0, 0), (1, 0), (2, 0), (3, 1), (0, 2)], (4, 3), config)
    lines = list(line_trace(traced(layer, np.ones(3), config, engine), layer, config))
    assert lines[2 + 4].split(" | ")[3].strip() == "q1 j1:r1 wait"  # last entry issued, then idle
    # A filler (gap of 16 rows) and two row blocks with write-back.
    config = ArchConfig(n_pe=1, accumulators_per_pe=20)
    layer = make_layer([(17, 0), (20, 0)], (40, 1), config)
    lines = list(line_trace(traced(layer, np.ones(1), config, engine), layer, config))
    # Block 0: n = 2 (filler, row 17): s = 2, issues in 3 and 4, T = 2 + 2 + PIPELINE_DRAIN (6) = 10.
    assert lines[0] == "row block 0: T_block = 10 cycles + 20 write-back cycles"
    assert [line.split(" | ")[2].strip() for line in lines[2 + 3 : 2 + 5]] == ["q0 j0:fill", "q0 j0:r17"]
    assert lines[2 + 10] == "row block 1: T_block = 9 cycles + 20 write-back cycles"


def test_perfetto_trace(engine):
    # Worked example: tracks CCU + 2 PEs; 3 column slices per PE; PE1 starved 1 cycle at 4.
    config = ArchConfig(n_pe=2, queue_depth=1)
    layer = make_layer([(0, 0), (1, 0), (2, 0), (3, 1), (0, 2)], (4, 3), config)
    doc = json.loads(json.dumps(perfetto_trace(traced(layer, np.ones(3), config, engine), config, "ex")))
    events = doc["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert names == {0: "CCU / LNZD", 1: "PE 0", 2: "PE 1"}
    slices = [e for e in events if e["ph"] == "X"]
    columns = [(e["tid"], e["args"]["cycle"], e["args"]["entries"]) for e in slices if e["name"].startswith("column")]
    assert sorted(columns) == [(1, 2, 2), (1, 4, 0), (1, 5, 1), (2, 2, 1), (2, 3, 1), (2, 5, 0)]
    starved = [(e["tid"], e["args"]["cycle"], e["dur"]) for e in slices if e["name"] == "starved"]
    assert starved == [(2, 4, 1)]  # one trace microsecond per cycle
    broadcasts = [e["args"]["cycle"] for e in slices if e["name"].startswith("broadcast")]
    assert broadcasts == [1, 2, 4]
    block = next(e for e in slices if e["name"] == "row block 0")
    assert block["ts"] == 0 and block["dur"] == 12
    assert doc["otherData"]["clock_mhz"] == 800.0


def perfetto_import(events, scale=1.0):
    """Emulate Perfetto's JSON importer: microsecond ts and dur (times ``scale``) rounded
    to whole nanoseconds each; on one track a slice that starts inside another must end
    inside it, else the importer drops it. Returns (kept (tid, start, end) ns, dropped)."""

    def ns(us: float) -> int:
        return math.floor(us * scale * 1000 + 0.5)

    kept, dropped = [], 0
    by_track: dict[int, list] = {}
    for e in events:
        if e["ph"] == "X":
            start = ns(e["ts"])
            by_track.setdefault(e["tid"], []).append((start, start + ns(e["dur"])))
    for tid, slices in by_track.items():
        open_ends: list[int] = []
        for start, end in sorted(slices, key=lambda s: (s[0], -s[1])):
            while open_ends and open_ends[-1] <= start:
                open_ends.pop()
            if open_ends and end > open_ends[-1]:
                dropped += 1  # partial overlap with an enclosing slice
                continue
            open_ends.append(end)
            kept.append((tid, start, end))
    return kept, dropped


def test_perfetto_timestamps_survive_nanosecond_rounding(engine):
    # A congested layer (N = 4, D = 1, uneven columns): many back-to-back slices per PE.
    # With one trace microsecond per cycle every timestamp is an integer and nothing is
    # dropped; the same slices at 1.25 ns per cycle (ts = cycle / 800 us) lose some.
    config = ArchConfig(n_pe=4, queue_depth=1)
    rng = np.random.default_rng(7)
    rows, cols = np.nonzero(rng.random((64, 40)) < rng.random(40))
    layer = make_layer(list(zip(rows, cols)), (64, 40), config)
    events = perfetto_trace(traced(layer, np.ones(40), config, engine), config)["traceEvents"]
    slices = [e for e in events if e["ph"] == "X"]
    assert all(isinstance(e["ts"], int) and isinstance(e["dur"], int) for e in slices)
    kept, dropped = perfetto_import(events)
    assert dropped == 0 and len(kept) == len(slices)
    assert sorted(end - start for _, start, end in kept) == sorted(1000 * e["dur"] for e in slices)
    _, dropped_fractional = perfetto_import(events, scale=1 / config.clock_mhz)
    assert dropped_fractional > 0


def _marked(lines, n_pe, word) -> set[tuple[int, int, int]]:
    """(row block, cycle, PE) of every cell of a line trace that holds ``word``."""
    marks, block = set(), -1
    for line in lines:
        if line.startswith("row block"):
            block += 1
            continue
        cells = [c.strip() for c in line.split(" | ")]
        if cells[0].isdigit():
            marks |= {(block, int(cells[0]), p) for p, c in enumerate(cells[-n_pe:]) if word in c.split()}
    return marks


@pytest.mark.parametrize("seed", range(8))
def test_dram_waits_and_starvation_as_the_reference_blocks_see_them(engine, seed):
    """Under streamed weights a PE whose next column is queued but whose entries are not yet
    in from DRAM waits on DRAM: the schedule's line trace says ``dram`` (a Perfetto "DRAM
    wait" slice) in exactly the cycles the reference engine's pointer-read unit reports its
    data late, and ``wait`` where that unit reports the PE starved. Checked against the
    blocks' own per-cycle trace, which the schedule rendering shares no code with."""
    rng = np.random.default_rng(seed)
    m, k = (int(v) for v in rng.integers(4, 40, size=2))
    weights = rng.normal(size=(m, k)) * (rng.random((m, k)) < rng.uniform(0.1, 0.9))
    acts = np.abs(rng.normal(size=k)) * (rng.random(k) < 0.7)
    config = ArchConfig(n_pe=int(rng.choice([1, 2, 4])), queue_depth=int(rng.choice([1, 2, 4])),
                        accumulators_per_pe=int(rng.choice([4, 64])), weights="streamed",
                        dram_bytes_per_cycle=int(rng.choice([1, 2, 4])), dram_latency_cycles=int(rng.integers(0, 10)),
                        stream_buffer_columns=int(rng.choice([2, 3, 16])))
    layer = compress_layer(weights, config)
    recorded = traced(layer, acts, config, engine)
    lines = list(line_trace(recorded, layer, config))
    blocks = trace_lines(layer, prepare_activations(layer, acts, config), config)
    dram = _marked(lines, config.n_pe, "dram")
    assert dram == _marked(blocks, config.n_pe, "dram")
    assert _marked(lines, config.n_pe, "wait") == _marked(blocks, config.n_pe, "wait")
    # The same cycles as Perfetto slices (row block 0: its cycles are the trace's microseconds).
    slices = [e for e in perfetto_trace(recorded, config)["traceEvents"] if e.get("name") == "DRAM wait"]
    first_block = {(c, p) for b, c, p in dram if b == 0}
    assert {(e["ts"] + i, e["tid"] - 1) for e in slices for i in range(e["dur"]) if e["ts"] < recorded.blocks[0].end} \
        == first_block


def test_on_chip_weights_never_wait_on_dram(engine):
    config = ArchConfig(n_pe=2, queue_depth=1)
    layer = make_layer([(0, 0), (1, 0), (2, 0), (3, 1), (0, 2)], (4, 3), config)
    lines = list(line_trace(traced(layer, np.ones(3), config, engine), layer, config))
    assert _marked(lines, 2, "dram") == set() and _marked(lines, 2, "wait") == {(0, 4, 1)}
