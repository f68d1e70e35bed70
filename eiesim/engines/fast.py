"""The fast engine: SPEC §5 / §5.1 timing and §6 arithmetic computed by numba kernels.

Same meaning as the SimPy reference engine, cycle- and counter-exact, but instead of
stepping cycles it evaluates the timing recurrences column by column
(``eiesim.engines._kernels``) under the config's timing rules (``eiesim.timing``). It
takes input that ``eiesim.simulation.simulate`` validated; it still checks what would
make a kernel read out of bounds (the layer, once per layer object, and the activations'
length and type).
It prepares the layer's column tables once per layer object (layers are immutable;
sweeps over queue depth or activations reuse them), compiles or loads the kernels, and
times only the kernel calls (``sim_wall_s``: no JIT compilation, no preparation). The
timing and the output are separate kernel calls, so either can run alone.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numba
import numpy as np

from compressor.csc import EncodedLayer, validate_layer
from eiecore.caches import Cache
from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.counters import COUNTER_NAMES, Counters, PerPE
from eiesim.engines import BlockSchedule, EngineRun, Observer
from eiesim.engines._kernels import (
    ADDRESS_BITS, COUNT, KERNEL_COUNTERS, TimingPlan, broadcast_columns, drain_table, layer_output, layer_timing,
    prepare_layer, sram_rows,
)
from eiesim.numerics import codebook_table, convert_activations, to_real, value_range
from eiesim.timing import issue_cycle

name = "fast"

if sorted(KERNEL_COUNTERS) != sorted(COUNTER_NAMES):  # the numba boundary passes counters by position
    raise ImportError(f"kernel counters {KERNEL_COUNTERS} differ from Counters fields {COUNTER_NAMES}")


class Tables(NamedTuple):
    """What :func:`eiesim.engines._kernels.prepare_layer` makes of a layer (for the timing)."""

    addr: np.ndarray
    table: np.ndarray  # narrowed to int8 or int16 when every value fits


class OutputTables(NamedTuple):
    """The layer's real entries column by column (for the arithmetic): those of column j
    are ``col_row[col_ptr[j]:col_ptr[j + 1]]`` (global rows) with their codes."""

    col_ptr: np.ndarray  # uint64 (K + 1,)
    col_row: np.ndarray  # uint16 when every row fits, else uint32
    col_code: np.ndarray  # uint8, int16 with the bias codebook's codes 2^b and up


_TABLES = Cache("fast engine layer tables", weak_keys=True)  # EncodedLayer -> Tables
# EncodedLayer -> {(table name, the configuration values it depends on): table}
_DERIVED = Cache("fast engine derived tables", weak_keys=True)
_OUTPUT_TABLES = Cache("fast engine output tables", weak_keys=True)  # EncodedLayer -> OutputTables


class Broadcasts(NamedTuple):
    """The broadcast columns of a run and the LNZD delays before them."""

    cols: np.ndarray  # J_1 .. J_K' (K = the empty own-pack bias column)
    gaps: np.ndarray  # gap_k (all 0 under the tree LNZD)
    first: int  # added to gap_1: L under the tree LNZD, else 0
    idle: int  # the cycle of a first broadcast when there is none


def broadcasts(layer: EncodedLayer, acts: np.ndarray, config: ArchConfig) -> Broadcasts:
    """Which columns are broadcast, in order, and when the LNZD can deliver each."""
    rules, k = config.rules, layer.shape[1]
    own_pack = rules.bias == "own-pack"
    scanned = k - int(own_pack and layer.has_bias)
    bias_column = (k - 1 if layer.has_bias else k) if own_pack else -1
    pack_scan = rules.lnzd == "pack-scan"
    cols, gaps, pending = broadcast_columns(acts, scanned, rules.broadcast == "positive", bias_column,
                                            pack_scan, config.n_pe)
    first = 0 if pack_scan else config.lnzd_latency
    return Broadcasts(cols, gaps, first, int(pending) if pack_scan else first)


def run(layer: EncodedLayer, acts_converted: np.ndarray, config: ArchConfig,
        observer: Observer | None = None, outputs: bool = True) -> EngineRun:
    """Simulate ``layer`` for converted activations (length K, bias included).

    ``outputs=False`` runs the timing alone (every counter and cycle, no arithmetic, no
    output tables): the output is None.
    """
    acts = _checked_acts(layer, acts_converted, config)
    if config.rules.row_blocks == "one-pass" and layer.n_blocks > 1:
        raise EieError(f"layer {layer.name!r} has {layer.n_blocks} row blocks but the timing rules run one pass: "
                       "simulate() re-encodes it (eiesim.simulation.one_pass)")
    plan = timing_plan(layer, acts, config)
    m, n_blocks, k_count = layer.shape[0], layer.n_blocks, plan.cols.size
    record = (np.empty((n_blocks, k_count), np.int64), np.empty((n_blocks, layer.n_pe, k_count), np.int64)) \
        if observer is not None else (None, None)
    timing_args = (plan, *record)
    _compile(layer_timing, timing_args)
    if outputs:
        out_tables = output_tables(layer)
        out_cols = plan.cols[plan.cols < layer.shape[1]]  # the empty bias column K adds nothing
        lo, hi = value_range(config)
        f = config.weight_frac_bits
        output_args = (out_tables.col_ptr, out_tables.col_row, out_tables.col_code, out_cols,
                       codebook_table(layer, config), acts, m, (1 << f) >> 1, f, lo, hi)
        _compile(layer_output, output_args)

    began = time.perf_counter()
    counters, busy, starved, real, block_end, block_cycles = layer_timing(*timing_args)
    acc = layer_output(*output_args) if outputs else None
    wall = time.perf_counter() - began

    if observer is not None:
        _report_schedule(observer, layer, acts, config, plan, record, block_end, block_cycles)
    output = None
    if acc is not None:
        out = to_real(acc, config)
        output = np.maximum(out, 0.0) if layer.activation == "relu" else out
    return EngineRun(
        cycles=int(block_cycles.sum()),
        block_cycles=[int(c) for c in block_cycles],
        counters=Counters(**{name: int(v) for name, v in zip(KERNEL_COUNTERS, counters)}),
        per_pe=PerPE(busy=busy, starved=starved, real=real),
        output=output,
        sim_wall_s=wall,
    )


def timing_plan(layer: EncodedLayer, acts: np.ndarray, config: ArchConfig) -> TimingPlan:
    """What the timing kernel needs for this run: the layer's tables for this config and the
    rules in force as numbers. The one place a rule becomes a kernel input."""
    rules = config.rules
    bc = broadcasts(layer, acts, config)
    return TimingPlan(
        rows=row_table(layer, config.entries_per_row), table=layer_tables(layer).table,
        drain=drain(layer, rules.pointer_cycles) if rules.block_end == "drained" else None,
        cols=bc.cols, gaps=bc.gaps, first=bc.first, idle=bc.idle,
        usable=rules.usable_slots(config.queue_depth), refill=rules.refill_delay,
        pointer_cycles=rules.pointer_cycles, dram=dram_parameters(config),
        rows_per_block=config.rows_per_block, n_rows=layer.shape[0],
    )


def dram_parameters(config: ArchConfig) -> np.ndarray | None:
    """Streamed weights' parameters for the kernel (``_kernels.DRAM_BYTES_PER_CYCLE`` ..), None on chip."""
    if config.weights != "streamed":
        return None
    return np.array([config.dram_bytes_per_cycle, config.dram_latency_cycles, config.dram_burst_bytes,
                     config.stream_buffer_columns, config.weight_bits + config.index_bits, config.ptr_bits],
                    np.int64)


