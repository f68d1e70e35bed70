"""The fast engine's Python driver (``eiesim/engines/fast.py``) around its kernels: what it
hands the kernels, what it reports and what it keeps.

The schedule report and every table the driver derives from a layer for a configuration
are checked against the reference engine (the engines agree exactly); the output tables,
the activations' conversion and the kernels' compile cache by hand.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import NamedTuple

import numba
import numpy as np
import pytest

from compressor.csc import compress_layer
from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.engines import ScheduleRecorder, fast, reference
from eiesim.simulation import prepare_activations, simulate
from test_engines import make_layer

INT64 = np.dtype(np.int64)


def assert_same_run(got, want) -> None:
    """Cycles, counters and per-PE arrays of two engine runs."""
    assert (got.cycles, got.block_cycles) == (want.cycles, want.block_cycles)
    assert got.counters == want.counters
    for name in ("busy", "starved", "real"):
        assert getattr(got.per_pe, name).tolist() == getattr(want.per_pe, name).tolist(), name


# --- the schedule report --------------------------------------------------------------


@pytest.mark.parametrize("precision", ["fixed", "float32"])
@pytest.mark.parametrize("timing, has_bias, shape", [
    ("spec", True, (6, 5)),  # two row blocks of 4 rows, the bias an ordinary last input
    ("spec", False, (6, 4)),
    ("eie-cpp", True, (4, 5)),  # the layer's own bias column in its own pack
    ("eie-cpp", False, (4, 4)),  # an empty bias column K, broadcast with a = 1
])
def test_schedule_report_equals_the_reference_field_by_field(precision, timing, has_bias, shape):
    # N = 2, R = 2; entries in every column, some columns with two per PE, activations with
    # a zero and a negative one (not broadcast under eie-cpp's positive rule).
    config = ArchConfig(n_pe=2, accumulators_per_pe=2, queue_depth=2, timing=timing, precision=precision)
    nonzeros = [(0, 0), (2, 0), (1, 1), (3, 1), (0, 2), (1, 3), (3, 3), (2, 3)]
    nonzeros += [(4, 0), (5, 2)] if shape[0] == 6 else []
    nonzeros += [(0, 4), (3, 4)] if has_bias else []
    layer = make_layer(nonzeros, shape, config, has_bias=has_bias)
    acts = np.array([0.5, -0.75, 0.0, 1.5])
    blocks = {}
    for engine in ("fast", "reference"):
        recorder = ScheduleRecorder()
        simulate(layer, acts, config, engine=engine, observer=recorder)
        blocks[engine] = recorder.blocks
    assert len(blocks["fast"]) == len(blocks["reference"]) == (2 if shape[0] == 6 else 1)
    converted = np.dtype(np.int64 if precision == "fixed" else np.float32)
    for t, (got, want) in enumerate(zip(blocks["fast"], blocks["reference"], strict=True)):
        assert got.block == want.block == t
        assert got.columns.tolist() == want.columns.tolist()
        # The bias column (the layer's or the empty one, index K) is broadcast with a = 1.
        assert got.activations.tolist() == want.activations.tolist()
        assert got.activations.dtype == converted
        for name in ("columns", "broadcast", "pop", "entries", "first_address"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
            assert getattr(got, name).dtype == INT64, name
        assert len(got.issue) == len(want.issue) == config.n_pe
        for mine, theirs in zip(got.issue, want.issue, strict=True):
            assert mine.tolist() == theirs.tolist() and mine.dtype == INT64
        assert (got.end, got.write_back) == (want.end, want.write_back)
    if timing == "eie-cpp":
        a_one = 1 << config.act_frac_bits if precision == "fixed" else 1.0
        assert blocks["fast"][0].activations[-1] == a_one
        assert blocks["fast"][0].columns[-1] == shape[1] - int(has_bias)


def test_schedule_report_of_a_block_without_broadcasts():
    # spec, no non-zero activation: K' = 0, each PE issued nothing.
    config = ArchConfig(n_pe=2)
    layer = make_layer([(0, 0), (1, 1)], (2, 2), config)
    recorder = ScheduleRecorder()
    simulate(layer, np.zeros(2), config, engine="fast", observer=recorder)
    (block,) = recorder.blocks
    assert block.columns.size == block.activations.size == block.broadcast.size == 0
    assert [i.tolist() for i in block.issue] == [[], []]
    assert all(i.dtype == INT64 for i in block.issue)


# --- what the driver hands the timing kernel -------------------------------------------


def test_pack_scan_without_a_broadcast_ends_after_the_scan():
    # spec with the pack-scan LNZD, N = 2, K = 3, every activation 0: pending starts at 1,
    # pack 0's last slot is not broadcast (2), the padded last pack adds 1 (3). With K' = 0
    # the pipeline end counts from there: T = 3 + 6 = 9 (the tree LNZD counts from L).
    config = ArchConfig(n_pe=2, lnzd="pack-scan")
    layer = make_layer([(0, 0), (1, 2)], (2, 3), config)
    acts = prepare_activations(layer, np.zeros(3), config)
    result = fast.run(layer, acts, config)
    assert result.cycles == 9
    assert_same_run(result, reference.run(layer, acts, config))


def test_tables_built_for_one_configuration_are_not_reused_for_another():
    # One layer object run under two SRAM widths (8 entries a row, then 1) and two pointer
    # bank choices under the drained end (pop tails of 1, then 2 pointer cycles): each run
    # must equal the reference engine's, not reuse the first run's SRAM rows or drains.
    base = ArchConfig(n_pe=2, queue_depth=2, block_end="drained")
    layer = make_layer([(0, 0), (2, 0), (4, 0), (1, 1), (0, 2), (2, 2), (3, 2)], (6, 3), base)
    acts = prepare_activations(layer, np.ones(3), base)
    runs = [base, base.replace(spmat_width_bits=8), base.replace(pointer_banks="one"),
            base.replace(spmat_width_bits=8, pointer_banks="one")]
    results = [fast.run(layer, acts, config) for config in runs]
    for config, result in zip(runs, results, strict=True):
        assert_same_run(result, reference.run(layer, acts, config))
    # The SRAM width and the pointer banks each change the run (else the test shows nothing).
    reads = [r.counters.spmat_row_reads for r in results]
    assert reads[0] != reads[1] and results[0].cycles != results[2].cycles


def test_one_pass_rules_refuse_a_layer_of_several_row_blocks():
    # N = 1, R = 1, M = 2: two row blocks; eie-cpp runs one pass, which simulate() makes by
    # re-encoding the layer. The engine called directly names the problem.
    config = ArchConfig(n_pe=1, accumulators_per_pe=1, queue_depth=2, timing="eie-cpp")
    layer = make_layer([(0, 0), (1, 0)], (2, 1), config, name="two")
    assert layer.n_blocks == 2
    acts = prepare_activations(layer, np.ones(1), config)
    with pytest.raises(EieError) as error:
        fast.run(layer, acts, config)
    assert str(error.value) == ("layer 'two' has 2 row blocks but the timing rules run one pass: "
                                "simulate() re-encodes it (eiesim.simulation.one_pass)")
    single = make_layer([(0, 0), (1, 0)], (2, 1), config.replace(accumulators_per_pe=2), name="one")
    assert fast.run(single, acts, config.replace(accumulators_per_pe=2)).cycles > 0


def test_timing_alone_and_the_wall_time():
    config = ArchConfig(n_pe=2)
    layer = make_layer([(0, 0), (1, 1), (3, 1)], (4, 2), config)
    acts = prepare_activations(layer, np.array([1.0, 2.0]), config)
    full = fast.run(layer, acts, config)
    began = time.perf_counter()
    timing = fast.run(layer, acts, config, outputs=False)
    elapsed = time.perf_counter() - began
    assert timing.output is None and full.output.tolist() == [0.25, 0.5, 0.0, 0.5]
    assert_same_run(timing, full)
    assert 0 <= timing.sim_wall_s <= elapsed  # the kernels' time, within the call's


def test_fixed_point_activations_reach_the_kernels_as_int64():
    config = ArchConfig(n_pe=2)
    layer = make_layer([(0, 0)], (2, 3), config)
    got = fast._checked_acts(layer, np.array([3, -5, 0], np.int32), config)
    assert got.dtype == INT64 and got.tolist() == [3, -5, 0]
    floats = np.array([0.5, -1.0, 0.0], np.float32)
    got = fast._checked_acts(layer, floats, config.replace(precision="float32"))
    assert got.dtype == np.float32 and got.tolist() == [0.5, -1.0, 0.0]


def test_local_rows_reach_the_kernels_as_int32():
    # N = 2: rows 0 and 4 of column 0 are PE0's local rows 0 and 2; row 3 is PE1's 1.
    config = ArchConfig(n_pe=2)
    layer = make_layer([(0, 0), (4, 0), (3, 1)], (6, 2), config)
    ptr, start, code, rows = fast._layer_arrays(layer)
    assert rows.dtype == np.int32 and rows.tolist() == [0, 2, 1]
    assert (ptr is layer.ptr, start is layer.start, code is layer.code) == (True, True, True)


# --- the output tables -----------------------------------------------------------------


BIAS_CONFIG = ArchConfig(n_pe=2, accumulators_per_pe=4)


def test_output_tables_by_hand_with_a_bias_codebook():
    # W = [[0.5, 0.25 | 3], [0.5, 0 | -2]], N = 2: weight codebook {0.25, 0.5} (codes 1, 2),
    # bias codebook {-2, 3} (codes 1, 2). Column by column: col 0 rows 0, 1 (codes 2, 2),
    # col 1 row 0 (code 1), the bias column rows 0, 1 with codes 2 + 16, 1 + 16 (the bias
    # codebook's codes start at 2^b = 16). a = (1, 2): outputs 0.5 + 0.5 + 3 = 4, 0.5 - 2.
    w = np.array([[0.5, 0.25, 3.0], [0.5, 0.0, -2.0]])
    layer = compress_layer(w, BIAS_CONFIG, name="x", has_bias=True, activation="none")
    assert layer.codebook[1:3].tolist() == [0.25, 0.5] and layer.bias_codebook[1:3].tolist() == [-2.0, 3.0]
    tables = fast.output_tables(layer)
    assert tables.col_ptr.tolist() == [0, 2, 3, 5] and tables.col_ptr.dtype == np.uint64
    assert tables.col_row.tolist() == [0, 1, 0, 0, 1] and tables.col_row.dtype == np.uint16
    assert tables.col_code.tolist() == [2, 2, 1, 18, 17] and tables.col_code.dtype == np.int16
    assert fast.output_tables(layer) is tables  # built once per layer object
    result = fast.run(layer, prepare_activations(layer, np.array([1.0, 2.0]), BIAS_CONFIG), BIAS_CONFIG)
    assert result.output.tolist() == [4.0, -1.5]


def test_output_tables_without_a_bias_codebook_keep_uint8_codes():
    config = ArchConfig(n_pe=2)
    layer = make_layer([(1, 0), (0, 1), (2, 1)], (3, 2), config, codes=[3, 5, 7])
    tables = fast.output_tables(layer)
    assert tables.col_ptr.tolist() == [0, 1, 3] and tables.col_ptr.dtype == np.uint64
    assert tables.col_row.tolist() == [1, 0, 2]
    assert tables.col_code.tolist() == [3, 5, 7] and tables.col_code.dtype == np.uint8


def test_a_layer_of_only_its_bias_column_decodes_through_the_bias_codebook():
    # K = 1: the bias column is column 0. The weight codebook is all zeros, so decoding the
    # biases through it would give 0, 0.
    layer = compress_layer(np.array([[3.0], [-2.0]]), BIAS_CONFIG, name="b", has_bias=True, activation="none")
    assert layer.bias_column == 0 and not layer.codebook.any()
    assert fast.output_tables(layer).col_code.tolist() == [18, 17]
    assert fast.run(layer, prepare_activations(layer, np.zeros(0), BIAS_CONFIG), BIAS_CONFIG).output.tolist() \
        == [3.0, -2.0]


# --- compiling before the timer ----------------------------------------------------------


def test_every_kernel_is_compiled_before_it_is_timed(monkeypatch):
    # The driver asks for each kernel it will call, with the arguments it will call it with,
    # so no JIT compilation lands in sim_wall_s.
    asked = []
    compile_ = fast._compile

    def spy(kernel, args):
        asked.append(getattr(kernel, "__name__", None))
        compile_(kernel, args)

    def clock():
        asked.append("clock")
        return time.perf_counter()

    monkeypatch.setattr(fast, "_compile", spy)
    monkeypatch.setattr(fast, "time", SimpleNamespace(perf_counter=clock))
    config = ArchConfig(n_pe=2, block_end="drained")
    layer = make_layer([(0, 0), (1, 1)], (2, 2), config)
    fast.run(layer, prepare_activations(layer, np.ones(2), config), config)
    # The layer's tables, its SRAM rows and drains, then both kernels; then the timer runs.
    assert asked == ["prepare_layer", "sram_rows", "drain_table", "layer_timing", "layer_output", "clock", "clock"]


@pytest.fixture
def compiled(monkeypatch):
    """An empty compile cache, and a kernel that records what it is compiled for."""
    monkeypatch.setattr(fast, "_COMPILED", set())

    def kernel(name):
        calls = []
        return SimpleNamespace(__name__=name, compile=calls.append, calls=calls)

    return kernel


class Pair(NamedTuple):
    a: int
    b: int


def test_compile_once_per_kernel_and_argument_types(compiled):
    k = compiled("k")
    fast._compile(k, (np.zeros(3), 2))
    assert k.calls == [(numba.types.float64[::1], numba.types.int64)]
    fast._compile(k, (np.ones(5), 7))  # other values, the same types: compiled already
    assert len(k.calls) == 1
    other = compiled("other")  # another kernel with the same arguments
    fast._compile(other, (np.zeros(3), 2))
    assert len(other.calls) == 1


@pytest.mark.parametrize("first, second", [
    ((1,), (1.0,)),  # scalars of two types
    ((None,), (1,)),
    ((np.zeros(2),), (np.zeros(2, np.float32),)),  # dtypes
    ((np.zeros(2),), (np.zeros((2, 2)),)),  # ranks
    ((np.zeros((2, 3)),), (np.zeros((3, 2)).T,)),  # layouts
    ((Pair(1, 2),), ((1, 2),)),  # a named tuple and a tuple of the same members
    (((1, 2),), ((1, 2.0),)),  # a tuple's members
])
def test_arguments_numba_types_apart_are_compiled_apart(compiled, first, second):
    k = compiled("k")
    fast._compile(k, first)
    fast._compile(k, second)
    assert len(k.calls) == 2
    assert k.calls[0] != k.calls[1]


def test_a_plain_function_is_not_compiled(compiled):
    def plain(x):  # what a kernel is with NUMBA_DISABLE_JIT=1
        return x

    fast._compile(plain, (1,))
    assert fast._COMPILED == set()


def test_the_timing_kernel_records_the_schedule_only_for_an_observer(monkeypatch):
    # Recording b_k and s_p(k) costs the kernel memory traffic: without an observer it gets
    # None for both records (numba compiles that variant without the stores).
    records = []
    kernel = fast.layer_timing

    def spy(plan, b_out, s_out):
        records.append((b_out, s_out))
        return kernel(plan, b_out, s_out)

    monkeypatch.setattr(fast, "layer_timing", spy)
    config = ArchConfig(n_pe=2)
    layer = make_layer([(0, 0), (1, 1)], (2, 3), config)  # M = 2, N = 2: one block
    acts = prepare_activations(layer, np.array([1.0, 0.0, 2.0]), config)
    fast.run(layer, acts, config)
    fast.run(layer, acts, config, observer=ScheduleRecorder())
    (none, recorded) = records
    assert none == (None, None)
    assert [r.shape for r in recorded] == [(1, 2), (1, 2, 2)]  # (T, K'), (T, N, K'): columns 0 and 2
