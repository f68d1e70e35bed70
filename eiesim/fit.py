"""Whether a layer fits a PE's SRAMs (SPEC §4): reported, or an error in strict mode.

Usage is that of the fullest PE. The sparse-matrix SRAM holds every block's entry list,
each padded to whole rows; the pointer SRAM holds K + 1 pointers per block; the
activation SRAM holds a PE's share of the inputs and of the outputs.

``fits`` is always about the on-chip SRAMs. With streamed weights (SPEC §5.2) the report
says so (``weights: "streamed"``): the sparse-matrix and pointer SRAMs are then not needed
to hold the layer, so strict mode checks only the activation SRAM.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from compressor.csc import EncodedLayer
from eiecore.errors import EieError
from eiesim.config import ArchConfig

KB_BITS = 8 * 1024


@dataclass(frozen=True)
class FitReport:
    spmat_bits: int
    spmat_capacity_bits: int
    ptr_bits: int
    ptr_capacity_bits: int
    act_bits: int
    act_capacity_bits: int
    weights: str = "on-chip"  # or "streamed": the layer's entries and pointers come from DRAM

    @property
    def fits(self) -> bool:
        return (
            self.spmat_bits <= self.spmat_capacity_bits
            and self.ptr_bits <= self.ptr_capacity_bits
            and self.act_bits <= self.act_capacity_bits
        )

    @property
    def needed(self) -> tuple[str, ...]:
        """The SRAMs that must hold the layer for it to run: all three on chip, the activation SRAM streamed."""
        return ("spmat", "ptr", "act") if self.weights == "on-chip" else ("act",)

    def problems(self, names: tuple[str, ...] = ("spmat", "ptr", "act")) -> list[str]:
        out = []
        for name in names:
            used, cap = getattr(self, f"{name}_bits"), getattr(self, f"{name}_capacity_bits")
            if used > cap:
                out.append(f"{name} SRAM needs {used / KB_BITS:.1f} KB per PE, has {cap / KB_BITS:.1f} KB")
        return out

    def to_dict(self) -> dict:
        return {"fits": self.fits, **asdict(self)}


def check_fit(layer: EncodedLayer, config: ArchConfig) -> FitReport:
    """SRAM usage of the fullest PE; raises :class:`EieError` in strict mode if it overflows."""
    m, k = layer.shape
    n = config.n_pe
    per_list = np.diff(layer.start).reshape(layer.n_blocks, n)
    rows = -(-per_list // config.entries_per_row)
    report = FitReport(
        spmat_bits=int(rows.sum(axis=0).max()) * config.spmat_width_bits,
        spmat_capacity_bits=int(config.spmat_sram_kb * KB_BITS),
        ptr_bits=layer.n_blocks * (k + 1) * config.ptr_bits,
        ptr_capacity_bits=int(config.ptr_sram_kb * KB_BITS),
        act_bits=(-(-k // n) + -(-m // n)) * config.value_bits,
        act_capacity_bits=int(config.act_sram_kb * KB_BITS),
        weights=config.weights,
    )
    if config.strict_fit and report.problems(report.needed):
        which = f"layer {layer.name}" if layer.name else "the layer"
        raise EieError(f"{which} does not fit: " + "; ".join(report.problems(report.needed)))
    return report
