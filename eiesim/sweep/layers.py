"""Layers for sweeps: generated and weight-shared once, then interleaved per PE array.

Weight sharing (k-means) depends only on (layer, seed, weight_bits), the interleaved CSC
also on (n_pe, accumulators_per_pe, index_bits). A :class:`SourceLayer` holds the first
stage; :func:`encode` does the second. Shared layers are memoised in each worker process
and, when a cache folder is given, kept there as ``.npz`` files (written atomically);
:func:`encoded_layer` also keeps the interleaved layer there, for one-off runs.
:func:`cache_folder` names that folder after the encoding version (``eiesim.sweep.fingerprint``)
and each file carries its source's version, so a new version never reuses stale weights. The
folder is a disk cache of :mod:`eiecore.caches`: marked, size-bounded, least recently used
entries out, and it never touches a file it did not make.
"""

from __future__ import annotations

import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compressor.csc import EncodedLayer, SharedMatrix, share_matrix
from eiecore.atomic import write_atomic
from eiecore.caches import DISK_PREFIX, Cache, disk_entry, disk_evict, disk_folder, disk_used
from eiesim.config import ArchConfig
from eiesim.modelfile import npz_members
from eiesim.sweep import fingerprint
from eiesim.sweep.sources import LayerSource, resolve

_MEMO = Cache("sweep weight-shared layers", maxsize=3)  # (name, seed, weight_bits) -> SourceLayer


@dataclass(frozen=True, eq=False)
class SourceLayer:
    """A layer source's matrix after weight sharing, with its activations: what stays the
    same for every PE array the sweep encodes it for."""

    name: str
    weights: SharedMatrix
    acts: np.ndarray  # float64, length K less bias
    activation: str

    @property
    def shape(self) -> tuple[int, int]:
        return self.weights.shape


def _generate(source: LayerSource, seed: int, weight_bits: int) -> SourceLayer:
    weights, acts = source.generate(seed)
    shared = share_matrix(weights, weight_bits, source.has_bias)
    return SourceLayer(source.name, shared, np.asarray(acts, np.float64), source.activation)


def default_cache_dir() -> Path:
    """Where weight-shared layers are kept between runs: ``$XDG_CACHE_HOME/eiesim/layers``."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "eiesim" / "layers"


def cache_folder(root: str | Path) -> Path:
    """The marked cache folder for this code under ``root`` (made if missing); other
    versions' folders stay, their entries leave only as least recently used ones."""
    return disk_folder(root, f"code-{fingerprint.generator()}")


def default_cache_folder() -> str | None:
    """This code's folder under :func:`default_cache_dir`, or None where it cannot be made
    (a read-only home): then layers are only memoised in this process."""
    try:
        return str(cache_folder(default_cache_dir()))
    except OSError:
        return None


def _stem(source: LayerSource, seed: int, weight_bits: int) -> str:
    return f"{source.name}-v{source.version}-s{seed}-b{weight_bits}"


def _cache_file(cache_dir: Path, source: LayerSource, seed: int, weight_bits: int) -> Path:
    return disk_entry(cache_dir, _stem(source, seed, weight_bits))


def _store_entry(path: Path, arrays: dict) -> None:
    """Write a cache entry atomically (its marked folder made again if it is missing),
    then evict the least recently used entries beyond the budget. An unwritable cache (a
    remote worker, a full disk) only costs time."""
    try:
        if not path.parent.is_dir():  # a worker on another machine, or the folder removed meanwhile
            disk_folder(path.parent.parent, path.parent.name.removeprefix(DISK_PREFIX))
        write_atomic(path, lambda tmp: np.savez(tmp, **arrays))
        disk_evict(path)
    except OSError:
        pass


def _save(path: Path, layer: SourceLayer) -> None:
    w = layer.weights
    _store_entry(path, dict(
        rows=w.rows, cols=w.cols, codes=w.codes, codebook=w.codebook, acts=layer.acts,
        bias_codebook=np.zeros(0) if w.bias_codebook is None else w.bias_codebook,
        shape=np.array(w.shape), meta=np.array([layer.name, str(w.has_bias), layer.activation])))


