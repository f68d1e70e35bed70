"""Layers for sweeps: generated and weight-shared once, then interleaved per PE array.

Weight sharing (k-means) depends only on (layer, seed, weight_bits), the interleaved CSC
also on (n_pe, accumulators_per_pe, index_bits). A :class:`SharedLayer` holds the first
stage; :func:`encode` does the second. Shared layers are memoised in each worker process
and, when a cache folder is given, kept there as ``.npz`` files (written atomically);
:func:`encoded_layer` also keeps the interleaved layer there, for one-off runs.
:func:`cache_folder` names that folder after the encoding version (``eiesim.sweep.fingerprint``)
and each file carries its source's version, so a new version never reuses stale weights.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compressor.csc import EncodedLayer, as_coo, interleave, share_layer_weights
from eiecore.atomic import write_atomic
from eiecore.caches import Cache
from eiesim.config import ArchConfig
from eiesim.sweep import fingerprint
from eiesim.sweep.sources import LayerSource, resolve

_MEMO = Cache("sweep weight-shared layers", maxsize=3)  # (name, seed, weight_bits) -> SharedLayer


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


def _generate(source: LayerSource, seed: int, weight_bits: int) -> SharedLayer:
    weights, acts = source.generate(seed)
    coo = as_coo(weights)
    codes, codebook, bias_codebook = share_layer_weights(coo, source.has_bias, weight_bits)
    return SharedLayer(source.name, tuple(coo.shape), coo.row.astype(np.int32), coo.col.astype(np.int32),
                       codes, codebook, np.asarray(acts, np.float64), source.has_bias, source.activation,
                       bias_codebook)


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


def _cache_file(cache_dir: Path, source: LayerSource, seed: int, weight_bits: int) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in source.name)
    return cache_dir / f"{safe}-v{source.version}-s{seed}-b{weight_bits}.npz"


def _save(path: Path, layer: SharedLayer) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda tmp: np.savez(
        tmp, rows=layer.rows, cols=layer.cols, codes=layer.codes, codebook=layer.codebook, acts=layer.acts,
        bias_codebook=np.zeros(0) if layer.bias_codebook is None else layer.bias_codebook,
        shape=np.array(layer.shape), meta=np.array([layer.name, str(layer.has_bias), layer.activation])))


def _load(path: Path, name: str, weight_bits: int) -> SharedLayer | None:
    """The cached layer, or None if it is missing, unreadable or inconsistent: a cache miss.

    The zip's CRC-32 catches flipped bits; the checks below catch a file that reads but is
    not this layer (another name, mismatched arrays, codes outside the codebook).
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            stored, bias, act = (str(v) for v in z["meta"])
            bias_codebook = z["bias_codebook"] if z["bias_codebook"].size else None
            layer = SharedLayer(stored, tuple(int(v) for v in z["shape"]), z["rows"], z["cols"], z["codes"],
                                z["codebook"], z["acts"], bias == "True", act, bias_codebook)
    except Exception:  # zipfile, zlib and numpy each fail their own way on a damaged file
        return None
    n = layer.codes.size
    consistent = (
        layer.name == name and len(layer.shape) == 2 and layer.rows.shape == layer.cols.shape == (n,)
        and layer.codes.dtype == np.uint8 and layer.codebook.shape == (2**weight_bits,)
        and (n == 0 or (layer.codes.min() >= 1 and layer.codes.max() < 2**weight_bits
                        and layer.rows.min() >= 0 and layer.rows.max() < layer.shape[0]
                        and layer.cols.min() >= 0 and layer.cols.max() < layer.shape[1]))
        and bool(np.all(np.isfinite(layer.codebook))) and layer.acts.ndim == 1
        and (layer.bias_codebook is None or layer.bias_codebook.shape == (2**weight_bits,))
    )
    return layer if consistent else None


def shared_layer(layer: "str | LayerSource", seed: int, weight_bits: int, cache_dir: str | None = None) -> SharedLayer:
    """The weight-shared layer (a name or a source), from this process's memo, the cache
    folder or generated."""
    source = resolve(layer)
    name = source.name
    key = (name, seed, weight_bits)
    if key in _MEMO:
        return _MEMO[key]
    path = _cache_file(Path(cache_dir), source, seed, weight_bits) if cache_dir else None
    layer = _load(path, source.name, weight_bits) if path is not None and path.exists() else None
    if layer is None:
        layer = _generate(source, seed, weight_bits)
        if path is not None:
            try:
                _save(path, layer)
            except OSError:
                pass  # an unwritable cache (e.g. a remote worker) only costs time
    _MEMO[key] = layer
    return layer


def size_hint(layer: "str | LayerSource") -> float:
    """Expected kept weights of a layer, to schedule big layers first."""
    return resolve(layer).size_hint()


def encode(layer: SharedLayer, config: ArchConfig) -> EncodedLayer:
    """Interleave a shared layer for ``config``'s PE array."""
    return interleave(layer.rows, layer.cols, layer.codes, layer.shape, layer.codebook, config,
                      name=layer.name, has_bias=layer.has_bias, activation=layer.activation,
                      bias_codebook=layer.bias_codebook)


def _encoded_file(cache_dir: Path, source: LayerSource, seed: int, config: ArchConfig) -> Path:
    c = config
    stem = _cache_file(cache_dir, source, seed, c.weight_bits).stem
    return cache_dir / f"{stem}-n{c.n_pe}-r{c.accumulators_per_pe}-x{c.index_bits}.npz"


def encoded_layer(name: str, seed: int, config: ArchConfig,
                  cache_dir: str | None = None) -> tuple[EncodedLayer, np.ndarray]:
    """The layer interleaved for ``config`` and its activations, for one-off runs
    (``simulate``, ``energy``, ``baseline``): with a cache folder the encoding is kept there
    too, so a repeated run of the same array only loads it."""
    shared = shared_layer(name, seed, config.weight_bits, cache_dir)
    path = _encoded_file(Path(cache_dir), resolve(name), seed, config) if cache_dir else None
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


def prepare(layer: "str | LayerSource", seed: int, weight_bits: int, cache_dir: str | None = None) -> float:
    """Make sure a shared layer is in the cache (a sweep's first stage); returns seconds spent."""
    t0 = time.perf_counter()
    shared_layer(layer, seed, weight_bits, cache_dir)
    return time.perf_counter() - t0