def _report_schedule(observer, layer, acts, config, plan, record, block_end, block_cycles) -> None:
    """Hand the recorded b_k and s_p(k) of every block, with entry issue cycles, to ``observer``."""
    b_out, s_out = record
    one = convert_activations(np.array([1.0]), config)[0]
    cols, addr = plan.cols, layer_tables(layer).addr
    values = np.append(acts, one)[cols]  # index K: the empty own-pack bias column, a = 1
    for t in range(layer.n_blocks):
        counts = plan.table[t, cols, COUNT, :].T.astype(np.int64)  # n_p(k), (N, K')
        first_address = addr[t, cols, :].T.astype(np.int64)
        pops = s_out[t]
        issue = [np.concatenate([np.zeros(0, np.int64), *(issue_cycle(pops[p, k], np.arange(counts[p, k]),
                                                                      plan.pointer_cycles)
                                                          for k in range(cols.size))])
                 for p in range(layer.n_pe)]
        observer.block(BlockSchedule(
            block=t, columns=cols.copy(), activations=values, broadcast=b_out[t].copy(), pop=pops.copy(),
            entries=counts, first_address=first_address, issue=issue, end=int(block_end[t]),
            write_back=int(block_cycles[t] - block_end[t]),
        ))


def layer_tables(layer: EncodedLayer) -> Tables:
    """The layer's column tables for the timing, validated and built on first use, then kept with it."""
    tables = _TABLES.get(layer)
    if tables is None:
        args = _layer_arrays(layer)
        _compile(prepare_layer, args)
        addr, table = prepare_layer(*args)
        # Narrow types move less memory: the timing kernel is bound by cache misses.
        tables = _TABLES[layer] = Tables(addr, _narrowest(table, np.int8, np.int16))
    return tables


def derived_table(layer: EncodedLayer, key: tuple, build) -> np.ndarray:
    """A table derived from the layer, keyed on its name and every configuration value it
    depends on (``key``): built by ``build()`` on first use, then kept with the layer."""
    by_key = _DERIVED.get(layer)
    if by_key is None:
        by_key = _DERIVED[layer] = {}
    if key not in by_key:
        by_key[key] = build()
    return by_key[key]