def _load(path: Path, name: str, weight_bits: int) -> SourceLayer | None:
    """The cached layer, or None if it is missing, unreadable or inconsistent: a cache miss.

    The zip's CRC-32 catches flipped bits; the checks below catch a file that reads but is
    not this layer (another name, mismatched arrays, codes outside the codebook).
    """
    try:
        _check_size(path)
        with np.load(path, allow_pickle=False) as z:
            stored, bias, act = (str(v) for v in z["meta"])
            has_bias = bias == "True"
            w = SharedMatrix(tuple(int(v) for v in z["shape"]), z["rows"], z["cols"], z["codes"], z["codebook"],
                             z["bias_codebook"] if has_bias else None)
            layer = SourceLayer(stored, w, z["acts"], act)
    except Exception:  # zipfile, zlib and numpy each fail their own way on a damaged file
        return None
    n = w.codes.size
    consistent = (
        layer.name == name and len(w.shape) == 2 and w.rows.shape == w.cols.shape == (n,)
        and w.codes.dtype == np.uint8 and w.codebook.shape == (2**weight_bits,)
        and (n == 0 or (w.codes.min() >= 1 and w.codes.max() < 2**weight_bits
                        and w.rows.min() >= 0 and w.rows.max() < w.shape[0]
                        and w.cols.min() >= 0 and w.cols.max() < w.shape[1]))
        and bool(np.all(np.isfinite(w.codebook))) and layer.acts.ndim == 1
        and (w.bias_codebook is None or w.bias_codebook.shape == (2**weight_bits,))
    )
    return layer if consistent else None


def _check_size(path: Path) -> None:
    """An :class:`EieError` unless the entry's arrays are as large as their headers say and
    within the model file's cap (:func:`eiesim.modelfile.npz_members`): a damaged or
    planted entry cannot make a load allocate gigabytes."""
    with zipfile.ZipFile(path) as archive:
        npz_members(archive, path.stat().st_size, f"cache entry {path.name}")


def shared_layer(layer: "str | LayerSource", seed: int, weight_bits: int, cache_dir: str | None = None) -> SourceLayer:
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
            _save(path, layer)
    else:
        disk_used(path)
    _MEMO[key] = layer
    return layer


def size_hint(layer: "str | LayerSource") -> float:
    """Expected kept weights of a layer, to schedule big layers first."""
    return resolve(layer).size_hint()


def encode(layer: SourceLayer, config: ArchConfig) -> EncodedLayer:
    """Interleave a shared layer for ``config``'s PE array."""
    return layer.weights.interleave(config, name=layer.name, activation=layer.activation)


def _encoded_file(cache_dir: Path, source: LayerSource, seed: int, config: ArchConfig) -> Path:
    c = config
    return disk_entry(cache_dir, f"{_stem(source, seed, c.weight_bits)}-n{c.n_pe}-r{c.accumulators_per_pe}"
                                 f"-x{c.index_bits}")


def encoded_layer(name: str, seed: int, config: ArchConfig,
                  cache_dir: str | None = None) -> tuple[EncodedLayer, np.ndarray]:
    """The layer interleaved for ``config`` and its activations, for one-off runs
    (``simulate``, ``energy``, ``baseline``): with a cache folder the encoding is kept there
    too, so a repeated run of the same array only loads it."""
    shared = shared_layer(name, seed, config.weight_bits, cache_dir)
    path = _encoded_file(Path(cache_dir), resolve(name), seed, config) if cache_dir else None
    if path is not None and path.exists():
        try:
            _check_size(path)
            with np.load(path, allow_pickle=False) as z:
                disk_used(path)
                return EncodedLayer(
                    shape=shared.shape, n_pe=config.n_pe, accumulators_per_pe=config.accumulators_per_pe,
                    index_bits=config.index_bits, weight_bits=config.weight_bits, codebook=shared.weights.codebook,
                    code=z["code"], rel=z["rel"], ptr=z["ptr"], start=z["start"], name=shared.name,
                    has_bias=shared.weights.has_bias, activation=shared.activation,
                    bias_codebook=shared.weights.bias_codebook), shared.acts
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            pass  # unreadable: encode again
    layer = encode(shared, config)
    if path is not None:
        _store_entry(path, dict(code=layer.code, rel=layer.rel, ptr=layer.ptr, start=layer.start))
    return layer, shared.acts


def prepare(layer: "str | LayerSource", seed: int, weight_bits: int, cache_dir: str | None = None) -> float:
    """Make sure a shared layer is in the cache (a sweep's first stage); returns seconds spent."""
    t0 = time.perf_counter()
    shared_layer(layer, seed, weight_bits, cache_dir)
    return time.perf_counter() - t0
