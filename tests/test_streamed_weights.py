"""Streamed weights (SPEC §5.2): each broadcast column's entries and pointers come from DRAM
into the PEs' stream buffers. The worked example by hand on both engines and the oracle,
the unbounded-DRAM equality with on-chip weights, the bandwidth bound, fit, energy, sweeps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compressor.csc import interleave
from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.counters import Counters
from eiesim.energy.events import event_counts, event_energies
from eiesim.energy.tables import load_table
from eiesim.engines import ScheduleRecorder
from eiesim.simulation import simulate
from test_engines import CODEBOOK, check, timing_choices
from test_fast_engine import encode
from tests.test_declarations import golden  # noqa: F401 (a fixture: the golden layer's W.npy and a.npy)
from tests.timing_oracle import oracle

ENGINES = ["reference", "fast"]

# SPEC §5.2's worked example: §5's layer (N = 2, D = 1, PE0 has 2, 0, 1 entries in columns
# 0, 1, 2, PE1 1, 1, 0), 8-bit entries, 16-bit pointers, 8-byte bursts, B = 4 bytes per
# cycle, latency 2, Q = 2 buffer slots.
EXAMPLE = dict(n_pe=2, queue_depth=1, weights="streamed", dram_bytes_per_cycle=4, dram_latency_cycles=2,
               dram_burst_bytes=8, stream_buffer_columns=2)
EXAMPLE_NONZEROS = [(0, 0), (1, 0), (2, 0), (3, 1), (0, 2)]


@pytest.mark.parametrize("engine", ENGINES)
def test_worked_example_cycle_by_cycle(engine):
    config = ArchConfig.make(**EXAMPLE)
    layer = encode(EXAMPLE_NONZEROS, (4, 3), config)
    # F = ceil((entries x 8 + 2 x 2 x 16) / 64) x 8: column 0: 88 bits -> 16 B, columns 1, 2: 72 bits -> 16 B;
    # d = 16 / 4 = 4 each. f_1 = 0, a_1 = 0 + 2 + 4 = 6; f_2 = f_1 + d_1 = 4, a_2 = 10.
    # b_1 = L = 1; s(1) = max(b_1 + 1, a_1) = 6 for both PEs.
    # b_2 = max(b_1 + 1, max s(1)) = 6; s_0(2) = max(7, 6 + 2, 10) = 10, s_1(2) = max(7, 6 + 1, 10) = 10.
    # f_3 = max(f_2 + d_2 = 8, max_p s_p(3 - 2 + 1) = 10) = 10, a_3 = 16.
    # b_3 = max(b_2 + 1, max s(2)) = 10; s(3) = max(11, 10 + 1, 16) = 16 for both.
    # T = max(16 + 1, 16 + 1) + 6 = 23.
    recorder = ScheduleRecorder()
    result = simulate(layer, np.ones(3), config, engine=engine, observer=recorder)
    block = recorder.blocks[0]
    assert block.broadcast.tolist() == [1, 6, 10]
    assert block.pop.tolist() == [[6, 10, 16], [6, 10, 16]]
    assert block.issue[0].tolist() == [7, 8, 17] and block.issue[1].tolist() == [7, 11]
    assert result.cycles == 23
    c = result.counters
    assert c.dram_bytes == 48
    # Waiting for data with the column queued and the PE free: column 1: 6 - 2 = 4 each;
    # column 2: PE0 10 - 8 = 2, PE1 10 - 7 = 3; column 3: 16 - 11 = 5 each.
    assert c.dram_stall_cycles == 4 + 4 + 2 + 3 + 5 + 5
    # Starved (k >= 2 only): PE0 (10 - 6 - 2) + (16 - 10 - 1) = 7, PE1 (10 - 6 - 1) + 5 = 8.
    assert (c.starved_pe_cycles, c.queue_full_stall_cycles, c.busy_pe_cycles) == (15, 4 + 3, 7)
    assert oracle(layer, np.ones(3), config).blocks[0].arrival == [6, 10, 16]
    check(layer, np.ones(3), config, engine, cycles=23)


def test_reference_line_trace_shows_fetches_and_waits_for_data():
    from eiesim.engines.reference import trace_lines
    from eiesim.simulation import prepare_activations

    config = ArchConfig.make(**EXAMPLE)
    layer = encode(EXAMPLE_NONZEROS, (4, 3), config)
    lines = trace_lines(layer, prepare_activations(layer, np.ones(3), config), config)
    row = {int(line.split("|")[0]): [cell.strip() for cell in line.split("|")[1:]]
           for line in lines if line.split("|")[0].strip().isdigit()}
    # The worked example: fetches start in 0, 4 and 10; both PEs wait for data in 2-5 and 11-15.
    assert [c for c in range(23) if "fetch" in row[c][0]] == [0, 4, 10]
    assert "fetch #3" in row[10][0] and "bcast j2" in row[10][0]
    # SPEC §5.2's example: a free PE with a queued column waits for its data (4 + 2 + 5 cycles at
    # PE0, 4 + 3 + 5 at PE1: the pointer read of the next column may share the last issue's cycle).
    waits = [[c for c in range(23) if row[c][1 + p].startswith("q1 dram")] for p in range(2)]
    assert waits == [[2, 3, 4, 5, 8, 9, 11, 12, 13, 14, 15], [2, 3, 4, 5, 7, 8, 9, 11, 12, 13, 14, 15]]


@pytest.mark.parametrize("engine", ENGINES)
def test_on_chip_weights_fetch_nothing(engine):
    config = ArchConfig.make(**{**EXAMPLE, "weights": "on-chip"})
    layer = encode(EXAMPLE_NONZEROS, (4, 3), config)
    result = check(layer, np.ones(3), config, engine, cycles=12)  # SPEC §5's worked example
    assert (result.counters.dram_bytes, result.counters.dram_stall_cycles) == (0, 0)
    assert result.fit.weights == "on-chip"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_zero_activation_is_never_fetched(engine):
    config = ArchConfig.make(**EXAMPLE)
    layer = encode(EXAMPLE_NONZEROS, (4, 3), config)
    # Column 0 alone is broadcast: one fetch of 16 bytes, a_1 = 6, s = 6, T = 6 + 2 + 6.
    result = check(layer, np.array([1.0, 0.0, 0.0]), config, engine, cycles=14)
    assert result.counters.dram_bytes == 16


@st.composite
def stream_cases(draw, unbounded: bool):
    """A small layer of uneven columns with blocks and fillers, activations, and a config
    under either profile; streamed settings drawn (unbounded: B = 2^30, no latency, Q > U)."""
    timing = timing_choices(draw)
    ring = ArchConfig(**timing).rules.queue_slots == "ring"
    depth = draw(st.integers(1 + ring, 4))
    usable = ArchConfig(**timing, queue_depth=depth).rules.usable_slots(depth)
    config = ArchConfig(
        **timing, n_pe=draw(st.integers(1, 5)), queue_depth=depth, accumulators_per_pe=draw(st.integers(1, 8)),
        index_bits=draw(st.sampled_from([1, 2, 4])), weights="streamed",
        dram_bytes_per_cycle=2**30 if unbounded else draw(st.sampled_from([1, 2, 4, 16, 64])),
        dram_latency_cycles=0 if unbounded else draw(st.sampled_from([0, 1, 3, 20])),
        dram_burst_bytes=draw(st.sampled_from([1, 4, 8, 64])),
        stream_buffer_columns=draw(st.integers(usable + 1, usable + 4)) if unbounded else draw(st.integers(2, 6)),
    )
    m, k = draw(st.integers(1, 30)), draw(st.integers(1, 10))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = rng.uniform(0, 1, k)  # per column: empty, sparse and dense columns
    codes = np.where(rng.random((m, k)) < density, rng.integers(1, 16, (m, k)), 0)
    rows, cols = np.nonzero(codes)
    layer = interleave(rows, cols, codes[rows, cols], (m, k), CODEBOOK, config)
    acts = np.where(rng.random(k) < 0.7, rng.choice([0.5, 1.0, -1.25, 3.0], k), 0.0)
    return layer, acts, config


@given(stream_cases(unbounded=True))
@settings(max_examples=120, deadline=None)
def test_unbounded_dram_streamed_cycles_equal_on_chip_cycles(case):
    """B unbounded (d = 1), no latency and Q > U slots: every column's data is in before its
    broadcast is popped, so the schedule is the on-chip one exactly, on both engines."""
    layer, acts, config = case
    on_chip = config.replace(weights="on-chip")
    for engine in ENGINES:
        streamed, reference = (simulate(layer, acts, c, engine=engine) for c in (config, on_chip))
        assert (streamed.cycles, streamed.block_cycles) == (reference.cycles, reference.block_cycles), engine
        want = reference.counters.to_dict() | {"dram_bytes": streamed.counters.dram_bytes}
        assert streamed.counters.to_dict() == want, engine
        assert streamed.counters.dram_stall_cycles == 0
        assert streamed.per_pe.starved.tolist() == reference.per_pe.starved.tolist()
        assert (streamed.counters.dram_bytes > 0) == (streamed.counters.broadcasts > 0)


@given(stream_cases(unbounded=False))
@settings(max_examples=120, deadline=None)
def test_streamed_runs_match_the_oracle_and_the_bandwidth_bound(case):
    layer, acts, config = case
    for engine in ENGINES:
        result = check(layer, acts, config, engine)
        # Every block's fetches share one channel of B bytes per cycle, one after another,
        # and the block ends after its last arrival.
        blocks = oracle(layer, acts, config).blocks
        assert sum(sum(block.fetched) for block in blocks) == result.counters.dram_bytes
        for block, cycles in zip(blocks, result.block_cycles):
            transfers = sum(math.ceil(x / config.dram_bytes_per_cycle) for x in block.fetched)
            assert cycles >= transfers + config.dram_latency_cycles * bool(block.fetched)
        assert result.cycles >= result.counters.dram_bytes / config.dram_bytes_per_cycle


def test_streamed_layer_that_does_not_fit_on_chip_runs_and_says_so():
    # 1 KB of sparse-matrix SRAM per PE cannot hold 8 x 600 entries per PE.
    config = ArchConfig.make(n_pe=4, spmat_sram_kb=1.0, weights="streamed", strict_fit=True)
    rng = np.random.default_rng(5)
    codes = np.where(rng.random((32, 600)) < 0.9, rng.integers(1, 16, (32, 600)), 0)
    rows, cols = np.nonzero(codes)
    layer = interleave(rows, cols, codes[rows, cols], (32, 600), CODEBOOK, config)
    acts = np.ones(600)
    with pytest.raises(EieError, match="spmat SRAM"):
        simulate(layer, acts, config.replace(weights="on-chip"))
    result = simulate(layer, acts, config)
    assert not result.fit.fits and result.fit.weights == "streamed"
    assert result.to_dict()["fit"]["weights"] == "streamed"
    assert result.cycles >= result.counters.dram_bytes / config.dram_bytes_per_cycle


def test_dram_read_event_prices_a_byte_at_an_eighth_of_the_tables_64_bit_dram_access():
    config = ArchConfig.make(weights="streamed")
    assert event_counts(Counters(dram_bytes=17), config)["dram_read"] == 17
    assert event_counts(Counters(), config)["dram_read"] == 0
    table = load_table(None, "events")
    assert event_energies(table, config)["dram_read"].pj == pytest.approx(1300.0 / 8)  # Horowitz: 1300 pJ / 64 bits


def test_streamed_parameters_are_validated():
    with pytest.raises(EieError, match="stream_buffer_columns"):
        ArchConfig.make(stream_buffer_columns=1)  # the column in service holds a slot: 1 would deadlock
    with pytest.raises(EieError, match="dram_bytes_per_cycle"):
        ArchConfig.make(dram_bytes_per_cycle=0)
    with pytest.raises(EieError, match="weights"):
        ArchConfig.make(weights="sram")


def test_sweep_axes_over_the_streamed_parameters(run_cli, tmp_path):
    """The declarations give the sweep its axes: weights and DRAM bandwidth need no code of their own."""
    from eiesim.sweep import ResultStore
    from tests.sweep_helpers import TINY

    args = ("sweep", "--layers", TINY, "--grid", "weights=on-chip,streamed", "--grid", "dram_bytes_per_cycle=1,64",
            "--set", "dram_latency_cycles=10", "--engine", "fast", "--out", tmp_path / "s", "--cache-dir",
            tmp_path / "c", "--jobs", "1", "--no-progress")
    code, out, err = run_cli(*args)
    assert code == 0, err
    assert "4 points computed" in out
    rows = ResultStore(tmp_path / "s").read().sort_values(["weights", "dram_bytes_per_cycle"])
    assert rows["weights"].tolist() == ["on-chip", "on-chip", "streamed", "streamed"]
    on_chip, narrow, wide = rows.iloc[0], rows.iloc[2], rows.iloc[3]
    assert rows.iloc[1]["cycles"] == on_chip["cycles"] and on_chip["dram_bytes"] == 0  # bandwidth unused on chip
    # The same layer and activations fetch the same bytes at either bandwidth; 1 byte per cycle is DRAM-bound.
    assert narrow["dram_bytes"] == wide["dram_bytes"] > 0
    assert narrow["cycles"] >= narrow["dram_bytes"] > wide["cycles"] >= on_chip["cycles"]
    assert narrow["dram_stall_cycles"] > 0


@pytest.mark.parametrize("engine", ENGINES)
def test_simulate_cli_streams_and_says_so(run_cli, golden, engine):
    import json

    out = golden / "out.json"
    code, stdout, stderr = run_cli("simulate", "--weights", golden / "W.npy", "--acts", golden / "a.npy",
                                   "--pes", 4, "--set", "weights=streamed", "--set", "dram_bytes_per_cycle=2",
                                   "--engine", engine, "--json", out)
    assert code == 0, stderr
    doc = json.loads(out.read_text())
    assert doc["settings"] == {"n_pe": 4, "weights": "streamed", "dram_bytes_per_cycle": 2}
    assert doc["fit"]["weights"] == "streamed" and doc["counters"]["dram_bytes"] > 0
    assert doc["cycles"] >= doc["counters"]["dram_bytes"] / 2
    energy = doc["energy_pj"]  # the DRAM fetch unit sits outside the PEs: 1300 pJ / 8 per byte, in no PE's share
    assert energy["outside_pes"]["dram"] == pytest.approx(162.5 * doc["counters"]["dram_bytes"])
    assert energy["per_module"]["dram"] == energy["outside_pes"]["dram"] > 0
    assert sum(energy["per_pe"]) + sum(energy["outside_pes"].values()) == pytest.approx(energy["total"])
    assert f"streamed from DRAM: {doc['counters']['dram_bytes']} bytes" in stdout
