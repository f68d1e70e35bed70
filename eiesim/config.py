"""The architecture configuration (SPEC §4): one frozen, validated object.

Defaults are the paper's chip (EIE, ISCA 2016): 64 PEs at 800 MHz, queue depth 8, 64
accumulators per PE, 4-bit weight codes and 4-bit relative indices in 64-bit SRAM rows,
16-bit fixed point arithmetic, and the timing rules of SPEC §5 (``timing="spec"``).

``timing`` names a bundle of timing rules (``eiesim.timing.PROFILES``, SPEC §5.1); the
fields ``lnzd``, ``queue_slots``, ``queue_refill`` and ``block_end`` override single rules
of that bundle (None: as the profile says), so a sweep can mix them.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from eiecore.encoding import Encoding
from eiecore.errors import EieError
from eiesim.timing import (
    OVERRIDABLE, PROFILES, BlockEnd, LnzdRule, Profile, QueueRefill, QueueSlots, TimingRules, lnzd_tree_latency,
)


_CHIP = Encoding()  # the paper's chip: the encoding defaults live in one place
# Size limits that keep a simulation's memory bounded (the paper's chip: 64 x 64 rows).
MAX_ROWS_PER_BLOCK = 2**24
MAX_ACCUMULATORS = 2**20


class ArchConfig(BaseModel):
    """An EIE PE array. Unknown keys, out-of-range values and values of another type (a
    boolean for a number, 8.7 bits) raise :class:`EieError`, from the constructor too."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    def __init__(self, **fields: Any) -> None:
        try:
            super().__init__(**fields)
        except ValidationError as exc:
            raise EieError(_one_line(exc)) from None

    n_pe: int = Field(_CHIP.n_pe, ge=1, le=65536, description="number of processing elements N")
    queue_depth: int = Field(8, ge=1, le=65536, description="usable activation-queue slots D")
    clock_mhz: float = Field(800.0, gt=0, description="clock frequency in MHz")
    accumulators_per_pe: int = Field(
        _CHIP.accumulators_per_pe, ge=1, le=MAX_ACCUMULATORS, description="accumulators R per PE (rows per PE per block)"
    )
    index_bits: int = Field(_CHIP.index_bits, ge=1, le=8, description="bits x of a relative row index")
    weight_bits: int = Field(_CHIP.weight_bits, ge=1, le=8, description="bits b of a weight code (codebook of 2^b entries)")
    spmat_width_bits: int = Field(64, ge=1, le=65536, description="width of one sparse-matrix SRAM row")
    spmat_sram_kb: float = Field(128.0, gt=0, le=2**20, description="sparse-matrix SRAM per PE, KB")
    ptr_sram_kb: float = Field(32.0, gt=0, le=2**20, description="pointer SRAM per PE, KB")
    act_sram_kb: float = Field(2.0, gt=0, le=2**20, description="activation SRAM per PE, KB")
    ptr_bits: int = Field(16, ge=1, le=64, description="bits of one column pointer")
    value_bits: int = Field(16, ge=2, le=32, description="bits of an activation / codebook value / accumulator")
    act_frac_bits: int = Field(8, ge=0, description="fraction bits of activations")
    weight_frac_bits: int = Field(12, ge=0, description="fraction bits of codebook values")
    precision: Literal["fixed", "float32"] = Field("fixed", description="arithmetic number format")
    strict_fit: bool = Field(False, description="make a layer that does not fit the SRAMs an error")
    timing: Profile = Field("spec", description="timing profile: 'spec' (SPEC §5) or 'eie-cpp' (the authors' simulator, §5.1)")
    lnzd: LnzdRule | None = Field(None, description="override: LNZD timing 'tree' or 'pack-scan' (None: the profile's)")
    queue_slots: QueueSlots | None = Field(
        None, description="override: 'all' queue_depth slots usable, or 'ring' (queue_depth - 1) (None: the profile's)")
    queue_refill: QueueRefill | None = Field(
        None, description="override: a freed queue slot refills in the 'same-cycle' or 'next-cycle' (None: the profile's)")
    block_end: BlockEnd | None = Field(
        None, description="override: a block ends after the 'pipeline' drain or when 'drained' (None: the profile's)")

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_as_numbers(cls, fields: Any) -> Any:
        """``n_pe=True`` is not 1 PE: a boolean is refused for every field that is not one."""
        if isinstance(fields, dict):
            for name, value in fields.items():
                field = cls.model_fields.get(name)
                if isinstance(value, (bool, np.bool_)) and field is not None and field.annotation is not bool:
                    raise ValueError(f"{name}: a boolean ({value}) is not a valid value")
        return fields

    @model_validator(mode="after")
    def _consistent(self) -> "ArchConfig":
        entry_bits = self.weight_bits + self.index_bits
        if self.spmat_width_bits < entry_bits:
            raise ValueError(
                f"spmat_width_bits={self.spmat_width_bits} is narrower than one entry "
                f"(weight_bits + index_bits = {entry_bits})"
            )
        if self.rows_per_block > MAX_ROWS_PER_BLOCK:
            raise ValueError(
                f"n_pe x accumulators_per_pe = {self.rows_per_block} rows per block is more than the "
                f"{MAX_ROWS_PER_BLOCK} (2^24) a simulation holds in memory"
            )
        if self.act_frac_bits >= self.value_bits or self.weight_frac_bits >= self.value_bits:
            raise ValueError("act_frac_bits and weight_frac_bits must be smaller than value_bits")
        if self.rules.usable_slots(self.queue_depth) < 1:
            raise ValueError(
                f"queue_depth={self.queue_depth} leaves no usable slot: with ring queue slots (timing "
                f"{self.timing!r}) queue_depth B ring slots hold B - 1 columns, and B = 1 deadlocks the "
                "authors' simulator; use queue_depth >= 2"
            )
        return self

    @cached_property
    def rules(self) -> TimingRules:
        """The timing rules in force: the profile's, with this config's overrides (computed once)."""
        overrides = {name: getattr(self, name) for name in OVERRIDABLE if getattr(self, name) is not None}
        return replace(PROFILES[self.timing], **overrides)

    @property
    def entries_per_row(self) -> int:
        """Sparse-matrix entries held in one SRAM row: floor(width / (b + x))."""
        return self.spmat_width_bits // (self.weight_bits + self.index_bits)

    @property
    def encoding(self) -> Encoding:
        """What the interleaved CSC of a layer for this array depends on (N, R, x, b)."""
        return Encoding.of(self)

    @property
    def datapath_bits(self) -> int:
        """Width of activations, codebook values and accumulators: 32 in float32 precision."""
        return 32 if self.precision == "float32" else self.value_bits

    @property
    def rows_per_block(self) -> int:
        """Output rows handled in one row block: N x R."""
        return self.n_pe * self.accumulators_per_pe

    @property
    def lnzd_latency(self) -> int:
        """L: depth of the 4-ary LNZD tree, the smallest L >= 1 with 4^L >= N."""
        return lnzd_tree_latency(self.n_pe)

    @classmethod
    def make(cls, **fields: Any) -> "ArchConfig":
        """Build a config (as ``ArchConfig(**fields)``: a bad field is one :class:`EieError` line)."""
        return cls(**fields)

    def replace(self, **fields: Any) -> "ArchConfig":
        """A copy with some fields changed, validated like a new config."""
        return ArchConfig.make(**{**self.model_dump(), **fields})


def _one_line(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown configuration key"
        parts.append(f"{field}: {msg}" if field else msg)
    return "invalid configuration: " + "; ".join(parts)
