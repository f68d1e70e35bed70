"""Engine tests (SPEC §5, §6), written once and run against every engine (``engine`` fixture).

Hand-derived cases state their derivation from the timing contract in comments; the
Hypothesis tests compare each engine with ``contract``, a literal evaluation of the §5
recurrences and counter definitions written independently of both engines.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compressor.csc import compress_layer, interleave
from eiesim.config import ArchConfig
from eiesim.errors import EieError
from eiesim.functional import functional_output
from eiesim.result import COUNTER_NAMES
from eiesim.simulation import prepare_activations, simulate
from tests.test_csc_golden import golden_matrix

# Codebook of exactly representable values: code v -> (v - 8) / 4, code 0 -> 0.
CODEBOOK = np.array([0.0] + [(v - 8) / 4 for v in range(1, 16)])


def make_layer(nonzeros, shape, config, *, codes=None, **kwargs):
    """A layer with non-zeros at (row, col) pairs; code 9 (weight 0.25) unless given."""
    rows, cols = (np.array(x, np.int64) for x in zip(*nonzeros)) if nonzeros else ([], [])
    codes = np.full(len(rows), 9) if codes is None else np.asarray(codes)
    return interleave(np.asarray(rows), np.asarray(cols), codes, shape, CODEBOOK, config, **kwargs)


def contract(layer, acts, config):
    """SPEC §5 evaluated literally: (cycles, block_cycles, counters, busy, starved, real)."""
    n, d, lat = config.n_pe, config.queue_depth, config.lnzd_latency
    m, k_total = layer.shape
    converted = prepare_activations(layer, acts, config)
    cols = np.flatnonzero(converted)
    kk = len(cols)
    counts = layer.column_counts()
    local_rows = layer.entry_local_rows()
    per_row = config.entries_per_row
    c = dict.fromkeys(COUNTER_NAMES, 0)
    busy, starved, real = np.zeros(n, int), np.zeros(n, int), np.zeros(n, int)
    block_cycles = []
    for t in range(layer.n_blocks):
        nk = [[int(counts[t, p, j]) for j in cols] for p in range(n)]
        ck = [[max(1, x) for x in row] for row in nk]
        b, s = [], [[0] * kk for _ in range(n)]
        for k in range(kk):  # 0-based k: "k > D" of the SPEC is k >= d here
            bk = lat if k == 0 else b[k - 1] + 1
            if k >= d:
                bk = max(bk, max(s[p][k - d] for p in range(n)))
            b.append(bk)
            for p in range(n):
                s[p][k] = bk + 1 if k == 0 else max(bk + 1, s[p][k - 1] + ck[p][k - 1])
        t_block = max(s[p][kk - 1] + ck[p][kk - 1] for p in range(n)) + 6 if kk else lat + 6
        rows_in_block = min(config.rows_per_block, m - t * config.rows_per_block)
        write_back = math.ceil(rows_in_block / n) if layer.n_blocks > 1 else 0
        block_cycles.append(t_block + write_back)
        c["broadcasts"] += kk
        c["queue_full_stall_cycles"] += sum(b[k] - b[k - 1] - 1 for k in range(1, kk))
        c["act_sram_writes"] += rows_in_block if layer.n_blocks > 1 else 0
        for p in range(n):
            base = int(layer.start[t * n + p])
            busy[p] += sum(ck[p])
            starved[p] += sum(s[p][k] - s[p][k - 1] - ck[p][k - 1] for k in range(1, kk))
            c["empty_columns"] += sum(x == 0 for x in nk[p])
            c["pointer_reads"] += 2 * kk
            prev_row, last_real = None, None  # SRAM row of the last issue; (cycle, row) of last real
            for k, j in enumerate(cols):
                for i in range(nk[p][k]):
                    addr = int(layer.ptr[t, p, j]) + i
                    if addr // per_row != prev_row:
                        c["spmat_row_reads"] += 1
                        prev_row = addr // per_row
                    cycle, code, row = s[p][k] + 1 + i, layer.code[base + addr], local_rows[base + addr]
                    if code:
                        real[p] += 1
                        c["bypass_hits"] += last_real == (cycle - 1, row)
                        last_real = (cycle, row)
                    else:
                        c["filler_entries"] += 1
    c["real_entries"] = c["macs"] = c["accumulator_writes"] = int(real.sum())
    c["codebook_reads"] = c["real_entries"] + c["filler_entries"]
    c["busy_pe_cycles"], c["starved_pe_cycles"] = int(busy.sum()), int(starved.sum())
    return sum(block_cycles), block_cycles, c, busy, starved, real


def check(layer, acts, config, engine, cycles=None, **counters):
    """Run ``engine``; compare with the contract, the functional model and expected values."""
    result = simulate(layer, acts, config, engine=engine)
    want_cycles, want_blocks, want, busy, starved, real = contract(layer, acts, config)
    assert result.cycles == want_cycles and result.block_cycles == want_blocks
    assert result.counters.to_dict() == want
    assert result.per_pe.busy.tolist() == busy.tolist()
    assert result.per_pe.starved.tolist() == starved.tolist()
    assert result.per_pe.real.tolist() == real.tolist()
    converted = prepare_activations(layer, acts, config)
    np.testing.assert_array_equal(result.output, functional_output(layer, converted, config))
    if cycles is not None:
        assert result.cycles == cycles
    for name, value in counters.items():
        assert getattr(result.counters, name) == value, name
    return result


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
    # K' = 0: T = L + 6 (L = smallest L >= 1 with 4^L >= N). 1e-4 rounds to 0 in Q8.
    config = ArchConfig(n_pe=n_pe)
    layer = make_layer([(0, 0), (1, 1)], (2, 2), config)
    result = check(layer, np.array([0.0, 1e-4]), config, engine, cycles=latency + 6,
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
# Properties


@st.composite
def cases(draw):
    """A small random layer, its activations and a config (fillers and blocks likely)."""
    n_pe = draw(st.integers(1, 6))
    config = ArchConfig(
        n_pe=n_pe,
        queue_depth=draw(st.integers(1, 4)),
        accumulators_per_pe=draw(st.integers(1, 8)),
        index_bits=draw(st.integers(1, 4)),
        spmat_width_bits=draw(st.sampled_from([8, 16, 24, 64])),
        precision=draw(st.sampled_from(["fixed", "float32"])),
    )
    m, k = draw(st.integers(1, 40)), draw(st.integers(1, 10))
    density = draw(st.sampled_from([0.0, 0.1, 0.3, 0.7, 1.0]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    mask = rng.random((m, k)) < density
    rows, cols = np.nonzero(mask)
    has_bias = draw(st.booleans()) and k > 1
    layer = interleave(
        rows, cols, rng.integers(1, 16, rows.size), (m, k), CODEBOOK, config,
        has_bias=has_bias, activation=draw(st.sampled_from(["relu", "none"])),
    )
    values = rng.choice([0.0, 0.0, 1e-4, 0.5, -1.25, 3.0, 7.9], size=layer.n_inputs)
    return layer, values, config


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # engine is a name
@given(cases())
def test_matches_contract_and_functional_model(engine, case):
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
    cycles = [
        simulate(layer, acts, config.replace(queue_depth=d), engine=engine).cycles
        for d in (1, 2, 3, 5, 8, 64)
    ]
    assert cycles == sorted(cycles, reverse=True)


# ----------------------------------------------------------------------------------------
# Bad input


def test_bad_activations(engine):
    config = ArchConfig(n_pe=2)
    layer = make_layer([(0, 0)], (2, 2), config)
    with pytest.raises(EieError, match="length 3"):
        simulate(layer, np.ones(3), config, engine=engine)
    with pytest.raises(EieError, match="NaN"):
        simulate(layer, np.array([1.0, np.nan]), config, engine=engine)
    with pytest.raises(EieError, match="vector"):
        simulate(layer, np.ones((2, 1)), config, engine=engine)
    with pytest.raises(EieError, match="real numbers"):
        simulate(layer, np.array(["a", "b"]), config, engine=engine)


def test_layer_encoded_for_another_array(engine):
    layer = make_layer([(0, 0)], (2, 2), ArchConfig(n_pe=2))
    with pytest.raises(EieError, match="n_pe"):
        simulate(layer, np.ones(2), ArchConfig(n_pe=4), engine=engine)
    with pytest.raises(EieError, match="accumulators_per_pe"):
        simulate(layer, np.ones(2), ArchConfig(n_pe=2, accumulators_per_pe=8), engine=engine)
