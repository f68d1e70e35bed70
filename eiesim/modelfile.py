"""The compressed-model file (SPEC §3): one versioned, self-describing, checksummed ``.npz``.

Layout: for layer i the arrays ``layer<i>.code``, ``.rel`` (uint8), ``.ptr``, ``.start``
(int64) of :class:`~compressor.csc.EncodedLayer`, plus ``manifest``: UTF-8 JSON holding
the format name and version, the architecture config, the source, free metadata, and per
layer its name, shape, N, R, bit widths, codebook, bias and activation; ``host.<name>``
arrays (float64, int64 or bool) are the tensors a captured network's host operations use
(``"host_arrays"`` in the manifest lists them). ``metadata["network"]``, when present,
is the network description, checked by :func:`eiesim.graph.check_network`. ``sha256`` in the
manifest covers the manifest itself (less that field) and every array's name, dtype, shape
and bytes, so the codebooks are covered too.

Loading checks everything and raises :class:`EieError` naming the problem (unreadable,
truncated, wrong format or version, missing or unexpected array, checksum mismatch, or an
encoding that is not a valid interleaved CSC); it never returns wrong data. Files are
written atomically, so a failed save leaves no partial file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compressor.csc import EncodedLayer, validate_layer
from eiecore.atomic import write_atomic
from eiecore.encoding import FIELDS as ENCODING_FIELDS
from eiecore.encoding import check_same
from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.graph import HOST_ARRAY_DTYPES, check_network

FORMAT = "eiesim-compressed-model"
VERSION = 3  # 3 added host arrays; 2 the per-layer "bias_codebook" (version 1: bias in the codebook)
READABLE_VERSIONS = (1, 2, 3)
MAX_MANIFEST_BYTES = 64 * 2**20
# The arrays a file may inflate to: every member's size must match the shapes its manifest
# declares, and all of them together may not exceed this floor plus this many times the
# file's own size, so a small file cannot claim gigabytes (a real model compresses its
# pointers far less; a mostly empty layer's pointer table fits the floor).
MAX_INFLATED_FLOOR = 64 * 2**20
MAX_INFLATION = 64
CHUNK_BYTES = 2**20
ARRAYS = {"code": (np.uint8, 1), "rel": (np.uint8, 1), "ptr": (np.int64, 3), "start": (np.int64, 1)}


@dataclass(frozen=True, eq=False)
class CompressedModel:
    """The encoded layers of one model, the array they were encoded for, and provenance.

    ``metadata`` is free JSON (e.g. how the weights were pruned); ``source`` says where the
    weights came from (a file, a benchmark name, a torch module).
    """

    layers: tuple[EncodedLayer, ...]
    config: ArchConfig
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    format_version: int = VERSION  # of the file it was read from (a model made here: this eiesim's)
    host_arrays: dict[str, np.ndarray] = field(default_factory=dict)  # tensors of host operations

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise EieError("a compressed model needs at least one layer")
        names = [layer.name for layer in self.layers]
        if any(not name for name in names) or len(set(names)) != len(names):
            raise EieError(f"layer names must be non-empty and distinct, got {names}")
        for layer in self.layers:
            check_same(layer, self.config, "the model's config")
        for name, array in self.host_arrays.items():
            if type(name) is not str or not name or np.asarray(array).dtype not in HOST_ARRAY_DTYPES:
                raise EieError(f"host array {name!r} must have a name and be float64, int64 or bool")
        if "network" in self.metadata:
            check_network(self.metadata["network"], {layer.name: layer for layer in self.layers}, self.host_arrays)
        elif self.host_arrays:
            raise EieError("host arrays need a network description that uses them")

    @property
    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def layer(self, name: str) -> EncodedLayer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise EieError(f"no layer {name!r} in the model; it has {', '.join(self.names)}")


def save_model(path: str | os.PathLike, model: CompressedModel) -> Path:
    """Write ``model`` to ``path`` atomically (temporary file, then rename)."""
    return write_atomic(path, model_writer(model))


def model_writer(model: CompressedModel):
    """A function writing ``model`` into the file it is given (for :mod:`eiecore.atomic`)."""
    arrays: dict[str, np.ndarray] = {}
    layers = []
    for i, layer in enumerate(model.layers):
        for name, (dtype, _) in ARRAYS.items():
            arrays[f"layer{i}.{name}"] = np.ascontiguousarray(getattr(layer, name), dtype)
        layers.append({
            "name": layer.name, "shape": list(layer.shape),
            **{name: getattr(layer, name) for name in ENCODING_FIELDS},
            "has_bias": layer.has_bias, "activation": layer.activation,
            "codebook": [float(v) for v in layer.codebook],
            "bias_codebook": None if layer.bias_codebook is None else [float(v) for v in layer.bias_codebook],
        })
    for name, array in model.host_arrays.items():
        arrays[f"host.{name}"] = np.ascontiguousarray(array)
    manifest = {
        "format": FORMAT, "version": VERSION, "source": model.source,
        "config": model.config.model_dump(), "metadata": model.metadata, "layers": layers,
    }
    if model.host_arrays:
        manifest["host_arrays"] = list(model.host_arrays)
    try:
        manifest["sha256"] = _checksum(manifest, arrays)
        text = json.dumps(manifest, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise EieError(f"model metadata is not plain JSON: {exc}") from None

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # np.savez given a name would append .npz to any other suffix
            np.savez_compressed(f, manifest=np.frombuffer(text.encode(), np.uint8), **arrays)

    return write


def load_model(path: str | os.PathLike) -> CompressedModel:
    """Read and fully validate a model file written by :func:`save_model`.

    Memory stays bounded by what the file really holds: every member's size is checked
    against its ``.npy`` header, the file's size, the shapes the manifest declares and
    :func:`max_inflated_bytes`; the checksum is computed by streaming the members, and
    arrays are read only once it matches.
    """
    where = f"model file {path}"
    with _archive(path) as archive:
        try:
            members = npz_members(archive, os.path.getsize(path), where)
            if "manifest" not in members:
                raise EieError(f"{where} has no manifest: not an eiesim model file")
            if members["manifest"][2].file_size > MAX_MANIFEST_BYTES:
                raise EieError(f"{where}: the manifest is {members['manifest'][2].file_size} bytes, more than "
                               f"{MAX_MANIFEST_BYTES}")
            manifest_bytes = _read_member(archive, members["manifest"]).tobytes()
            manifest = _parse_manifest(manifest_bytes, where)
            layer_specs = _get(manifest, "layers", list, where)
            host_names = manifest.get("host_arrays", [])
            if type(host_names) is not list or not all(type(n) is str and n for n in host_names):
                raise EieError(f"{where}: manifest field 'host_arrays' is not a list of names")
            expected = {f"layer{i}.{name}" for i in range(len(layer_specs)) for name in ARRAYS}
            expected |= {f"host.{name}" for name in host_names}
            names = members.keys() - {"manifest"}
            missing, unexpected = sorted(expected - names), sorted(names - expected)
            if missing:
                raise EieError(f"{where} is missing array {missing[0]}")
            if unexpected:
                raise EieError(f"{where} has an unexpected array {unexpected[0]}")
            config = _config(manifest, where)
            _check_sizes(layer_specs, members, config, where)
            stored = manifest.pop("sha256", None)
            if stored != _streamed_checksum(manifest, archive, {n: members[n] for n in names}):
                raise EieError(f"{where}: checksum mismatch, the file is corrupt or was modified")
            arrays = {name: _read_member(archive, members[name]) for name in names}
        except EieError:
            raise
        except Exception as exc:  # zipfile, zlib and numpy each have their own ways to fail
            raise EieError(f"{where} is corrupt or truncated ({' '.join(str(exc).split())})") from None
    layers = [
        _layer(spec, {name: arrays[f"layer{i}.{name}"] for name in ARRAYS}, config, f"{where}, layer {i}")
        for i, spec in enumerate(layer_specs)
    ]
    source, metadata = _get(manifest, "source", str, where), _get(manifest, "metadata", dict, where)
    host = {name: arrays[f"host.{name}"] for name in host_names}
    try:
        return CompressedModel(layers, config, source=source, metadata=metadata, format_version=manifest["version"],
                               host_arrays=host)
    except EieError as exc:
        raise EieError(f"{where}: {exc}") from None


def max_inflated_bytes(file_size: int) -> int:
    """The most bytes a model file of ``file_size`` bytes may hold once decompressed."""
    return MAX_INFLATED_FLOOR + MAX_INFLATION * file_size


def _config(manifest: dict, where: str) -> ArchConfig:
    try:
        return ArchConfig.make(**_get(manifest, "config", dict, where))
    except EieError as exc:
        raise EieError(f"{where}: {exc}") from None


def _dims(spec: Any, config: ArchConfig, where: str) -> list[int]:
    """The layer's M, K and encoding fields: positive integers, the encoding the config's."""
    if not isinstance(spec, dict):
        raise EieError(f"{where}: the layer description is not an object")
    shape = _get(spec, "shape", list, where)
    ints = [shape[0] if len(shape) == 2 else None, shape[1] if len(shape) == 2 else None,
            *(spec.get(name) for name in ENCODING_FIELDS)]
    if any(type(v) is not int or v < 1 for v in ints):
        raise EieError(f"{where}: shape, n_pe, accumulators_per_pe and bit widths must be positive integers")
    for name in ENCODING_FIELDS:
        if spec[name] != getattr(config, name):
            raise EieError(f"{where}: encoded with {name}={spec[name]}, the model's config has {getattr(config, name)}")
    return ints


def _check_sizes(specs: list, members: dict[str, tuple], config: ArchConfig, where: str) -> None:
    """Before anything is decompressed: each layer's arrays have the shapes its manifest
    entry implies (code and rel at most one entry per local row of each column)."""
    for i, spec in enumerate(specs):
        m, k, n, r = _dims(spec, config, f"{where}, layer {i}")[:4]
        blocks = -(-m // (n * r))
        shapes = {name: members[f"layer{i}.{name}"][1] for name in ARRAYS}
        expected = {"ptr": (blocks, n, k + 1), "start": (blocks * n + 1,)}
        for name, shape in expected.items():
            if shapes[name] != shape:
                raise EieError(f"{where}, layer {i}: {name} has shape {shapes[name]}, expected {shape} for the "
                               f"{m} x {k} layer its manifest declares ({n} PEs x {r} accumulators)")
        entries = shapes["code"]
        if shapes["rel"] != entries:
            raise EieError(f"{where}, layer {i}: rel has shape {shapes['rel']}, code has {entries}")
        if len(entries) != 1 or entries[0] > blocks * n * r * k:
            raise EieError(f"{where}, layer {i}: code has shape {entries}, not at most {blocks * n * r * k} "
                           f"entries (one per local row of each column)")


def _layer(spec: Any, arrays: dict[str, np.ndarray], config: ArchConfig, where: str) -> EncodedLayer:
    shape = _dims(spec, config, where)[:2]
    codebook = _numbers(_get(spec, "codebook", list, where), "codebook", where)
    bias_codebook = spec.get("bias_codebook")
    if bias_codebook is not None:
        if not isinstance(bias_codebook, list):
            raise EieError(f"{where}: manifest field 'bias_codebook' is not a list")
        bias_codebook = _numbers(bias_codebook, "bias codebook", where)
    for name, (dtype, ndim) in ARRAYS.items():
        if arrays[name].dtype != dtype or arrays[name].ndim != ndim:
            raise EieError(f"{where}: array {name} must be {np.dtype(dtype).name} with {ndim} dimension(s)")
    activation = _get(spec, "activation", str, where)
    if activation not in ("relu", "none"):
        raise EieError(f"{where}: activation must be 'relu' or 'none', got {activation!r}")
    layer = EncodedLayer(
        shape=(shape[0], shape[1]), **{name: spec[name] for name in ENCODING_FIELDS},
        codebook=codebook.astype(np.float64), **arrays, name=_get(spec, "name", str, where),
        has_bias=_get(spec, "has_bias", bool, where), activation=activation, bias_codebook=bias_codebook,
    )
    try:
        validate_layer(layer)
    except EieError as exc:
        raise EieError(f"{where} ({layer.name}): {exc}") from None
    return layer


def _numbers(values: list, what: str, where: str) -> np.ndarray:
    if not all(type(v) in (int, float) for v in values):  # nested lists, strings, booleans
        raise EieError(f"{where}: the {what} is not a list of numbers")
    array = np.asarray(values)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise EieError(f"{where}: the {what} is not a list of numbers")
    return array.astype(np.float64)


@contextlib.contextmanager
def _archive(path):
    """The model file as an open zip archive, or an :class:`EieError` saying why not."""
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except FileNotFoundError:
        raise EieError(f"model file not found: {path}") from None
    except IsADirectoryError:
        raise EieError(f"model file {path} is a directory") from None
    except OSError as exc:
        raise EieError(f"cannot read model file {path}: {exc.strerror or exc}") from None
    if magic != b"PK\x03\x04":
        raise EieError(f"model file {path} is not an eiesim model (not an .npz archive)")
    try:
        archive = zipfile.ZipFile(path)
    except Exception as exc:
        raise EieError(f"model file {path} is corrupt or truncated ({' '.join(str(exc).split())})") from None
    with archive:
        yield archive


def npz_members(archive: zipfile.ZipFile, file_size: int, where: str) -> dict[str, tuple]:
    """name -> (dtype, shape, zip info, header length) of every ``.npy`` member of an
    ``.npz`` archive, read from the headers alone: each member's size must match its
    header, and all must fit the file's size and :func:`max_inflated_bytes`."""
    infos = archive.infolist()
    if sum(info.compress_size for info in infos) > file_size:
        raise EieError(f"{where}: its members claim more compressed bytes than the file's {file_size}")
    members = {}
    for info in infos:
        with archive.open(info) as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(f)
            header = f.tell()
        if dtype.hasobject or fortran:
            raise EieError(f"{where}: member {info.filename} is not a plain array written by eiesim")
        if header + math.prod(shape) * dtype.itemsize != info.file_size:
            raise EieError(f"{where}: member {info.filename} declares shape {shape} but holds "
                           f"{info.file_size - header} bytes of data")
        members[info.filename.removesuffix(".npy")] = (dtype, tuple(shape), info, header)
    inflated = sum(info.file_size for info in infos)
    if inflated > max_inflated_bytes(file_size):
        raise EieError(f"{where}: its arrays would take {inflated} bytes, more than the {max_inflated_bytes(file_size)} "
                       f"a {file_size}-byte file may hold ({MAX_INFLATED_FLOOR // 2**20} MiB + {MAX_INFLATION} x its size)")
    return members


