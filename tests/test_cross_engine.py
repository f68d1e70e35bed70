"""Both engines and the oracle agree on random layers: schedules, cycles, counters, outputs.

``test_schedules_agree`` draws the weight matrix and the activations themselves (so a
failure shrinks to a small matrix) under both timing profiles, sometimes with single
rules overridden, and compares the *schedule* of every row block (broadcast columns,
b_k, s_p(k), issue cycles of every entry, block end) of each engine with
``tests.timing_oracle``, and the engines with each other. ``test_fast_equals_reference``
adds broad layers (up to 300 x 300, 256 PEs, 256 queue slots) and congested ones, under
either profile. Both draw streamed weights (SPEC §5.2) with random DRAM settings one time
in three.
"""

from __future__ import annotations

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from compressor.csc import interleave
from eiesim.config import ArchConfig
from eiesim.engines import ScheduleRecorder
from eiesim.simulation import simulate
from eiesim.timing import PROFILES
from test_engines import CODEBOOK, assert_same_schedule, timing_choices
from test_fast_engine import CONGESTED, layer_cases, record_events
from tests.timing_oracle import functional_acts, oracle
from eiesim.functional import functional_output

BROAD = dict(rows=(1, 30, 300), cols=(1, 30, 300), pes=(1, 9, 256), depth=(1, 5, 256), accumulators=(1, 8, 64),
             index_bits=(2, 2, 3, 4, 5, 6, 7, 8))
ACTIVATIONS = st.sampled_from([0.0, 0.5, 1.0, -1.25, 3.0, 1e-4, 7.9])


@st.composite
def drawn_cases(draw):
    """A layer drawn entry by entry (mostly zeros), its activations and a config."""
    timing = timing_choices(draw)
    ring = ArchConfig(**timing).rules.queue_slots == "ring"
    index_bits = draw(st.sampled_from([1, 1, 2, 3]))  # short indices: fillers
    config = ArchConfig(
        **timing, n_pe=draw(st.integers(1, 6)), queue_depth=draw(st.integers(1 + ring, 3 + ring)),
        accumulators_per_pe=draw(st.integers(1, 12)), index_bits=index_bits,
        spmat_width_bits=draw(st.sampled_from([8, 16, 24, 64])), **draw(streamed_settings()),
    )
    m, k = draw(st.integers(1, 40)), draw(st.integers(1, 12))
    # Every entry drawn (shrinks towards 0 = pruned), then each column keeps the entries
    # above its own threshold: full, dense, sparse or empty columns, so PEs get uneven
    # columns (queues fill, PEs starve) and long gaps (fillers).
    drawn = draw(hnp.arrays(np.int64, (m, k), elements=st.integers(0, 15), fill=st.nothing()))
    keep_above = draw(hnp.arrays(np.int64, (k,), elements=st.sampled_from([0, 5, 11, 14, 15]), fill=st.nothing()))
    codes = np.where(drawn > keep_above, drawn, 0)
    rows, cols = np.nonzero(codes)
    has_bias = draw(st.booleans()) and k > 1
    layer = interleave(rows, cols, codes[rows, cols], (m, k), CODEBOOK, config, has_bias=has_bias,
                       activation=draw(st.sampled_from(["relu", "none"])))
    acts = draw(hnp.arrays(np.float64, (layer.n_inputs,), elements=ACTIVATIONS))
    return layer, acts, config


@st.composite
def streamed_settings(draw) -> dict:
    """On-chip weights two times in three, else streamed weights (SPEC §5.2) with drawn DRAM settings."""
    if draw(st.integers(0, 2)):
        return {}
    return dict(weights="streamed", dram_bytes_per_cycle=draw(st.sampled_from([1, 3, 8, 64, 2**30])),
                dram_latency_cycles=draw(st.sampled_from([0, 1, 5, 40])),
                dram_burst_bytes=draw(st.sampled_from([1, 8, 64])), stream_buffer_columns=draw(st.integers(2, 5)))


def schedule_events(profile: str, result, blocks) -> None:
    """Hypothesis statistics, per profile: how often the rarer behaviours occurred."""
    c = result.counters
    for what, happened in (("fillers", c.filler_entries > 0), ("starvation", c.starved_pe_cycles > 0),
                           ("queue full", c.queue_full_stall_cycles > 0), ("bypass", c.bypass_hits > 0),
                           ("multi-block", len(blocks) > 1), ("lnzd scan gaps", c.lnzd_scan_cycles > 0),
                           ("DRAM stalls", c.dram_stall_cycles > 0)):
        event(f"{profile}: {what}: {happened}")


@given(drawn_cases())
@settings(max_examples=300)
def test_schedules_agree(case):
    layer, acts, config = case
    want = oracle(layer, acts, config)
    profile = config.timing + ("" if config.rules == PROFILES[config.timing] else " (mixed)")
    runs = {}
    for engine in ("fast", "reference"):
        recorder = ScheduleRecorder()
        result = simulate(layer, acts, config, engine=engine, observer=recorder)
        want.assert_matches(result, engine)
        assert_same_schedule(recorder.blocks, want.blocks)
        runs[engine] = result
    schedule_events(profile, runs["fast"], want.blocks)
    expected = functional_output(layer, functional_acts(layer, acts, config), config)
    for result in runs.values():
        assert np.array_equal(result.output, expected, equal_nan=True)


@given(st.one_of(layer_cases(**BROAD), layer_cases(**CONGESTED)), st.sampled_from(["spec", "eie-cpp"]),
       streamed_settings())
@settings(max_examples=150)
def test_fast_equals_reference(case, timing, streamed):
    layer, acts, config = case
    if timing == "eie-cpp":  # one pass (re-encoded by simulate), B >= 2 ring slots
        config = config.replace(timing=timing, queue_depth=max(2, config.queue_depth))
    config = config.replace(**streamed)
    event(f"timing {timing}, weights {config.weights}")
    fast = simulate(layer, acts, config, engine="fast")
    ref = simulate(layer, acts, config, engine="reference")
    record_events(fast, layer)
    assert (fast.cycles, fast.block_cycles) == (ref.cycles, ref.block_cycles)
    assert fast.counters == ref.counters
    for name in ("busy", "starved", "real"):
        assert getattr(fast.per_pe, name).tolist() == getattr(ref.per_pe, name).tolist(), name
    assert np.array_equal(fast.output, ref.output)
