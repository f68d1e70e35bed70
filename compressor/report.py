"""Storage report of a compressed model, per layer and in total (like Deep Compression's tables).

Per layer, every entry of the interleaved CSC (real or filler) costs b bits of weight code
and x bits of relative index; each (block, PE) list has K + 1 pointers of ``ptr_bits``; the
codebook holds 2^b values of the datapath width (the chip's 16 x 16-bit table; 32-bit values
in float32 precision; twice that with a separate bias codebook). "Huffman" replaces the
fixed-width codes and indices by a canonical Huffman code of each stream (fillers included,
since they are stored) plus its table. The dense reference is float32.
Compression ratio = dense bits / compressed bits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Protocol, Sequence

from compressor.csc import EncodedLayer
from compressor.huffman import HuffmanCode

DENSE_BITS = 32
KB = 8 * 1024


@dataclass(frozen=True)
class LayerStorage:
    """Storage of one layer (or the total of several), in bits unless named otherwise."""

    name: str
    shape: tuple[int, int] | None  # (M, K); None for a total
    weights: int  # M x K, the dense weight count
    real: int
    fillers: int
    weights_bits: int
    indices_bits: int
    pointers_bits: int
    codebook_bits: int
    weights_huffman_bits: int
    indices_huffman_bits: int
    huffman_table_bits: int
    dense_bits: int

    @property
    def density(self) -> float:
        return self.real / self.weights

    @property
    def total_bits(self) -> int:
        return self.weights_bits + self.indices_bits + self.pointers_bits + self.codebook_bits

    @property
    def total_huffman_bits(self) -> int:
        return (self.weights_huffman_bits + self.indices_huffman_bits + self.huffman_table_bits
                + self.pointers_bits + self.codebook_bits)

    @property
    def ratio(self) -> float:
        return self.dense_bits / self.total_bits

    @property
    def ratio_huffman(self) -> float:
        return self.dense_bits / self.total_huffman_bits

    def to_dict(self) -> dict:
        derived = ("density", "total_bits", "total_huffman_bits", "ratio", "ratio_huffman")
        return {**asdict(self), **{name: getattr(self, name) for name in derived}}


@dataclass(frozen=True)
class StorageReport:
    layers: tuple[LayerStorage, ...]
    weight_bits: int
    index_bits: int
    ptr_bits: int
    value_bits: int

    @property
    def total(self) -> LayerStorage:
        sums = {f.name: sum(getattr(s, f.name) for s in self.layers)
                for f in fields(LayerStorage) if f.name not in ("name", "shape")}
        return LayerStorage(name="total", shape=None, **sums)

    def to_dict(self) -> dict:
        return {
            "weight_bits": self.weight_bits, "index_bits": self.index_bits,
            "ptr_bits": self.ptr_bits, "codebook_value_bits": self.value_bits,
            "dense_bits_per_weight": DENSE_BITS,
            "layers": [s.to_dict() for s in self.layers], "total": self.total.to_dict(),
        }

    def format_table(self) -> str:
        head = ("layer", "M x K", "density", "fillers", "weights KB", "index KB", "ptr KB",
                "codebook B", "total KB", "Huffman KB", "dense KB", "ratio", "ratio Huffman")
        rows = [head]
        for s in (*self.layers, self.total):
            shape = f"{s.shape[0]} x {s.shape[1]}" if s.shape else ""
            rows.append((
                s.name, shape, f"{100 * s.density:.2f}%", f"{s.fillers}", _kb(s.weights_bits),
                _kb(s.indices_bits), _kb(s.pointers_bits), f"{s.codebook_bits // 8}",
                _kb(s.total_bits), _kb(s.total_huffman_bits), _kb(s.dense_bits),
                f"{s.ratio:.1f}x", f"{s.ratio_huffman:.1f}x",
            ))
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                 for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
        note = (f"each entry (fillers included) costs {self.weight_bits} + {self.index_bits} bits; "
                f"pointers {self.ptr_bits} bits; codebook values {self.value_bits} bits; dense float32")
        return "\n".join(lines + [note])


def layer_storage(layer: EncodedLayer, ptr_bits: int = 16, value_bits: int = 16) -> LayerStorage:
    """The storage of one encoded layer."""
    m, k = layer.shape
    codes = HuffmanCode.from_symbols(layer.code, 2**layer.weight_bits)
    indices = HuffmanCode.from_symbols(layer.rel, 2**layer.index_bits)
    return LayerStorage(
        name=layer.name, shape=(m, k), weights=m * k, real=layer.n_real, fillers=layer.n_fillers,
        weights_bits=layer.n_entries * layer.weight_bits,
        indices_bits=layer.n_entries * layer.index_bits,
        pointers_bits=layer.ptr.size * ptr_bits,
        codebook_bits=layer.codebook_entries * value_bits,
        weights_huffman_bits=codes.encoded_bits, indices_huffman_bits=indices.encoded_bits,
        huffman_table_bits=codes.table_bits + indices.table_bits,
        dense_bits=m * k * DENSE_BITS,
    )


class _Widths(Protocol):
    ptr_bits: int
    datapath_bits: int  # codebook values are stored in the datapath's format
    weight_bits: int
    index_bits: int


class StoredModel(Protocol):
    """What a storage report reads of a model (``eiesim.modelfile.CompressedModel``)."""

    layers: Sequence[EncodedLayer]
    config: _Widths


def storage_report(model: StoredModel) -> StorageReport:
    """Per-layer and total storage, with the pointer and codebook widths of the model's config.

    Codebook values are priced at the datapath width (``value_bits`` in fixed point, 32 in
    float32): the table holds values in the format the arithmetic unit multiplies.
    """
    cfg = model.config
    return StorageReport(
        tuple(layer_storage(layer, cfg.ptr_bits, cfg.datapath_bits) for layer in model.layers),
        cfg.weight_bits, cfg.index_bits, cfg.ptr_bits, cfg.datapath_bits,
    )


def _kb(bits: int) -> str:
    return f"{bits / KB:,.1f}"