def _read_member(archive: zipfile.ZipFile, member: tuple) -> np.ndarray:
    """The member's array, read-only (the layer made of it then keeps it without a copy)."""
    with archive.open(member[2]) as f:
        array = np.lib.format.read_array(f, allow_pickle=False)
    array.flags.writeable = False
    return array


def _parse_manifest(text: bytes, where: str) -> dict:
    try:
        manifest = json.loads(text.decode(), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise EieError(f"{where}: the manifest is not valid JSON ({exc})") from None
    except RecursionError:
        raise EieError(f"{where}: the manifest nests too deeply to be an eiesim manifest") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise EieError(f"{where} is not an eiesim compressed model (format field missing or wrong)")
    version = manifest.get("version")
    if type(version) is not int or version not in READABLE_VERSIONS:  # True == 1, but is no version
        raise EieError(
            f"{where} has format version {version!r}; this eiesim reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}"
        )
    return manifest


def _streamed_checksum(manifest: dict, archive: zipfile.ZipFile, members: dict[str, tuple]) -> str:
    """:func:`_checksum` of the stored arrays, read in chunks: nothing is held in memory."""
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True, allow_nan=False).encode())
    for name in sorted(members):
        dtype, shape, info, header = members[name]
        digest.update(f"\n{name} {dtype.str} {shape}\n".encode())
        with archive.open(info) as f:
            f.read(header)
            while chunk := f.read(CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()


def _checksum(manifest: dict, arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True, allow_nan=False).encode())
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        digest.update(f"\n{name} {arr.dtype.str} {arr.shape}\n".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _get(obj: dict, key: str, kind: type, where: str):
    value = obj.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise EieError(f"{where}: manifest field {key!r} is missing or not a {kind.__name__}")
    return value
