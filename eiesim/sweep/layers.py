"""Layers for sweeps: generated and weight-shared once, then interleaved per PE array.

Weight sharing (k-means) depends only on (layer, seed, weight_bits), the interleaved CSC
also on (n_pe, accumulators_per_pe, index_bits). A :class:`SharedLayer` holds the first
stage; :func:`encode` does the second. Shared layers are memoised in each worker process
and, when a cache folder is given, kept there as ``.npz`` files (written atomically);
:func:`encoded_layer` also keeps the interleaved layer there, for one-off runs.
:func:`cache_folder` names that folder after a fingerprint of the generating code, fixed
once per run by the caller, so a change to that code never reuses stale weights.
"""

from __future__ import annotations

import os
import shutil
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compressor.csc import EncodedLayer, as_coo, interleave, share_layer_weights
from eiesim.atomic import write_atomic
from eiesim.config import ArchConfig
from eiesim.sweep import fingerprint

_MEMO: OrderedDict[tuple, "SharedLayer"] = OrderedDict()
_MEMO_SIZE = 3


@dataclass(frozen=True)
class SharedLayer:
    """A layer after pruning and weight sharing, before interleaving: COO + codes + inputs."""

    name: str
    shape: tuple[int, int]
    rows: np.ndarray  # int32
    cols: np.ndarray  # int32
    codes: np.ndarray  # uint8, 1..2^b - 1
    codebook: np.ndarray  # float64
    acts: np.ndarray  # float64, length K less bias
    has_bias: bool
    activation: str
    bias_codebook: np.ndarray | None = None  # the bias column's own codebook (has_bias)


def _generate(name: str, seed: int, weight_bits: int) -> SharedLayer:
    from compressor.synthetic import random_activations, random_sparse_weights
    from workloads.benchmarks import benchmark_activations, benchmark_weights, get_benchmark

    if name.startswith("synth:"):
        _, dims, w, a = name.split(":")
        m, k = (int(v) for v in dims.split("x"))
        w_ss, a_ss = np.random.SeedSequence([seed, zlib.crc32(name.encode())]).spawn(2)
        weights = random_sparse_weights((m, k), float(w), np.random.default_rng(w_ss))
        acts = random_activations(k, float(a), np.random.default_rng(a_ss))
        has_bias, activation = False, "relu"
    else:
        bench = get_benchmark(name)
        weights, acts = benchmark_weights(name, seed), benchmark_activations(name, seed)
        has_bias, activation = bench.has_bias, bench.activation
    coo = as_coo(weights)
    codes, codebook, bias_codebook = share_layer_weights(coo, has_bias, weight_bits)
    return SharedLayer(name, tuple(coo.shape), coo.row.astype(np.int32), coo.col.astype(np.int32),
                       codes, codebook, np.asarray(acts, np.float64), has_bias, activation, bias_codebook)


def default_cache_dir() -> Path:
    """Where weight-shared layers are kept between runs: ``$XDG_CACHE_HOME/eiesim/layers``."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "eiesim" / "layers"


def cache_folder(root: str | Path) -> Path:
    """The cache folder for this code under ``root``; folders of older code are removed."""
    root = Path(root)
    folder = root / f"code-{fingerprint.generator()}"
    if not folder.is_dir():
        for old in root.glob("code-*"):
            shutil.rmtree(old, ignore_errors=True)  # a run still using one just regenerates
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def default_cache_folder() -> str | None:
    """This code's folder under :func:`default_cache_dir`, or None where it cannot be made
    (a read-only home): then layers are only memoised in this process."""
    try:
        return str(cache_folder(default_cache_dir()))
    except OSError:
        return None


def _cache_file(cache_dir: Path, name: str, seed: int, weight_bits: int) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return cache_dir / f"{safe}-s{seed}-b{weight_bits}.npz"


def _save(path: Path, layer: SharedLayer) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda tmp: np.savez(
        tmp, rows=layer.rows, cols=layer.cols, codes=layer.codes, codebook=layer.codebook, acts=layer.acts,
        bias_codebook=np.zeros(0) if layer.bias_codebook is None else layer.bias_codebook,
        shape=np.array(layer.shape), meta=np.array([layer.name, str(layer.has_bias), layer.activation])))


def _load(path: Path) -> SharedLayer | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            name, bias, act = (str(v) for v in z["meta"])
            bias_codebook = z["bias_codebook"] if z["bias_codebook"].size else None
            return SharedLayer(name, tuple(int(v) for v in z["shape"]), z["rows"], z["cols"], z["codes"],
                               z["codebook"], z["acts"], bias == "True", act, bias_codebook)
    except (OSError, KeyError, ValueError):
        return None  # missing or unreadable: regenerate (the write is atomic, so rare)


def shared_layer(name: str, seed: int, weight_bits: int, cache_dir: str | None = None) -> SharedLayer:
    """The weight-shared layer, from this process's memo, the cache folder or generated."""
    key = (name, seed, weight_bits)
    if key in _MEMO:
        _MEMO.move_to_end(key)
        return _MEMO[key]
    path = _cache_file(Path(cache_dir), name, seed, weight_bits) if cache_dir else None
    layer = _load(path) if path is not None and path.exists() else None
    if layer is None:
        layer = _generate(name, seed, weight_bits)
        if path is not None:
            try:
                _save(path, layer)
            except OSError:
                pass  # an unwritable cache (e.g. a remote worker) only costs time
    _MEMO[key] = layer
    while len(_MEMO) > _MEMO_SIZE:
        _MEMO.popitem(last=False)
    return layer


