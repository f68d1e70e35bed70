"""The architecture configuration (SPEC §4): one frozen, validated object.

Every field is declared once, as a machine parameter (``eiesim.declarations.PARAMETERS``:
unit, default, bounds, source) or as a timing rule (``eiesim.timing.RULES``); :class:`ArchConfig`'s fields, its validation,
the ``--set FIELD=VALUE`` values, the sweep axes and the docs table (``docs/machine.md``)
derive from those declarations.

Defaults are the paper's chip (EIE, ISCA 2016): 64 PEs at 800 MHz, queue depth 8, 64
accumulators per PE, 4-bit weight codes and 4-bit relative indices in 64-bit SRAM rows,
16-bit fixed point arithmetic, and the timing rules of SPEC §5 (``timing="spec"``).

``timing`` names a bundle of timing rules (``eiesim.timing.PROFILES``, SPEC §5.1); the
overridable rules (``eiesim.timing.OVERRIDABLE``) are fields of their own that override
single rules of that bundle (None: as the profile says), so a run or a sweep can mix them.
A configuration is identified by its non-default fields (:meth:`ArchConfig.settings`), so
adding a field with a default changes no stored identity.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import Any, Literal, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from eiecore.encoding import Encoding
from eiecore.errors import EieError
from eiesim.declarations import PARAMETERS, Parameter
from eiesim.timing import OVERRIDABLE, PROFILES, RULES, TimingRules, lnzd_tree_latency

# Size limits that keep a simulation's memory bounded (the paper's chip: 64 x 64 rows).
MAX_ROWS_PER_BLOCK = 2**24
MAX_ACCUMULATORS = dict(next(p for p in PARAMETERS if p.name == "accumulators_per_pe").bounds)["le"]


def _parameter_field(p: Parameter) -> tuple[Any, Any]:
    return (p.kind, Field(p.default, description=p.description, **dict(p.bounds)))


def _rule_field(rule) -> tuple[Any, Any]:
    return (Optional[Literal[rule.choices]],  # noqa: UP007 (pydantic's create_model takes the annotation object)
            Field(None, description=f"override: {rule.description} (None: the profile's)"))


class _ArchConfigBase(BaseModel):
    """An EIE PE array. Unknown keys, out-of-range values and values of another type (a
    boolean for a number, 8.7 bits) raise :class:`EieError`, from the constructor too.

    Its fields are ``eiesim.declarations.PARAMETERS`` and the overridable timing rules (``eiesim.timing.RULES``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    def __init__(self, **fields: Any) -> None:
        try:
            super().__init__(**fields)
        except ValidationError as exc:
            raise EieError(_one_line(exc)) from None

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
    def _consistent(self) -> "_ArchConfigBase":
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

    def settings(self) -> dict[str, Any]:
        """The fields that differ from their defaults: what identifies this configuration
        (its hash, a result's JSON) and what ``--set`` would have to give to rebuild it."""
        return self.model_dump(exclude_defaults=True)

    def describe(self) -> str:
        """The summary line's configuration: N, D, R, number format, timing, then every
        other non-default field as FIELD=VALUE."""
        shown = ("n_pe", "queue_depth", "accumulators_per_pe", "precision", "timing")
        extra = [f"{k}={v}" for k, v in self.settings().items() if k not in shown]
        return ", ".join([f"N = {self.n_pe}", f"D = {self.queue_depth}", f"R = {self.accumulators_per_pe}",
                          self.precision, f"timing {self.timing}", *extra])


ArchConfig = create_model(
    "ArchConfig", __base__=_ArchConfigBase, __module__=__name__, __doc__=_ArchConfigBase.__doc__,
    **{p.name: _parameter_field(p) for p in PARAMETERS}, **{r.name: _rule_field(r) for r in RULES if r.overridable})


def _one_line(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown configuration key"
        parts.append(f"{field}: {msg}" if field else msg)
    return "invalid configuration: " + "; ".join(parts)