def row_table(layer: EncodedLayer, entries_per_row: int) -> np.ndarray:
    """The SRAM rows of the layer's columns (:func:`eiesim.engines._kernels.sram_rows`) for
    one SRAM width (entries per row)."""
    def build():
        tables = layer_tables(layer)
        args = (tables.addr, tables.table, entries_per_row)
        _compile(sram_rows, args)
        return _narrowest(sram_rows(*args), np.int16)

    return derived_table(layer, ("sram_rows", entries_per_row), build)


def drain(layer: EncodedLayer, pointer_cycles: int) -> np.ndarray:
    """The ``drained`` end's per-column drain (:func:`eiesim.engines._kernels.drain_table`)
    for a pop's pointer cycles."""
    def build():
        args = (*_layer_arrays(layer)[:3], pointer_cycles)
        _compile(drain_table, args)
        return _narrowest(drain_table(*args), np.int16)

    return derived_table(layer, ("drain", pointer_cycles), build)


def output_tables(layer: EncodedLayer) -> OutputTables:
    """The layer's real entries column by column for the arithmetic, built on first use, then kept."""
    tables = _OUTPUT_TABLES.get(layer)
    if tables is None:
        row, col, code = layer.real_entries()  # of a validated layer
        order = np.argsort(col, kind="stable")
        col_ptr = np.zeros(layer.shape[1] + 1, np.uint64)  # unsigned: no negative-index checks in the kernel
        np.cumsum(np.bincount(col, minlength=layer.shape[1]), out=col_ptr[1:])
        col_code = code[order]
        if layer.bias_column >= 0:  # the bias column decodes through the bias codebook: codes 2^b and up
            col_code = col_code.astype(np.int16)
            col_code[col_ptr[layer.bias_column] : col_ptr[layer.bias_column + 1]] += 1 << layer.weight_bits
        tables = _OUTPUT_TABLES[layer] = OutputTables(col_ptr, _narrowest(row[order], np.uint16, np.uint32),
                                                      col_code)
    return tables


def _narrowest(values: np.ndarray, *narrow) -> np.ndarray:
    """A copy of ``values`` in the first dtype of ``narrow`` that holds every value, else in its own.

    The copy is numpy's, which asks Linux for huge pages (numba's allocations do not): the
    timing kernel jumps between columns in an order only the activations decide, and with
    4 KB pages a large layer's tables cost a TLB miss per column.
    """
    for dtype in narrow:
        info = np.iinfo(dtype)
        if values.size == 0 or (values.min() >= info.min and values.max() <= info.max):
            return values.astype(dtype)
    return values.astype(values.dtype)


_COMPILED: set[tuple] = set()


def _compile(kernel, args) -> None:
    """Compile (or load from cache) ``kernel`` for these argument types before timing.

    Asking numba costs about 0.5 ms a call; a key of dtypes and shapes' ranks costs
    microseconds, which matters for sweeps of many small layers.
    """
    if not hasattr(kernel, "compile"):  # a plain function when NUMBA_DISABLE_JIT=1
        return
    key = (kernel.__name__, *map(_type_key, args))
    if key not in _COMPILED:
        kernel.compile(tuple(numba.typeof(a) for a in args))
        _COMPILED.add(key)


def _type_key(arg):
    """What numba compiles a kernel argument as: an array's dtype, rank and layout, a tuple's
    members, else the type (type(None) keys the variants without a drain or recording)."""
    if isinstance(arg, np.ndarray):
        return arg.dtype.str, arg.ndim, arg.flags.c_contiguous
    if isinstance(arg, tuple):
        return type(arg), *map(_type_key, arg)
    return type(arg)


def _checked_acts(layer: EncodedLayer, acts, config: ArchConfig) -> np.ndarray:
    """Converted activations as int64 (fixed) or float32, one per column."""
    a = np.asarray(acts)
    if a.ndim != 1 or a.size != layer.shape[1]:
        raise EieError(f"converted activations must be a vector of length {layer.shape[1]}, got shape {a.shape}")
    if config.precision == "float32":
        if a.dtype != np.float32:
            raise EieError(f"float32 activations expected, got dtype {a.dtype}")
        return np.ascontiguousarray(a)
    if not np.issubdtype(a.dtype, np.integer):
        raise EieError(f"fixed-point activations must be integers, got dtype {a.dtype}")
    lo, hi = value_range(config)
    if a.size and (a.min() < lo or a.max() > hi):
        raise EieError(f"fixed-point activations must lie in [{lo}, {hi}]")
    return np.ascontiguousarray(a, np.int64)


def _layer_arrays(layer: EncodedLayer):
    """ptr, start, code (in the kernels' types already: the layer converted them) and every
    entry's local row as int32, once the layer is known valid (so no kernel reads out of
    bounds) and within the engine's address limit."""
    validate_layer(layer)
    if layer.n_entries >= 2**ADDRESS_BITS:
        raise EieError(f"layer {layer.name!r}: {layer.n_entries} entries exceed the fast engine's limit of 2^{ADDRESS_BITS}")
    return layer.ptr, layer.start, layer.code, layer.entry_local_rows().astype(np.int32)
