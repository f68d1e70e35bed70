"""The fast engine against SPEC §5/§6: the worked example, hand-derived cases, the test
oracle (``tests.timing_oracle``) on broad random layers, the functional model, bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from compressor import csc
from compressor.csc import interleave
from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.counters import COUNTER_NAMES, Counters
from eiesim.engines import fast, get_engine
from eiesim.engines._kernels import (
    COUNT, FIELDS, FIRST_ROW, KERNEL_COUNTERS, LAST_ROW, broadcast_columns, sram_rows,
)
from eiesim.engines.fast import layer_tables, output_tables, row_table, run
from eiesim.functional import functional_output
from eiesim.simulation import prepare_activations
from eiesim.timing import PIPELINE_DRAIN
from tests.timing_oracle import oracle

CODEBOOK = np.linspace(-1.0, 1.0, 16)
CODEBOOK[0] = 0.0


def encode(nonzeros, shape, config, codes=None, **kwargs):
    """A layer with weights at the (row, col) pairs, codes 1, 2, ... unless given."""
    rows, cols = (np.array(x, np.int64) for x in zip(*nonzeros)) if nonzeros else (np.zeros(0, int),) * 2
    if codes is None:
        codes = 1 + np.arange(rows.size) % (2**config.weight_bits - 1)
    book = np.linspace(-1.0, 1.0, 2**config.weight_bits)
    book[0] = 0.0
    return interleave(rows, cols, np.asarray(codes), shape, book, config, **kwargs)


def simulate_fast(layer, acts, config):
    return run(layer, prepare_activations(layer, acts, config), config)


# --- SPEC §5 worked example and hand-derived cases ---------------------------------


def test_spec_worked_example():
    config = ArchConfig.make(n_pe=2, queue_depth=1)
    layer = encode([(0, 0), (1, 0), (2, 0), (3, 1), (0, 2)], (4, 3), config)
    result = simulate_fast(layer, np.ones(3), config)
    assert result.cycles == 12 and result.block_cycles == [12]
    assert result.counters == Counters(
        broadcasts=3, real_entries=5, filler_entries=0, empty_columns=2, busy_pe_cycles=7,
        starved_pe_cycles=1, queue_full_stall_cycles=1, pointer_reads=12, spmat_row_reads=2,
        accumulator_writes=5, macs=5, codebook_reads=5, bypass_hits=0, act_sram_writes=0,
    )
    assert result.per_pe.busy.tolist() == [4, 3]
    assert result.per_pe.starved.tolist() == [0, 1]
    assert result.per_pe.real.tolist() == [3, 2]


@pytest.mark.parametrize("n_pe, lnzd", [(1, 1), (4, 1), (5, 2), (16, 2), (17, 3), (64, 3), (256, 4)])
def test_no_broadcast_costs_lnzd_latency_plus_drain(n_pe, lnzd):
    config = ArchConfig.make(n_pe=n_pe)
    layer = encode([(0, 0)], (3, 2), config)
    result = simulate_fast(layer, np.zeros(2), config)
    assert result.cycles == lnzd + PIPELINE_DRAIN
    assert result.counters == Counters()
    assert not result.output.any()


def test_pes_without_rows_spend_one_cycle_per_column():
    # N = 4, M = 2: PEs 2 and 3 own no row but pay c = 1 on each broadcast column.
    config = ArchConfig.make(n_pe=4)
    layer = encode([(0, 0), (0, 1), (1, 1)], (2, 2), config)
    result = simulate_fast(layer, np.ones(2), config)
    assert result.per_pe.busy.tolist() == [2, 2, 2, 2]
    assert result.counters.empty_columns == 5
    # b = 1, 2; s = 2, 3 on every PE; T = 3 + 1 + PIPELINE_DRAIN (6).
    assert result.cycles == 10


def test_row_blocks_write_back_between_blocks():
    # N = 2, R = 1: rows {0,1}, {2,3}, {4} in three blocks; write-back 1, 1, 1 cycles.
    config = ArchConfig.make(n_pe=2, accumulators_per_pe=1)
    layer = encode([(0, 0), (3, 0), (4, 1)], (5, 2), config)
    result = simulate_fast(layer, np.ones(2), config)
    # Every block: b = 1, 2; s = 2, 3 on both PEs; T = 4 + PIPELINE_DRAIN (6) = 10, plus 1 of write-back.
    assert result.block_cycles == [11, 11, 11]
    assert result.cycles == 33
    assert result.counters.act_sram_writes == 5
    assert result.counters.broadcasts == 6
    assert result.counters.pointer_reads == 2 * 2 * 6


def test_single_block_has_no_write_back():
    config = ArchConfig.make(n_pe=2, accumulators_per_pe=4)
    result = simulate_fast(encode([(0, 0), (7, 0)], (8, 1), config), np.ones(1), config)
    assert result.block_cycles == [9] and result.counters.act_sram_writes == 0  # b = 1, s = 2, c = 1: 2 + 1 + 6


def test_only_nonzero_converted_activations_are_broadcast():
    config = ArchConfig.make(n_pe=1)
    layer = encode([(0, 0), (0, 1), (0, 2)], (1, 3), config)
    # 0.001 rounds to 0 with 8 fraction bits: not broadcast.
    result = simulate_fast(layer, np.array([1.0, 0.001, -2.0]), config)
    assert result.counters.broadcasts == 2 and result.counters.macs == 2


def test_bypass_needs_back_to_back_issue_to_the_same_accumulator():
    # N = 2, M = 6. PE1 has three entries in column 0; PE0 has row 0 in columns 1 and 2.
    nonzeros = [(1, 0), (3, 0), (5, 0), (0, 1), (0, 2)]
    shallow = ArchConfig.make(n_pe=2, queue_depth=1)
    layer = encode(nonzeros, (6, 3), shallow)
    # D = 1: b_3 = max(3, s_1(2) = 5) = 5, so PE0 waits 2 cycles before column 3: no hit.
    result = simulate_fast(layer, np.ones(3), shallow)
    assert result.counters.bypass_hits == 0
    assert result.per_pe.starved.tolist() == [2, 0]
    # D = 2: b_3 = 3, PE0 pops column 3 the cycle its column 2 entry issued: one hit.
    deep = shallow.replace(queue_depth=2)
    assert simulate_fast(layer, np.ones(3), deep).counters.bypass_hits == 1


def test_bypass_counts_real_entries_only():
    # index_bits = 2: column 1's gap of 4 rows gives a filler at local row 3, the row
    # column 0's last entry wrote; the filler writes nothing, so there is no hit.
    config = ArchConfig.make(n_pe=1, index_bits=2)
    layer = encode([(3, 0), (4, 1)], (5, 2), config)
    result = simulate_fast(layer, np.ones(2), config)
    assert result.counters.filler_entries == 1
    assert result.counters.bypass_hits == 0
    same_row = encode([(3, 0), (3, 1)], (5, 2), config)
    assert simulate_fast(same_row, np.ones(2), config).counters.bypass_hits == 1


def test_spmat_rows_follow_issued_addresses_across_skipped_columns():
    # One PE, 2 entries per SRAM row. Columns hold 3, 2, 1 entries: addresses 0-2, 3-4, 5.
    config = ArchConfig.make(n_pe=1, spmat_width_bits=16)
    nonzeros = [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (0, 2)]
    layer = encode(nonzeros, (3, 3), config)
    # All broadcast: addresses 0..5 span rows 0, 1, 2 -> 3 reads.
    assert simulate_fast(layer, np.ones(3), config).counters.spmat_row_reads == 3
    # Column 1 skipped: 0, 1 (row 0), 2 (row 1), then 5 (row 2) -> 3 reads.
    assert simulate_fast(layer, np.array([1.0, 0, 1.0]), config).counters.spmat_row_reads == 3
    # Column 0 skipped: 3 (row 1), 4 (row 2), 5 (row 2) -> 2 reads.
    assert simulate_fast(layer, np.array([0, 1.0, 1.0]), config).counters.spmat_row_reads == 2


def test_kernel_counters_are_the_counters_by_name():
    # The kernel returns counters in KERNEL_COUNTERS order; fast.py maps them by name.
    assert sorted(KERNEL_COUNTERS) == sorted(COUNTER_NAMES) and len(set(KERNEL_COUNTERS)) == len(KERNEL_COUNTERS)
    config = ArchConfig.make(n_pe=1, spmat_width_bits=16)
    # 3 real entries in column 0 (rows 0, 1, 2: SRAM rows 0, 1 at 2 entries a row), then a
    # filler and a real one in column 1 (row 17: gap 17 = one filler + z = 1).
    layer = encode([(0, 0), (1, 0), (2, 0), (17, 1)], (18, 2), config)
    c = simulate_fast(layer, np.ones(2), config).counters
    assert (c.real_entries, c.filler_entries, c.codebook_reads, c.spmat_row_reads, c.broadcasts) == (4, 1, 5, 3, 2)


def test_get_engine_fast_and_wall_time():
    config = ArchConfig.make(n_pe=2)
    layer = encode([(0, 0)], (2, 1), config)
    result = get_engine("fast").run(layer, prepare_activations(layer, np.ones(1), config), config)
    assert isinstance(result.sim_wall_s, float) and result.sim_wall_s >= 0


def test_sram_rows_of_each_column_for_a_width_of_three_entries():
    # One PE, four columns and the empty column K: counts 3, 0, 7, 0 from addresses 0, 3,
    # 3, 10, 10. With 3 entries per SRAM row, entry a sits in row a // 3:
    #   column 0: entries 0..2 -> rows 0..0;  column 2: entries 3..9 -> rows 1..3;
    #   empty columns: first row a // 3 (1, 3, 3), last row -1.
    table = np.zeros((1, 5, FIELDS, 1), np.int16)
    table[0, :, COUNT, 0] = [3, 0, 7, 0, 0]
    addr = np.array([0, 3, 3, 10, 10], np.int32).reshape(1, 5, 1)
    rows = sram_rows(addr, table, 3)
    assert rows[0, :, FIRST_ROW, 0].tolist() == [0, 1, 1, 3, 3]
    assert rows[0, :, LAST_ROW, 0].tolist() == [0, -1, 3, -1, -1]


def test_tables_are_prepared_once_per_layer_and_reused():
    config = ArchConfig.make(n_pe=2, queue_depth=1)
    layer = encode([(0, 0), (1, 0), (2, 0), (3, 1), (0, 2)], (4, 3), config)
    first = simulate_fast(layer, np.ones(3), config)
    assert layer_tables(layer) is layer_tables(layer)
    assert row_table(layer, 8) is row_table(layer, 8)
    # Same layer object, other depth and activations: the cached tables give fresh results.
    deep = simulate_fast(layer, np.ones(3), config.replace(queue_depth=4))
    assert (deep.cycles, deep.counters.queue_full_stall_cycles, deep.counters.starved_pe_cycles) == (12, 0, 0)
    assert simulate_fast(layer, np.array([1.0, 0, 1.0]), config).counters.broadcasts == 2
    assert simulate_fast(layer, np.ones(3), config).counters == first.counters


def test_tables_and_broadcasts_have_the_kernels_types():
    # The kernels are compiled for these types; as Python they would run on any.
    config = ArchConfig.make(n_pe=2, queue_depth=1)
    layer = encode([(0, 0), (1, 0), (2, 0), (3, 1), (0, 2)], (4, 3), config)
    tables = layer_tables(layer)
    assert (tables.addr.dtype, tables.table.dtype, fast.drain(layer, 1).dtype) == (np.int32, np.int8, np.int16)
    bc = fast.broadcasts(layer, prepare_activations(layer, np.ones(3), config), config)
    assert (bc.cols.dtype, bc.gaps.dtype) == (np.int64, np.int64) and bc.cols.tolist() == [0, 1, 2]


def test_a_bias_that_is_the_only_column_is_broadcast():
    # eie-cpp's own-pack bias of a layer whose only column is the bias (K = 1, no inputs
    # scanned): column 0 is broadcast after the LNZD's first pending cycle (pending 1).
    cols, gaps, pending = broadcast_columns(np.zeros(1, np.int64), 0, True, 0, True, 4)
    assert (cols.tolist(), gaps.tolist(), pending) == ([0], [1], 1)


def test_tables_stay_wide_when_rows_exceed_16_bits():
    # One PE with 70000 rows: local rows and global rows do not fit int16 / uint16.
    config = ArchConfig.make(n_pe=1, accumulators_per_pe=70000, index_bits=8)
    layer = encode([(69999, 0), (5, 1), (69999, 1)], (70000, 2), config)
    tables = layer_tables(layer)
    assert (tables.table.dtype, output_tables(layer).col_row.dtype) == (np.int32, np.uint32)
    result = simulate_fast(layer, np.ones(2), config)
    want = oracle(layer, np.ones(2), config)
    assert result.cycles == want.cycles and result.counters.to_dict() == want.counters
    assert result.counters.bypass_hits == 0  # column 1 starts at row 5, not 69999
    converted = prepare_activations(layer, np.ones(2), config)
    assert np.array_equal(result.output, functional_output(layer, converted, config))
    assert row_table(layer, config.entries_per_row).dtype == np.int16  # 70000 rows / 6 entries per row
    small = encode([(0, 0)], (2, 1), ArchConfig.make(n_pe=1))
    assert (layer_tables(small).table.dtype, output_tables(small).col_row.dtype) == (np.int8, np.uint16)
    middle = encode([(200, 0)], (300, 1), ArchConfig.make(n_pe=1, accumulators_per_pe=300, index_bits=8))  # row 200
    assert layer_tables(middle).table.dtype == np.int16


def test_outputs_saturate_and_round_like_the_functional_model():
    config = ArchConfig.make(n_pe=2, value_bits=8, act_frac_bits=4, weight_frac_bits=4)
    nonzeros = [(r, c) for r in range(4) for c in range(6)]
    codes = [15 if r < 2 else 1 for r, _ in nonzeros]  # codebook values +1.0 and -1.0
    layer = encode(nonzeros, (4, 6), config, codes=codes, activation="none")
    acts = np.array([7.0, 7.0, 7.0, 3.3, -0.2, 5.5])
    converted = prepare_activations(layer, acts, config)
    out = run(layer, converted, config).output
    assert np.array_equal(out, functional_output(layer, converted, config))
    assert out.tolist() == [127 / 16, 127 / 16, -8.0, -8.0]  # saturated both ways


# --- random layers against the oracle -------------------------------------------------


def mostly_small(low: int, typical: int, high: int):
    """Integers low..high, drawn from low..typical half of the time."""
    return st.one_of(st.integers(low, min(typical, high)), st.integers(low, high))


# (low, typical, high) ranges of layer_cases; CONGESTED forces stalls, starvation, fillers.
SMALL = dict(rows=(1, 24, 60), cols=(1, 12, 20), pes=(1, 9, 9), depth=(1, 5, 5), accumulators=(1, 8, 24),
             index_bits=(2, 2, 2, 3, 4, 8))
CONGESTED = dict(rows=(16, 60, 150), cols=(8, 20, 40), pes=(2, 4, 8), depth=(1, 2, 3), accumulators=(8, 16, 32),
                 index_bits=(2, 3))


@st.composite
def layer_cases(draw, rows, cols, pes, depth, accumulators, index_bits):
    """A random layer, configuration and activations (shared with test_cross_engine).

    Everything is drawn, no numpy seed, so a failure shrinks to a small layer: each column
    keeps every s-th row from a drawn offset, s drawn per column (0: empty, 1: full, 13:
    gaps that need fillers), so PEs get uneven work (queues fill, PEs starve); codes entry
    by entry over that pattern (a zero fill keeps large layers cheap); small or large
    codebook values (large ones saturate); sparse or dense activations.
    """
    m, k = draw(mostly_small(*rows)), draw(mostly_small(*cols))
    x, weight_bits = draw(st.sampled_from(index_bits)), draw(st.integers(1, 4))
    value_bits = draw(st.integers(4, 16))
    config = ArchConfig.make(
        n_pe=draw(mostly_small(*pes)), queue_depth=draw(mostly_small(*depth)),
        accumulators_per_pe=draw(mostly_small(*accumulators)), index_bits=x,
        weight_bits=weight_bits, spmat_width_bits=draw(st.integers(x + weight_bits, 64)),
        value_bits=value_bits, act_frac_bits=draw(st.integers(0, value_bits - 1)),
        weight_frac_bits=draw(st.integers(0, value_bits - 1)), precision=draw(st.sampled_from(["fixed", "float32"])),
    )
    top = 2**weight_bits - 1
    stride = draw(hnp.arrays(np.int64, k, elements=st.sampled_from([0, 1, 2, 3, 5, 13])))
    offset = draw(hnp.arrays(np.int64, k, elements=st.integers(0, 12), fill=st.just(0)))
    i = np.arange(m)[:, None]
    pattern = (stride > 0) & ((i + offset) % np.maximum(stride, 1) == 0)
    codes = draw(hnp.arrays(np.int64, (m, k), elements=st.integers(1, top), fill=st.just(0)))
    codes = np.where(pattern & (codes == 0), 1 + i % top, codes)
    rows, cols = np.nonzero(codes)
    scale = draw(st.sampled_from([0.5, 8.0]))
    book = np.concatenate(([0.0], draw(hnp.arrays(np.float64, top, elements=st.floats(
        -scale, scale, allow_nan=False, allow_subnormal=False)))))
    has_bias = draw(st.booleans()) and k > 1
    layer = interleave(rows, cols, codes[rows, cols], (m, k), book, config, has_bias=has_bias,
                       activation=draw(st.sampled_from(["relu", "none"])))
    values = st.floats(-16.0, 16.0, allow_nan=False, allow_subnormal=False)
    acts = draw(hnp.arrays(np.float64, layer.n_inputs, elements=values,
                           fill=st.just(0.0) if draw(st.booleans()) else None))
    return layer, acts, config


def record_events(result, layer) -> None:
    """Hypothesis statistics: how often the rarer behaviours were exercised."""
    for name in ("bypass_hits", "queue_full_stall_cycles", "starved_pe_cycles", "filler_entries"):
        event(f"{name} > 0: {getattr(result.counters, name) > 0}")
    event(f"row blocks: {min(layer.n_blocks, 3)}{'+' if layer.n_blocks > 3 else ''}")


@given(st.one_of(layer_cases(**SMALL), layer_cases(**CONGESTED)))
@settings(max_examples=150)
def test_fast_engine_equals_oracle_and_functional_model(case):
    layer, acts, config = case
    result = simulate_fast(layer, acts, config)
    record_events(result, layer)
    want = oracle(layer, acts, config)
    want.assert_matches(result)
    converted = prepare_activations(layer, acts, config)
    expected = functional_output(layer, converted, config)
    assert result.output.dtype == expected.dtype
    assert np.array_equal(result.output, expected, equal_nan=True)


def test_float32_accumulation_is_bit_exact_over_many_terms():
    config = ArchConfig.make(n_pe=3, precision="float32")
    rng = np.random.default_rng(3)
    rows, cols = np.nonzero(rng.random((30, 200)) < 0.7)
    layer = interleave(rows, cols, rng.integers(1, 16, rows.size), (30, 200),
                       np.concatenate(([0.0], rng.normal(0, 1, 15))), config, activation="none")
    converted = prepare_activations(layer, rng.normal(0, 1, 200), config)
    assert np.array_equal(run(layer, converted, config).output, functional_output(layer, converted, config))


# --- bad input ----------------------------------------------------------------------


def _bad(layer, **changes):
    return dataclasses.replace(layer, **changes)


@pytest.fixture
def small():
    config = ArchConfig.make(n_pe=2, accumulators_per_pe=2)
    layer = encode([(0, 0), (1, 0), (2, 1), (3, 1)], (4, 2), config)
    return layer, prepare_activations(layer, np.ones(2), config), config


def test_rejects_activations_of_wrong_length_type_or_range(small):
    layer, acts, config = small
    with pytest.raises(EieError, match="length 2"):
        run(layer, acts[:1], config)
    with pytest.raises(EieError, match="must be integers"):
        run(layer, acts.astype(np.float64), config)
    with pytest.raises(EieError, match="must lie in"):
        run(layer, acts * 10**6, config)
    with pytest.raises(EieError, match="float32 activations"):
        run(layer, acts, config.replace(precision="float32"))


def test_rejects_inconsistent_layer_arrays(small):
    layer, acts, config = small
    ptr = layer.ptr.copy()
    ptr[0, 0, 1] = 5
    # The engine reads only layers that compressor.csc.validate_layer accepts.
    with pytest.raises(EieError, match="decrease|start offsets"):
        run(_bad(layer, ptr=ptr), acts, config)
    with pytest.raises(EieError, match="ptr has shape"):
        run(_bad(layer, ptr=layer.ptr[:, :, :2]), acts, config)
    with pytest.raises(EieError, match="start offsets"):
        run(_bad(layer, start=layer.start + 1), acts, config)
    with pytest.raises(EieError, match="rel has 4 entries, code has 3"):
        run(_bad(layer, code=layer.code[:-1]), acts, config)
    with pytest.raises(EieError, match="weight code lies outside"):
        run(_bad(layer, code=layer.code + 16), acts, config)
    with pytest.raises(EieError, match="code holds values outside 0..255"):  # never wrapped to uint8
        run(_bad(layer, code=layer.code.astype(np.int8) - 2), acts, config)
    with pytest.raises(EieError, match="relative index lies outside"):
        run(_bad(layer, rel=layer.rel + 16), acts, config)
    with pytest.raises(EieError, match="code must be integers, got dtype float64"):
        run(_bad(layer, code=layer.code.astype(np.float64)), acts, config)
    with pytest.raises(EieError, match="codebook"):
        run(_bad(layer, codebook=layer.codebook[:4]), acts, config)


def test_rejects_a_layer_beyond_the_address_limit(small, monkeypatch):
    # 4 entries: under a limit of 2^2 addresses the last would not fit (2^31 needs GBs).
    layer, acts, config = small
    monkeypatch.setattr(fast, "ADDRESS_BITS", 2)
    with pytest.raises(EieError, match="4 entries exceed the fast engine's limit of 2\\^2"):
        run(dataclasses.replace(layer), acts, config)


def test_rejects_an_entry_beyond_its_rows(small):
    layer, acts, config = small
    rel = layer.rel.copy()
    rel[-1] = 3  # local row 3 of PE 1 in a block where it owns 2 rows
    with pytest.raises(EieError, match="past local row 1"):
        run(_bad(layer, rel=rel), acts, config)



def test_drained_end_counts_trailing_fillers(monkeypatch):
    # A column that ends in fillers (the encoder never writes one; built by hand): N = 1,
    # 1-bit indices, column 0 = real (row 0), then four fillers (rows 2, 4, 6, 8).
    # eie-cpp: b = 1 (gap 1), 2 (empty bias); s = 2, then 2 + 5 = 7. Issues 3 (real), 4-7
    # (fillers): real 3 + 6 = 9, last filler 7 + FILLER_TAIL (3) = 10, bias pop 7 + 2 = 9.
    # Under spec the block ends at s + c + 6 = 2 + 5 + 6 = 13.
    config = ArchConfig.make(n_pe=1, index_bits=1, timing="eie-cpp")
    layer = dataclasses.replace(
        encode([(0, 0)], (10, 1), config), code=np.array([9, 0, 0, 0, 0], np.uint8),
        rel=np.array([0, 1, 1, 1, 1], np.uint8), ptr=np.array([[[0, 5]]]), start=np.array([0, 5]))
    # A valid layer never ends a column in a filler (so FILLER_TAIL never decides its end):
    # the engine is let past its validation to pin the rule as SPEC §5.1 states it.
    for module in (fast, csc):
        monkeypatch.setattr(module, "validate_layer", lambda layer: None)
    acts = prepare_activations(layer, np.ones(1), config)
    assert run(layer, acts, config).cycles == 10
    assert run(layer, acts, config.replace(timing="spec")).cycles == 13
