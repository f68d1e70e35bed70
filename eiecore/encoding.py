"""What an interleaved CSC encoding depends on (SPEC §3, §5): N, R and two bit widths.

The compressor encodes for an :class:`Encoding`; the simulator's ``ArchConfig`` carries
one (``config.encoding``), and so does every encoded layer. Two of them must agree before
a layer runs on an array or is stored with a model; :func:`check_same` names the first
field that differs.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from eiecore.errors import EieError


@dataclass(frozen=True)
class Encoding:
    """The layout parameters of interleaved CSC; defaults are the paper's chip."""

    n_pe: int = 64  # N: row i belongs to PE i mod N
    accumulators_per_pe: int = 64  # R: a row block holds N x R rows
    index_bits: int = 4  # x: a relative index counts up to 2^x - 1 zero rows
    weight_bits: int = 4  # b: codes 0..2^b - 1, code 0 the zero of fillers

    def __post_init__(self) -> None:
        for name in FIELDS:
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise EieError(f"encoding field {name} must be a positive integer, got {value!r}")

    @classmethod
    def of(cls, spec: Any) -> "Encoding":
        """The encoding of anything carrying the four fields (a config, a layer, an encoding)."""
        if isinstance(spec, Encoding):
            return spec
        return cls(**{name: getattr(spec, name) for name in FIELDS})

    @property
    def rows_per_block(self) -> int:
        """Output rows of one row block: N x R."""
        return self.n_pe * self.accumulators_per_pe


FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Encoding))


def check_same(layer: Any, target: Any, target_name: str) -> None:
    """Raise :class:`EieError` naming the first encoding field where ``layer`` (an encoded
    layer) differs from ``target`` (a config or model), e.g. ``layer fc was encoded with
    n_pe=8, config has 4``."""
    for name in FIELDS:
        have, want = getattr(layer, name), getattr(target, name)
        if have != want:
            label = f"layer {layer.name} " if getattr(layer, "name", "") else ""
            raise EieError(f"{label}was encoded with {name}={have}, {target_name} has {want}")
