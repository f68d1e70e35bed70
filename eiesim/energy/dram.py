"""DRAM counterfactual: the energy of fetching a layer's weights from DRAM every inference.

EIE keeps the compressed weights in on-chip SRAM, so no DRAM access happens per
inference. To show what that saves, two weight streams are priced with the table's DRAM
figures:

- ``compressed``: EIE's whole stored layer: every entry (real and filler) of
  weight_bits + index_bits, every pointer (K + 1 per PE and row block, ptr_bits each) and
  the codebook (2^b values of the datapath width);
- ``dense float32``: the M x K matrix as 32-bit floats.

Each stream is priced as ceil(bits / 32) 32-bit accesses and as ceil(bits / 64) 64-bit
accesses at both ends of the 64-bit range the table quotes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from compressor.csc import EncodedLayer
from compressor.report import layer_storage
from eiesim.config import ArchConfig
from eiesim.energy.tables import EnergyTable, load_table


@dataclass(frozen=True)
class DramStream:
    stream: str
    bits: int
    pj_32bit: float  # ceil(bits / 32) x dram_32bit
    pj_64bit_low: float  # ceil(bits / 64) x dram_64bit_low
    pj_64bit_high: float  # ceil(bits / 64) x dram_64bit_high

    def to_dict(self) -> dict:
        return asdict(self)


def compressed_bits(layer: EncodedLayer, config: ArchConfig) -> int:
    """Bits of EIE's stored layer: entries, pointers and codebooks (the storage report's total)."""
    return layer_storage(layer, config.ptr_bits, config.datapath_bits).total_bits


def price(stream: str, bits: int, table: EnergyTable) -> DramStream:
    words32, words64 = math.ceil(bits / 32), math.ceil(bits / 64)
    return DramStream(
        stream, bits, words32 * table["dram_32bit"],
        words64 * table["dram_64bit_low"], words64 * table["dram_64bit_high"],
    )


def dram_counterfactual(
    layer: EncodedLayer, config: ArchConfig, table: "str | EnergyTable | None" = None
) -> list[DramStream]:
    """DRAM energy (pJ) of the compressed and of the dense float32 weights of ``layer``."""
    t = load_table(table, "events")
    m, k = layer.shape
    return [price("compressed", compressed_bits(layer, config), t), price("dense float32", m * k * 32, t)]
