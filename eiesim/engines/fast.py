"""The fast engine: SPEC §5 timing and §6 arithmetic computed by numba kernels.

Same meaning as the SimPy reference engine, cycle- and counter-exact, but instead of
stepping cycles it evaluates the timing contract's recurrence column by column
(``eiesim.engines._kernels``). This module validates the layer and activations (a bad
pointer would make a kernel read out of bounds), prepares the layer's column tables
once per layer object (layers are immutable; sweeps over queue depth or activations
reuse them), compiles or loads the kernels, and times only the kernel calls
(``sim_wall_s``: no JIT compilation, no preparation).
"""

from __future__ import annotations

import time
import weakref
from typing import NamedTuple

import numba
import numpy as np

from compressor.csc import EncodedLayer
from eiesim.config import ArchConfig
from eiesim.engines import EngineRun
from eiesim.engines._kernels import ADDRESS_BITS, layer_output, layer_timing, prepare_layer, row_divisor
from eiesim.errors import EieError
from eiesim.numerics import convert_codebook, to_real, value_range
from eiesim.result import Counters, PerPE
from eiesim.simulation import check_layer_matches


class Tables(NamedTuple):
    """What :func:`eiesim.engines._kernels.prepare_layer` makes of a layer."""

    addr: np.ndarray
    table: np.ndarray  # narrowed to int16 when every value fits
    col_ptr: np.ndarray
    col_row: np.ndarray  # narrowed to uint16 when every row fits
    col_code: np.ndarray


_TABLES: weakref.WeakKeyDictionary[EncodedLayer, Tables] = weakref.WeakKeyDictionary()


def run(layer: EncodedLayer, acts_converted: np.ndarray, config: ArchConfig) -> EngineRun:
    """Simulate ``layer`` for converted activations (length K, bias included)."""
    check_layer_matches(layer, config)
    acts = _checked_acts(layer, acts_converted, config)
    tables = layer_tables(layer)
    cols = np.flatnonzero(acts).astype(np.int64)  # J_1 < ... < J_K'
    m = layer.shape[0]
    lo, hi = value_range(config)
    f = config.weight_frac_bits
    timing_args = (tables.addr, tables.table, cols, config.queue_depth, config.lnzd_latency,
                   *row_divisor(config.entries_per_row), config.rows_per_block, m)
    output_args = (tables.col_ptr, tables.col_row, tables.col_code, cols,
                   convert_codebook(layer.codebook, config), acts, m, (1 << f) >> 1, f, lo, hi)
    _compile(layer_timing, timing_args)
    _compile(layer_output, output_args)

    began = time.perf_counter()
    counters, busy, starved, real, block_cycles = layer_timing(*timing_args)
    acc = layer_output(*output_args)
    wall = time.perf_counter() - began

    out = to_real(acc, config)
    return EngineRun(
        cycles=int(block_cycles.sum()),
        block_cycles=[int(c) for c in block_cycles],
        counters=Counters.from_array(counters),
        per_pe=PerPE(busy=busy, starved=starved, real=real),
        output=np.maximum(out, 0.0) if layer.activation == "relu" else out,
        sim_wall_s=wall,
    )


def layer_tables(layer: EncodedLayer) -> Tables:
    """The layer's column tables, validated and built on first use, then kept with it."""
    tables = _TABLES.get(layer)
    if tables is None:
        args = (*_checked_layer_arrays(layer), layer.rows_per_block, layer.shape[0])
        _compile(prepare_layer, args)
        addr, table, col_ptr, col_row, col_code, overflow = prepare_layer(*args)
        if overflow >= 0:
            t, p = divmod(int(overflow), layer.n_pe)
            raise EieError(f"layer {layer.name!r}: block {t}, PE {p} has an entry beyond its rows")
        # Narrow types move less memory: the kernels are bound by cache misses.
        tables = _TABLES[layer] = Tables(
            addr, _narrowest(table, np.int16), col_ptr, _narrowest(col_row, np.uint16), col_code)
    return tables


def _narrowest(values: np.ndarray, narrow) -> np.ndarray:
    """``values`` as dtype ``narrow`` when every value fits, else unchanged."""
    info = np.iinfo(narrow)
    if values.size == 0 or (values.min() >= info.min and values.max() <= info.max):
        return values.astype(narrow)
    return values


_COMPILED: set[tuple] = set()


def _compile(kernel, args) -> None:
    """Compile (or load from cache) ``kernel`` for these argument types before timing.

    Asking numba costs about 0.5 ms a call; a key of dtypes and shapes' ranks costs
    microseconds, which matters for sweeps of many small layers.
    """
    if not hasattr(kernel, "compile"):  # a plain function when NUMBA_DISABLE_JIT=1
        return
    key = (kernel.__name__, *((a.dtype.str, a.ndim, a.flags.c_contiguous) if isinstance(a, np.ndarray)
                              else type(a) for a in args))
    if key not in _COMPILED:
        kernel.compile(tuple(numba.typeof(a) for a in args))
        _COMPILED.add(key)


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


def _checked_layer_arrays(layer: EncodedLayer):
    """ptr, start, code, rel as contiguous arrays, after checks that keep kernels in bounds."""
    m, k = layer.shape
    blocks = -(-m // layer.rows_per_block)
    ptr = np.ascontiguousarray(layer.ptr, np.int64)
    start = np.ascontiguousarray(layer.start, np.int64)
    if ptr.shape != (blocks, layer.n_pe, k + 1):
        raise EieError(f"layer {layer.name!r}: pointers have shape {ptr.shape}, expected {(blocks, layer.n_pe, k + 1)}")
    if np.any(ptr[:, :, 0] != 0) or np.any(np.diff(ptr, axis=2) < 0):
        raise EieError(f"layer {layer.name!r}: column pointers must start at 0 and never decrease")
    if start.shape != (blocks * layer.n_pe + 1,) or start[0] != 0 or np.any(np.diff(start) != ptr[:, :, k].ravel()):
        raise EieError(f"layer {layer.name!r}: list offsets do not match the pointers")
    if start[-1] >= 2**ADDRESS_BITS:
        raise EieError(f"layer {layer.name!r}: {start[-1]} entries exceed the fast engine's limit of 2^{ADDRESS_BITS}")
    code, rel = np.asarray(layer.code), np.asarray(layer.rel)
    if code.shape != (start[-1],) or rel.shape != (start[-1],):
        raise EieError(f"layer {layer.name!r}: {start[-1]} entries expected, got {code.shape} codes and {rel.shape} indices")
    for name, values, bits in (("weight code", code, layer.weight_bits), ("relative index", rel, layer.index_bits)):
        if values.size and (values.dtype.kind not in "ui" or values.min() < 0 or values.max() >= 1 << bits):
            raise EieError(f"layer {layer.name!r}: every {name} must be an integer in 0..{(1 << bits) - 1}")
    if np.asarray(layer.codebook).shape != (1 << layer.weight_bits,):
        raise EieError(f"layer {layer.name!r}: the codebook must have {1 << layer.weight_bits} entries")
    rel_type = np.uint8 if layer.index_bits <= 8 else np.uint16
    return ptr, start, np.ascontiguousarray(code, np.uint8), np.ascontiguousarray(rel, rel_type)
