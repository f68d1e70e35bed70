"""Engine tests (SPEC §5, §5.1, §6), written once and run against every engine (``engine``
fixture) and, where the rules differ, both timing profiles.

Hand-derived cases state their derivation from the timing contract in comments; every
case and the Hypothesis tests compare each engine's result and schedule (b_k, s_p(k),
issue cycles) with ``tests.timing_oracle``, a literal evaluation of the recurrences and
counter definitions written independently of both engines.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compressor.csc import compress_layer, interleave
from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.engines import ScheduleRecorder
from eiesim.functional import functional_output
from eiesim.paper.heterogeneity import fc8_available, load_fc8
from eiesim.simulation import simulate
from eiesim.timing import PIPELINE_DRAIN, RULES
from tests.strategies import activations, codes_for, masks
from tests.test_csc_golden import golden_matrix
from tests.timing_oracle import functional_acts, oracle

# Codebook of exactly representable values: code v -> (v - 8) / 4, code 0 -> 0.
CODEBOOK = np.array([0.0] + [(v - 8) / 4 for v in range(1, 16)])


def make_layer(nonzeros, shape, config, *, codes=None, **kwargs):
    """A layer with non-zeros at (row, col) pairs; code 9 (weight 0.25) unless given."""
    rows, cols = (np.array(x, np.int64) for x in zip(*nonzeros)) if nonzeros else ([], [])
    codes = np.full(len(rows), 9) if codes is None else np.asarray(codes)
    return interleave(np.asarray(rows), np.asarray(cols), codes, shape, CODEBOOK, config, **kwargs)


def check(layer, acts, config, engine, cycles=None, **counters):
    """Run ``engine``; compare its result and schedule with the oracle, the functional model
    and expected values."""
    recorder = ScheduleRecorder()
    result = simulate(layer, acts, config, engine=engine, observer=recorder)
    want = oracle(layer, acts, config)
    want.assert_matches(result)
    assert_same_schedule(recorder.blocks, want.blocks)
    converted = functional_acts(layer, acts, config)
    np.testing.assert_array_equal(result.output, functional_output(layer, converted, config))
    if cycles is not None:
        assert result.cycles == cycles
    for name, value in counters.items():
        assert getattr(result.counters, name) == value, name
    return result


def assert_same_schedule(blocks, want) -> None:
    """Broadcast columns, b_k, s_p(k), issue cycles and block ends, block by block."""
    assert len(blocks) == len(want)
    for got, expected in zip(blocks, want):
        assert got.columns.tolist() == expected.columns
        assert got.broadcast.tolist() == expected.broadcast
        assert got.pop.tolist() == expected.pop
        assert [i.tolist() for i in got.issue] == expected.issue
        assert (got.end, got.write_back) == (expected.end, expected.write_back)


# ----------------------------------------------------------------------------------------
# The worked example of SPEC §5


def test_spec_worked_example(engine):
    # N = 2, D = 1, M = 4, K = 3, all a_j != 0; PE0 (rows 0, 2) has n = 2, 0, 1,
    # PE1 (rows 1, 3) has n = 1, 1, 0. L = 1. b = 1, 2, 4; s_0 = 2, 4, 5; s_1 = 2, 3, 5.
    # T = max(5 + 1, 5 + 1) + 6 = 12.
    config = ArchConfig(n_pe=2, queue_depth=1)
    layer = make_layer([(0, 0), (1, 0), (2, 0), (3, 1), (0, 2)], (4, 3), config)
    result = check(
        layer, np.ones(3), config, engine, cycles=12, broadcasts=3, real_entries=5,
        filler_entries=0, empty_columns=2, busy_pe_cycles=7, starved_pe_cycles=1,
        queue_full_stall_cycles=1, spmat_row_reads=2, pointer_reads=12, macs=5,
        accumulator_writes=5, codebook_reads=5, bypass_hits=0, act_sram_writes=0,
    )
    assert result.per_pe.busy.tolist() == [4, 3]
    assert result.per_pe.starved.tolist() == [0, 1]  # PE1 waits in cycle 4 for column 3
    assert result.block_cycles == [12]


# ----------------------------------------------------------------------------------------
# The golden example of EIE Figs 2-3: 16 x 8 over 4 PEs, a = (0, 0, a2, 0, a4, a5, 0, a7)


def test_golden_example_fig2_fig3(engine):
    config = ArchConfig(n_pe=4)  # D = 8, R = 64: one row block; L = 1 (4^1 >= 4)
    layer = compress_layer(golden_matrix(), config)
    acts = np.array([0, 0, 0.5, 0, 1.0, 0.25, 0, 2.0])
    # Broadcast columns J = 2, 4, 5, 7 (K' = 4). Entries per PE in those columns, read off
    # the matrix (PE p owns rows p, p + 4, p + 8, p + 12):
    #   PE0: 2 2 2 2 (Fig 3: W0,2 W12,2 | W0,4 W4,4 | W0,5 W12,5 | W8,7 W12,7)
    #   PE1: 1 1 0 1     PE2: 1 2 2 2     PE3: 1 0 1 2
    assert layer.column_counts()[0][:, [2, 4, 5, 7]].tolist() == [
        [2, 2, 2, 2], [1, 1, 0, 1], [1, 2, 2, 2], [1, 0, 1, 2]]
    # D = 8 > K', so no broadcast waits: b = 1, 2, 3, 4; s_p(1) = 2 for every p.
    #   PE0: c = 2 2 2 2 -> s = 2, 4, 6, 8; done 10
    #   PE1: c = 1 1 1 1 -> s = 2, 3, 4, 5; done 6
    #   PE2: c = 1 2 2 2 -> s = 2, 3, 5, 7; done 9
    #   PE3: c = 1 1 1 2 -> s = 2, 3, 4, 5; done 7
    # T = 10 + 6 = 16. No PE ever waits: starved 0, stall 0.
    # busy = 8 + 4 + 7 + 5 = 24; real = 8 + 3 + 7 + 4 = 22; empty = PE1 j5, PE3 j4 = 2.
    # pointer reads = 2 x 4 PEs x 4 columns = 32.
    # SRAM rows hold 8 entries. Addresses issued (ptr of column j .. j+1):
    #   PE0 4-5, 6-7, 8-9, 11-12 -> rows 0, 1: 2 reads;   PE1 1, 3, 5 -> 1 read
    #   PE2 2, 4-5, 6-7, 8-9 -> rows 0, 1: 2 reads;       PE3 3, 4, 6-7 -> 1 read; total 6.
    # Bypass: consecutive real issues across columns always change local row
    # (PE0 r3 -> r0, r1 -> r0, r3 -> r2; PE2 r3 -> r0, r1 -> r0, r3 -> r0), so 0.
    result = check(
        layer, acts, config, engine, cycles=16, broadcasts=4, real_entries=22,
        filler_entries=0, empty_columns=2, busy_pe_cycles=24, starved_pe_cycles=0,
        queue_full_stall_cycles=0, pointer_reads=32, spmat_row_reads=6, macs=22,
        accumulator_writes=22, codebook_reads=22, bypass_hits=0, act_sram_writes=0,
    )
    assert result.per_pe.busy.tolist() == [8, 4, 7, 5]
    assert result.per_pe.real.tolist() == [8, 3, 7, 4]


# ----------------------------------------------------------------------------------------
# One hand-derived case per rule


def test_empty_columns_cost_one_cycle(engine):
    # N = 2, rows 0 (PE0) and 1 (PE1); PE0 n = 1, 0, 1; PE1 n = 0, 0, 1; every c = 1.
    # b = 1, 2, 3; s = 2, 3, 4 for both; T = 4 + 1 + 6 = 11. Empty: PE0 j1, PE1 j0, j1.
    config = ArchConfig(n_pe=2)
    layer = make_layer([(0, 0), (0, 2), (1, 2)], (2, 3), config)
    check(layer, np.ones(3), config, engine, cycles=11, empty_columns=3, busy_pe_cycles=6,
          real_entries=3, starved_pe_cycles=0, spmat_row_reads=2, bypass_hits=0)


def test_pes_without_rows_still_spend_a_cycle_per_column(engine):
    # N = 4, M = 2: PEs 2 and 3 own no row and still pay c = 1 for both columns.
    # PE0 n = 1, 1; PE1 n = 1, 0; b = 1, 2; s = 2, 3; T = 3 + 1 + 6 = 10.
    config = ArchConfig(n_pe=4)
    layer = make_layer([(0, 0), (0, 1), (1, 0)], (2, 2), config)
    result = check(layer, np.ones(2), config, engine, cycles=10, empty_columns=5,
                   busy_pe_cycles=8, real_entries=3)
    assert result.per_pe.busy.tolist() == [2, 2, 2, 2]


# PE0 (rows 0, 2, 4) has n = 3, 1, 1, 1 (column 0: rows 0, 2, 4; then row 0), PE1 (rows 1,
# 3, 5) has n = 1, 1, 1, 1 (row 1 everywhere). L = 1, b_1 = 1, s_p(1) = 2.
SLOW_PE0 = [(0, 0), (2, 0), (4, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3)]


def test_queue_full_depth_1(engine):
    # D = 1: b_2 = max(2, s(1) = 2) = 2; s_0(2) = max(3, 2 + 3) = 5, s_1(2) = 3.
    # b_3 = max(3, max s(2) = 5) = 5 (stall 1 + 1 = 2 cycles); s_0(3) = 6, s_1(3) = 6 (PE1
    # starved 6 - 3 - 1 = 2). b_4 = max(6, max s(3) = 6) = 6; s_0(4) = 7, s_1(4) = 7.
    # T = 7 + 1 + 6 = 14. Bypass (real entry right after a real one, same row):
    # PE0 issues r0 r1 r2 (3-5), r0 (6), r0 (7, hit), r0 (8, hit);
    # PE1 issues r0 (3), r0 (4, hit), r0 (7), r0 (8, hit): 4 hits.
    config = ArchConfig(n_pe=2, queue_depth=1)
    layer = make_layer(SLOW_PE0, (6, 4), config)
    check(layer, np.ones(4), config, engine, cycles=14, queue_full_stall_cycles=2,
          starved_pe_cycles=2, busy_pe_cycles=10, bypass_hits=4)


def test_queue_full_depth_2(engine):
    # D = 2: b_2 = 2 (k <= D); s_0(2) = 5, s_1(2) = 3. b_3 = max(3, max s(1) = 2) = 3;
    # s_0(3) = max(4, 6) = 6, s_1(3) = max(4, 4) = 4. b_4 = max(4, max s(2) = 5) = 5 (stall 1);
    # s_0(4) = max(6, 7) = 7, s_1(4) = max(6, 5) = 6 (PE1 starved 6 - 4 - 1 = 1).
    # T = max(8, 7) + 6 = 14. Bypass: PE0 r0 at 6, 7, 8 (2 hits); PE1 r0 at 3, 4, 5 (2 hits),
    # then at 7 (not right after 5): 4 hits.
    config = ArchConfig(n_pe=2, queue_depth=2)
    layer = make_layer(SLOW_PE0, (6, 4), config)
    check(layer, np.ones(4), config, engine, cycles=14, queue_full_stall_cycles=1,
          starved_pe_cycles=1, bypass_hits=4)


def test_fillers_and_sram_rows(engine):
    # N = 1, 16-bit SRAM rows: E = 2 entries per row. Column 0: rows 0 and 37 (gap 36 ->
    # two fillers, then z = 4): 4 entries at addresses 0-3. Column 1 (a_1 = 0, not
    # broadcast): row 5 at address 4. Column 2: row 20 (gap 20 -> one filler, z = 4):
    # addresses 5-6. b = 1, 2; s = 2, max(3, 2 + 4) = 6; T = 6 + 2 + 6 = 14.
    # Row reads: addresses 0-3 -> rows 0, 1 (2 reads); 5-6 -> rows 2, 3 (2 reads): 4.
    config = ArchConfig(n_pe=1, spmat_width_bits=16)
    layer = make_layer([(0, 0), (37, 0), (5, 1), (20, 2)], (40, 3), config)
    assert layer.rel.tolist() == [0, 15, 15, 4, 5, 15, 4]
    check(layer, np.array([1.0, 0.0, 1.0]), config, engine, cycles=14, real_entries=3,
          filler_entries=3, codebook_reads=6, macs=3, busy_pe_cycles=6, spmat_row_reads=4,
          pointer_reads=4)


def test_row_blocks_with_write_back(engine):
    # N = 2, R = 2: blocks of 4 rows; M = 6 -> block 0 (rows 0-3), block 1 (rows 4, 5).
    # Block 0: PE0 n = 1, 1 (rows 0, 2), PE1 n = 1, 0 (row 1): T = 3 + 1 + 6 = 10,
    #   write-back ceil(4 / 2) = 2 -> 12. Block 1: PE0 n = 1, 0 (row 4), PE1 n = 0, 1
    #   (row 5): T = 10, write-back ceil(2 / 2) = 1 -> 11. Total 23; 4 + 2 values written.
    config = ArchConfig(n_pe=2, accumulators_per_pe=2)
    layer = make_layer([(0, 0), (1, 0), (2, 1), (4, 0), (5, 1)], (6, 2), config)
    result = check(layer, np.ones(2), config, engine, cycles=23, act_sram_writes=6,
                   broadcasts=4, empty_columns=3, spmat_row_reads=4, pointer_reads=16)
    assert result.block_cycles == [12, 11]


def test_single_block_has_no_write_back(engine):
    config = ArchConfig(n_pe=2)  # R = 64: the same six rows fit one block
    layer = make_layer([(0, 0), (1, 0), (2, 1), (4, 0), (5, 1)], (6, 2), config)
    result = check(layer, np.ones(2), config, engine, act_sram_writes=0)
    assert result.block_cycles == [result.cycles]


@pytest.mark.parametrize("n_pe, latency", [(1, 1), (4, 1), (5, 2), (16, 2), (64, 3)])
def test_no_nonzero_activation(engine, n_pe, latency):
    # K' = 0: T = L + PIPELINE_DRAIN (6; L = smallest L >= 1 with 4^L >= N). 1e-4 rounds to 0 in Q8.
    config = ArchConfig(n_pe=n_pe)
    layer = make_layer([(0, 0), (1, 1)], (2, 2), config)
    result = check(layer, np.array([0.0, 1e-4]), config, engine, cycles=latency + PIPELINE_DRAIN,
                   broadcasts=0, busy_pe_cycles=0, real_entries=0, pointer_reads=0)
    assert not result.output.any()


def test_no_nonzero_activation_multi_block(engine):
    # Two blocks of 2 rows (N = 2, R = 1), K' = 0: each block L + 6 = 7, write-back 1.
    config = ArchConfig(n_pe=2, accumulators_per_pe=1)
    layer = make_layer([(0, 0), (3, 0)], (4, 1), config)
    result = check(layer, np.zeros(1), config, engine, cycles=16, act_sram_writes=4)
    assert result.block_cycles == [8, 8]


def test_single_pe_bypass(engine):
    # N = 1: L = 1. Row 0 in columns 0 and 1: s = 2, 3; issues in cycles 3 and 4 to the
    # same accumulator -> one bypass hit. T = 3 + 1 + 6 = 10.
    config = ArchConfig(n_pe=1)
    layer = make_layer([(0, 0), (0, 1)], (1, 2), config)
    check(layer, np.ones(2), config, engine, cycles=10, bypass_hits=1, spmat_row_reads=1)


def test_bias_column_is_broadcast_last(engine):
    # K = 3 = 2 inputs + bias (activation 1.0). a = (0.5, 0): columns 0 and 2 broadcast.
    # N = 1: n = 1 (row 0), 2 (rows 0, 1). s = 2, 3; T = 3 + 2 + 6 = 11; row 0 issued in
    # cycles 3 and 4 -> one bypass. Output: row 0 = 0.25 * 0.5 + 0.5, row 1 = 0.75.
    config = ArchConfig(n_pe=1)
    layer = make_layer([(0, 0), (0, 2), (1, 2)], (2, 3), config, codes=[9, 10, 11], has_bias=True)
    result = check(layer, np.array([0.5, 0.0]), config, engine, cycles=11, broadcasts=2,
                   bypass_hits=1)
    assert result.output.tolist() == [0.625, 0.75]


@pytest.mark.parametrize("activation, want", [("relu", [0.0, 0.25]), ("none", [-0.5, 0.25])])
def test_output_activation(engine, activation, want):
    config = ArchConfig(n_pe=2)
    layer = make_layer([(0, 0), (1, 0)], (2, 1), config, codes=[6, 9], activation=activation)
    result = check(layer, np.ones(1), config, engine)
    assert result.output.tolist() == want


def test_fixed_point_saturates(engine):
    # 1.75 * 100 twice overflows Q8.8 (max 32767 / 256); the accumulator saturates.
    config = ArchConfig(n_pe=1)
    layer = make_layer([(0, 0), (0, 1)], (1, 2), config, codes=[15, 15])
    result = check(layer, np.array([100.0, 100.0]), config, engine)
    assert result.output.tolist() == [32767 / 256]


def test_float32_precision(engine):
    # a_0 = 0.001 rounds to 0 in Q8 (not broadcast: K' = 2) but not in float32 (K' = 3).
    # float32 is the worked example: 12 cycles. Fixed: PE0 n = 0, 1; PE1 n = 1, 0;
    # b = 1, 2; s = 2, 3; T = 3 + 1 + 6 = 10.
    layer_config = ArchConfig(n_pe=2, queue_depth=1)
    layer = make_layer([(0, 0), (1, 0), (2, 0), (3, 1), (0, 2)], (4, 3), layer_config,
                       codes=[3, 5, 7, 11, 13], activation="none")
    acts = np.array([0.001, -1.3, 2.7])
    result = check(layer, acts, layer_config.replace(precision="float32"), engine, cycles=12, broadcasts=3)
    fixed = check(layer, acts, layer_config, engine, cycles=10, broadcasts=2)
    f32 = np.float32
    assert result.output[1] == f32(-0.75) * f32(0.001)  # row 1: weight code 5 = -0.75
    assert fixed.output[1] == 0.0


# ----------------------------------------------------------------------------------------
# Timing profiles (SPEC §5.1): the worked examples and one hand-derived case per rule

EIE_CPP_CODES = np.array([
    [1, 0, 0, 2, 0, 0, 3, 0], [0, 4, 0, 5, 0, 0, 0, 0], [6, 0, 0, 7, 0, 0, 0, 0], [0, 0, 0, 8, 0, 9, 0, 0],
    [10, 0, 0, 11, 0, 0, 0, 12], [0, 13, 0, 14, 0, 0, 0, 0], [15, 0, 0, 1, 0, 2, 0, 0], [0, 0, 0, 3, 0, 0, 0, 4],
])
EIE_CPP_ACTS = np.array([1.0, 0.5, 0.0, 2.0, 0.75, 0.0, 1.5, 0.25])


def eie_cpp_example(config, has_bias=False):
    rows, cols = np.nonzero(EIE_CPP_CODES)
    shape = (8, 9) if has_bias else (8, 8)  # the bias column, when present, is empty
    return interleave(rows, cols, EIE_CPP_CODES[rows, cols], shape, CODEBOOK, config, has_bias=has_bias)


@pytest.mark.parametrize("depth, cycles, stalls, starved", [(2, 19, 6, 17), (3, 16, 2, 1), (8, 16, 0, 0)])
def test_eie_cpp_worked_example(engine, depth, cycles, stalls, starved):
    # N = 4; broadcast j = 0, 1, 3, 4, 6, 7 (a > 0) and the empty bias column (index 8).
    # Pack scan: pack 0 = (1, .5, 0, 2) -> gaps 1, 0, 0 (slot 3 non-zero: pending stays 0);
    # pack 1 = (.75, 0, 1.5, .25) -> 0, 0, 0; bias 0. lnzd_scan_cycles = 1.
    # n_p(k) over (j0, j1, j3, j4, j6, j7, bias): PE0 2 0 2 0 1 1 0, PE1 0 2 2 0 0 0 0,
    # PE2 2 0 2 0 0 0 0, PE3 0 0 2 0 0 1 0 (PE p holds rows p and p + 4).
    # B = 8 (U = 7 >= K' = 7): b = 1..7; PE0 s = 2, 4, 5, 7, 8, 9, 10; its j7 entry issues
    #   in 10 -> 16 (the bias pop 10 + 2 = 12 ends earlier). Nobody waits.
    # B = 2 (U = 1, next-cycle refill): b_k = max(b_{k-1} + 1, max_p s_p(k-1) + 1):
    #   b = 1, 3, 5, 7, 9, 11, 13; every PE pops in s = 2, 4, 6, 8, 10, 12, 14; PE0's j7
    #   entry issues in 13 -> 19. Stalls 1 per broadcast after the first: 6. Starved
    #   (s_p(k) - s_p(k-1) - c_p(k-1)): PE0 0+1+0+1+1+1, PE1 1+0+0+1+1+1, PE2 0+1+0+1+1+1,
    #   PE3 1+1+0+1+1+1 = 17.
    # busy: PE0 2+1+2+1+1+1+1 = 9, PE1 9, PE2 9, PE3 8 = 35; empty 3 + 5 + 5 + 5 = 18.
    config = ArchConfig(n_pe=4, queue_depth=depth, timing="eie-cpp")
    check(eie_cpp_example(config), EIE_CPP_ACTS, config, engine, cycles=cycles, broadcasts=7,
          real_entries=17, busy_pe_cycles=35, empty_columns=18, lnzd_scan_cycles=1,
          queue_full_stall_cycles=stalls, starved_pe_cycles=starved, pointer_reads=2 * 4 * 7)


def test_eie_cpp_example_under_spec(engine):
    # SPEC §5 with D = 8 and the same (empty) bias column broadcast last with a = 1:
    # b = 1..7, PE0 s = 2, 4, 5, 7, 8, 9, 10 with c = 2, 1, 2, 1, 1, 1, 1: T = 11 + 6 = 17.
    config = ArchConfig(n_pe=4, queue_depth=8)
    check(eie_cpp_example(config, has_bias=True), EIE_CPP_ACTS, config, engine, cycles=17, lnzd_scan_cycles=0)


def test_eie_cpp_rejects_a_single_slot_ring():
    with pytest.raises(EieError, match="queue_depth=1"):
        ArchConfig.make(timing="eie-cpp", queue_depth=1)
    with pytest.raises(EieError, match="queue_depth=1"):
        ArchConfig.make(queue_slots="ring", queue_depth=1)
    assert ArchConfig.make(timing="eie-cpp", queue_slots="all", queue_depth=1).rules.usable_slots(1) == 1


def random_layer_5_1(n_pe, config):
    """The random layer of SPEC §5.1, draws in the stated order."""
    rng = np.random.default_rng(0)
    mask = rng.random((256, 512)) < 0.10
    codes = rng.integers(1, 16, (256, 512))
    book = np.concatenate(([0.0], rng.uniform(-1, 1, 15)))
    acts = np.where(rng.random(512) < 0.35, rng.uniform(0.25, 2.0, 512), 0.0)
    rows, cols = np.nonzero(mask)
    return interleave(rows, cols, codes[rows, cols], (256, 512), book, config), acts


@pytest.mark.parametrize("n_pe, depth, cycles", [
    (16, 2, 647), (16, 3, 497), (16, 8, 398), (16, 9, 392), (4, 2, 1615), (4, 3, 1560), (4, 8, 1522)])
def test_eie_cpp_random_layer(engine, n_pe, depth, cycles):
    # Cycle counts of the authors' simulator on this layer, quoted in SPEC §5.1.
    config = ArchConfig(n_pe=n_pe, queue_depth=depth, timing="eie-cpp")
    layer, acts = random_layer_5_1(n_pe, config)
    result = check(layer, acts, config, engine, cycles=cycles)
    assert (result.counters.filler_entries > 0) == (n_pe == 4)  # 64 local rows per PE at N = 4


def test_pack_scan_gaps(engine):
    # N = 2, K = 8, a = (0 0 | 1 0 | 0 0 | 0 1), weights at (0, 2) and (1, 7), empty bias.
    # eie-cpp scan: pack 0 empty, slot 1 zero -> pending 2; pack 1: j2 gap 2, slot 1 zero
    # -> pending 1; pack 2 empty -> 2; pack 3: j7 gap 2, slot 1 non-zero -> 0; bias gap 0.
    # b = 2, 2 + 1 + 2 = 5, 6; s = 3, 6, 7 on both PEs; PE1's j7 entry issues in 7 -> 13.
    # Starved: PE0 6 - 3 - 1 = 2, PE1 2. Under spec (tree, L = 1): b = 1, 2; s = 2, 3; T = 4 + 6.
    acts = np.array([0, 0, 1.0, 0, 0, 0, 0, 1.0])
    config = ArchConfig(n_pe=2, timing="eie-cpp")
    layer = make_layer([(0, 2), (1, 7)], (2, 8), config)
    check(layer, acts, config, engine, cycles=13, broadcasts=3, lnzd_scan_cycles=4, starved_pe_cycles=4,
          queue_full_stall_cycles=0, busy_pe_cycles=6)
    check(layer, acts, config.replace(timing="spec"), engine, cycles=10, broadcasts=2, lnzd_scan_cycles=0)
    # pack-scan alone under spec (input bias rule: no bias pack): b = 2, 5; s = 3, 6; T = 7 + 6.
    check(layer, acts, config.replace(timing="spec", lnzd="pack-scan"), engine, cycles=13, lnzd_scan_cycles=4)


def test_next_cycle_refill_and_ring_slots_under_spec(engine):
    # The §5 worked example (N = 2, D = 1) with queue_refill = next-cycle: b_2 = max(2,
    # s(1) + 1 = 3) = 3, s = (4, 4); b_3 = max(4, max s(2) + 1 = 5) = 5, s = (6, 6);
    # T = 6 + 1 + 6 = 13. Stalls 1 + 1; starved PE0 0 + 1, PE1 1 + 1 = 3.
    config = ArchConfig(n_pe=2, queue_depth=1, queue_refill="next-cycle")
    layer = make_layer([(0, 0), (1, 0), (2, 0), (3, 1), (0, 2)], (4, 3), config)
    check(layer, np.ones(3), config, engine, cycles=13, queue_full_stall_cycles=2, starved_pe_cycles=3)
    # Ring slots: queue_depth 2 leaves one usable slot, exactly the D = 1 schedule: 12.
    ring = ArchConfig(n_pe=2, queue_depth=2, queue_slots="ring")
    check(layer, np.ones(3), ring, engine, cycles=12, queue_full_stall_cycles=1, starved_pe_cycles=1)


def test_positive_broadcast_only(engine):
    # N = 1, weights 0.25 at (0, 0), (0, 1), (0, 2); a = (1, -2, 1). eie-cpp broadcasts j0,
    # j2 and the empty bias: packs of 1 slot: j0 gap 1; (-2) -> pending 1; j2 gap 1; bias 0.
    # b = 1, 3, 4; s = 2, 4, 5; j2's entry issues in 5 -> 11. The output ignores the -2:
    # 0.25 + 0.25 = 0.5. Under spec all three: 0.25 (1 - 2 + 1) = 0.
    config = ArchConfig(n_pe=1, timing="eie-cpp")
    layer = make_layer([(0, 0), (0, 1), (0, 2)], (1, 3), config)
    result = check(layer, np.array([1.0, -2.0, 1.0]), config, engine, cycles=11, broadcasts=3,
                   lnzd_scan_cycles=2, starved_pe_cycles=1, macs=2)
    assert result.output.tolist() == [0.5]
    spec = check(layer, np.array([1.0, -2.0, 1.0]), config.replace(timing="spec"), engine, macs=3)
    assert spec.output.tolist() == [0.0]


def test_bias_in_its_own_pack(engine):
    # N = 2, 3 inputs + bias (column 3). Packs (a0, a1), (a2, pad), then the bias pack:
    # gaps 1, 0, 0, then pending 1 (the padded slot) for the bias: b = 1, 2, 3, 5.
    # PE0 (row 0: j0, bias) n = 1, 0, 0, 1; PE1 (row 1: j1, j2) n = 0, 1, 1, 0.
    # s = 2, 3, 4, max(6, 5) = 6; PE0's bias entry issues in 7 -> 13.
    # Under spec the bias is input column 3: b = 1..4, s = 2..5, T = 5 + 1 + 6 = 12.
    config = ArchConfig(n_pe=2, timing="eie-cpp")
    layer = make_layer([(0, 0), (0, 3), (1, 1), (1, 2)], (2, 4), config, has_bias=True)
    check(layer, np.ones(3), config, engine, cycles=13, broadcasts=4, lnzd_scan_cycles=2, starved_pe_cycles=2)
    check(layer, np.ones(3), config.replace(timing="spec"), engine, cycles=12, lnzd_scan_cycles=0)


def test_one_pass_without_row_blocks(engine):
    # N = 1, R = 1, M = 3: spec runs 3 row blocks of one row; eie-cpp one pass.
    # Weights at (0, 0) and (2, 0). eie-cpp: local rows 0 and 2 (z = 0, 1): n = 2; b = 1
    # (gap 1), 2 (bias); s = 2, 4; issues 3, 4 -> 10; nothing written back.
    # spec: blocks of one row: n = 1, 0, 1; each T = 2 + 1 + 6 = 9 plus 1 write-back: 30.
    config = ArchConfig(n_pe=1, accumulators_per_pe=1, timing="eie-cpp")
    layer = make_layer([(0, 0), (2, 0)], (3, 1), config)
    result = check(layer, np.ones(1), config, engine, cycles=10, act_sram_writes=0, real_entries=2)
    assert result.block_cycles == [10]
    spec = check(layer, np.ones(1), config.replace(timing="spec"), engine, cycles=30, act_sram_writes=3)
    assert spec.block_cycles == [10, 10, 10]


def test_drained_end_counts_pops_of_empty_columns(engine):
    # N = 1, one weight at (0, 0), a = 0: eie-cpp broadcasts only the empty bias column,
    # after the scan (pack 0 zero -> pending 2): b = 2, s = 3, end = 3 + POP_TAIL (2) = 5.
    # spec: K' = 0, T = L + 6 = 7.
    config = ArchConfig(n_pe=1, timing="eie-cpp")
    layer = make_layer([(0, 0)], (1, 1), config)
    check(layer, np.zeros(1), config, engine, cycles=5, broadcasts=1, empty_columns=1, lnzd_scan_cycles=2)
    check(layer, np.zeros(1), config.replace(timing="spec"), engine, cycles=7, broadcasts=0)
    # drained alone under spec: the tree's b_1 = 1 would be the first broadcast: T = 1.
    check(layer, np.zeros(1), config.replace(timing="spec", block_end="drained"), engine, cycles=1)


@pytest.mark.skipif(not fc8_available(), reason="the authors' AlexNet fc8 data is absent (EIESIM_FC8_DIR)")
def test_alexnet_fc8_of_the_authors():
    # EIE Table IV's Alex-8: the authors' simulator reports 7926 cycles at 64 PEs, buffer
    # size 8, and 7896 at 9; SPEC §5 gives 7891 at D = 8 (SPEC §5.1, and
    # ../shared/data/eie_alexnet_fc8/README.md), with the same work done.
    data = load_fc8()
    codes = np.concatenate([data["codes"], data["bias"][:, None]], axis=1).astype(np.int64)
    rows, cols = np.nonzero(codes)
    acts = data["acts"].astype(np.float64)
    runs = {}
    for timing, depth in (("eie-cpp", 8), ("eie-cpp", 9), ("spec", 8)):
        config = ArchConfig(n_pe=64, queue_depth=depth, timing=timing)
        layer = interleave(rows, cols, codes[rows, cols], codes.shape, data["codebook"].astype(np.float64),
                           config, has_bias=True)
        runs[timing, depth] = simulate(layer, acts, config, engine="fast")
    assert [r.cycles for r in runs.values()] == [7926, 7896, 7891]
    # Every kept weight of a column with a > 0 (no activation is negative), and the bias.
    assert runs["spec", 8].counters.macs == np.count_nonzero(codes[:, np.append(acts > 0, True)])
    for name in ("macs", "spmat_row_reads", "pointer_reads"):
        assert getattr(runs["eie-cpp", 8].counters, name) == getattr(runs["spec", 8].counters, name), name
    assert runs["eie-cpp", 8].per_pe.busy.tolist() == runs["spec", 8].per_pe.busy.tolist()


# ----------------------------------------------------------------------------------------
# Properties


def timing_choices(draw) -> dict:
    """A profile, sometimes with single rules overridden (how a sweep mixes them)."""
    choice = {"timing": draw(st.sampled_from(["spec", "eie-cpp"]))}
    for name, values in RULE_OVERRIDES.items():
        if draw(st.integers(0, 3)) == 0:
            choice[name] = draw(st.sampled_from(values))
    return choice


RULE_OVERRIDES = {r.name: list(r.choices) for r in RULES if r.overridable}  # every rule a config may override


@st.composite
def cases(draw):
    """A small random layer, its activations and a config (fillers and blocks likely)."""
    n_pe = draw(st.integers(1, 6))
    timing = timing_choices(draw)
    ring = ArchConfig(**timing).rules.queue_slots == "ring"  # B ring slots: B >= 2
    config = ArchConfig(
        **timing,
        n_pe=n_pe,
        queue_depth=draw(st.integers(1 + ring, 4)),
        accumulators_per_pe=draw(st.integers(1, 8)),
        index_bits=draw(st.integers(1, 4)),
        spmat_width_bits=draw(st.sampled_from([8, 16, 24, 64])),
        precision=draw(st.sampled_from(["fixed", "float32"])),
    )
    mask = draw(masks(40, 10))
    rows, cols = np.nonzero(mask)
    has_bias = draw(st.booleans()) and mask.shape[1] > 1
    layer = interleave(
        rows, cols, draw(codes_for(rows.size)), mask.shape, CODEBOOK, config,
        has_bias=has_bias, activation=draw(st.sampled_from(["relu", "none"])),
    )
    return layer, draw(activations(layer.n_inputs)), config


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # engine is a name
@given(cases())
def test_matches_oracle_and_functional_model(engine, case):
    layer, acts, config = case
    check(layer, acts, config, engine)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # engine is a name
@given(cases())
def test_invariants(engine, case):
    layer, acts, config = case
    result = simulate(layer, acts, config, engine=engine)
    c = result.counters
    assert result.cycles >= result.metrics["theoretical_cycles_padded"]
    assert c.busy_pe_cycles == c.real_entries + c.filler_entries + c.empty_columns
    assert c.busy_pe_cycles == result.per_pe.busy.sum()
    assert c.pointer_reads == 2 * config.n_pe * c.broadcasts
    assert c.bypass_hits <= c.real_entries
    assert sum(result.block_cycles) == result.cycles


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # engine is a name
@given(cases())
def test_cycles_never_grow_with_queue_depth(engine, case):
    layer, acts, config = case
    depths = (1, 2, 3, 5, 8, 64) if config.rules.queue_slots == "all" else (2, 3, 5, 8, 64)
    cycles = [simulate(layer, acts, config.replace(queue_depth=d), engine=engine).cycles for d in depths]
    assert cycles == sorted(cycles, reverse=True)


# ----------------------------------------------------------------------------------------
# Bad input


@pytest.fixture
def no_engine(monkeypatch):
    """simulate() must reject bad input itself: an engine reached here fails the test."""

    def unreachable(name):
        raise AssertionError(f"engine {name} reached with input simulate() should have rejected")

    monkeypatch.setattr("eiesim.simulation.get_engine", unreachable)


def test_bad_activations_never_reach_an_engine(no_engine):
    config = ArchConfig(n_pe=2)
    layer = make_layer([(0, 0)], (2, 2), config)
    with pytest.raises(EieError, match="length 3"):
        simulate(layer, np.ones(3), config)
    with pytest.raises(EieError, match="NaN"):
        simulate(layer, np.array([1.0, np.nan]), config)
    with pytest.raises(EieError, match="vector"):
        simulate(layer, np.ones((2, 1)), config)
    with pytest.raises(EieError, match="real numbers"):
        simulate(layer, np.array(["a", "b"]), config)


def test_layer_encoded_for_another_array_never_reaches_an_engine(no_engine):
    layer = make_layer([(0, 0)], (2, 2), ArchConfig(n_pe=2))
    with pytest.raises(EieError, match="n_pe=2, config has 4"):
        simulate(layer, np.ones(2), ArchConfig(n_pe=4))
    with pytest.raises(EieError, match="accumulators_per_pe=64, config has 8"):
        simulate(layer, np.ones(2), ArchConfig(n_pe=2, accumulators_per_pe=8))