def size_hint(name: str) -> float:
    """Expected kept weights of a layer spec (M x K x density), to schedule big layers first."""
    if name.startswith("synth:"):
        _, dims, w, _ = name.split(":")
        m, k = (int(v) for v in dims.split("x"))
        return m * k * float(w)
    from workloads.benchmarks import get_benchmark

    bench = get_benchmark(name)
    return bench.outputs * bench.inputs * bench.weight_density


def encode(layer: SharedLayer, config: ArchConfig) -> EncodedLayer:
    """Interleave a shared layer for ``config``'s PE array."""
    return interleave(layer.rows, layer.cols, layer.codes, layer.shape, layer.codebook, config,
                      name=layer.name, has_bias=layer.has_bias, activation=layer.activation,
                      bias_codebook=layer.bias_codebook)


def _encoded_file(cache_dir: Path, name: str, seed: int, config: ArchConfig) -> Path:
    c = config
    stem = _cache_file(cache_dir, name, seed, c.weight_bits).stem
    return cache_dir / f"{stem}-n{c.n_pe}-r{c.accumulators_per_pe}-x{c.index_bits}.npz"


def encoded_layer(name: str, seed: int, config: ArchConfig,
                  cache_dir: str | None = None) -> tuple[EncodedLayer, np.ndarray]:
    """The layer interleaved for ``config`` and its activations, for one-off runs
    (``simulate``, ``energy``, ``baseline``): with a cache folder the encoding is kept there
    too, so a repeated run of the same array only loads it."""
    shared = shared_layer(name, seed, config.weight_bits, cache_dir)
    path = _encoded_file(Path(cache_dir), name, seed, config) if cache_dir else None
    if path is not None and path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                return EncodedLayer(
                    shape=shared.shape, n_pe=config.n_pe, accumulators_per_pe=config.accumulators_per_pe,
                    index_bits=config.index_bits, weight_bits=config.weight_bits, codebook=shared.codebook,
                    code=z["code"], rel=z["rel"], ptr=z["ptr"], start=z["start"], name=shared.name,
                    has_bias=shared.has_bias, activation=shared.activation,
                    bias_codebook=shared.bias_codebook), shared.acts
        except (OSError, KeyError, ValueError):
            pass  # unreadable: encode again
    layer = encode(shared, config)
    if path is not None:
        try:
            write_atomic(path, lambda tmp: np.savez(tmp, code=layer.code, rel=layer.rel, ptr=layer.ptr,
                                                    start=layer.start))
        except OSError:
            pass
    return layer, shared.acts


def prepare(name: str, seed: int, weight_bits: int, cache_dir: str | None = None) -> float:
    """Make sure a shared layer is in the cache (a sweep's first stage); returns seconds spent."""
    import time

    t0 = time.perf_counter()
    shared_layer(name, seed, weight_bits, cache_dir)
    return time.perf_counter() - t0
