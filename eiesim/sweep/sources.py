"""Where a sweep's layers come from: named layer sources in a registry the workloads fill.

The sweep knows one family itself, synthetic layers ``synth:MxK:W:A`` (M outputs, K
inputs, weight density W, activation density A, drawn by :mod:`compressor.synthetic`).
Every other name is looked up in the registry: :mod:`workloads.benchmarks` registers the
paper's nine layers (group ``all``) when it is imported, so the sweep never imports the
workload layer above it. A source is a small picklable object; a sweep point carries its
source to the worker that generates the layer, so workers need no registry of their own.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np
import scipy.sparse as sp

from compressor.synthetic import random_activations, random_sparse_weights
from eiecore.errors import EieError

SYNTHETIC_VERSION = 1  # of SyntheticLayer.generate (and compressor.synthetic's draws)
MAX_SYNTH_SIDE = 2**26  # synthetic layers: bounded sides and non-zeros keep generation bounded
MAX_SYNTH_NONZEROS = 2**28
_SYNTH = re.compile(r"^synth:(\d+)x(\d+):([0-9.eE+-]+):([0-9.eE+-]+)$")


class LayerSource(Protocol):
    """A layer a sweep can generate: weights and activations from a seed."""

    name: str
    has_bias: bool
    activation: str
    version: int  # bumped when the same name and seed can generate other weights or inputs

    def size_hint(self) -> float:
        """Expected kept weights (to schedule big layers first)."""

    def generate(self, seed: int) -> tuple[sp.coo_matrix, np.ndarray]:
        """The sparse weights (M x K, bias column last) and the activations (K less bias)."""


@dataclass(frozen=True)
class SyntheticLayer:
    """``synth:MxK:W:A``: uniformly placed weights and activations at given densities."""

    outputs: int
    inputs: int
    weight_density: float
    act_density: float
    has_bias = False
    activation = "relu"
    version = SYNTHETIC_VERSION

    @property
    def name(self) -> str:
        return f"synth:{self.outputs}x{self.inputs}:{self.weight_density:g}:{self.act_density:g}"

    def size_hint(self) -> float:
        return self.outputs * self.inputs * self.weight_density

    def generate(self, seed: int) -> tuple[sp.coo_matrix, np.ndarray]:
        w_ss, a_ss = np.random.SeedSequence([seed, zlib.crc32(self.name.encode())]).spawn(2)
        weights = random_sparse_weights((self.outputs, self.inputs), self.weight_density, np.random.default_rng(w_ss))
        acts = random_activations(self.inputs, self.act_density, np.random.default_rng(a_ss))
        return weights, acts


# (module, name) of the family's find function -> (find, names, group); a module imported
# again replaces its own family.
_REGISTRY: dict[tuple[str, str], tuple[Callable[[str], "LayerSource | None"], Callable[[], list[str]], str]] = {}


def register(find: Callable[[str], "LayerSource | None"], names: Callable[[], list[str]], group: str = "all") -> None:
    """Add a family of named layers: ``find(name)`` returns the source of a name (any case)
    or None, ``names()`` lists the family's names; ``group`` (e.g. ``all``) expands to them.
    Both are called on every lookup, so a family may change its members."""
    _REGISTRY[(find.__module__, find.__qualname__)] = (find, names, group.lower())


def resolve(text: "str | LayerSource") -> LayerSource:
    """The source for a layer spec: a registered name (any case) or ``synth:MxK:W:A``."""
    if not isinstance(text, str):
        return text
    text = text.strip()
    match = _SYNTH.match(text)
    if match is None and text.lower().startswith("synth"):
        raise EieError(f"bad synthetic layer {text!r}: expected synth:MxK:W:A (M outputs, K inputs, weight "
                       "and activation densities), e.g. synth:4096x9216:0.09:0.35")
    if match is None:
        for find, _, _ in _REGISTRY.values():
            source = find(text)
            if source is not None:
                return source
        known = ", ".join(n for _, names, _ in _REGISTRY.values() for n in names()) or "none registered (import workloads.benchmarks)"
        raise EieError(f"unknown benchmark {text!r}; choose one of {known}, or synth:MxK:W:A")
    m, k = int(match[1]), int(match[2])
    try:
        w, a = float(match[3]), float(match[4])
    except ValueError:
        raise EieError(f"bad synthetic layer {text!r}: densities must be numbers") from None
    if m < 1 or k < 1 or not (0 < w <= 1) or not (0 <= a <= 1):
        raise EieError(f"bad synthetic layer {text!r}: need M, K >= 1, 0 < W <= 1, 0 <= A <= 1")
    if m > MAX_SYNTH_SIDE or k > MAX_SYNTH_SIDE or round(w * m * k) > MAX_SYNTH_NONZEROS:
        raise EieError(f"bad synthetic layer {text!r}: M and K are at most {MAX_SYNTH_SIDE} (2^26) and "
                       f"M x K x W at most {MAX_SYNTH_NONZEROS} (2^28) non-zeros, so memory stays bounded")
    return SyntheticLayer(m, k, w, a)


def expand(spec: "str | list[str]") -> list[str]:
    """Group names (``all``), a comma-separated string or a list of specs -> canonical names."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names: list[str] = []
    groups: dict[str, list[str]] = {}
    for _, family, group in _REGISTRY.values():
        groups.setdefault(group, []).extend(family())
    for item in items:
        item = str(item).strip()
        if item.lower() in groups:
            names.extend(groups[item.lower()])
        elif item:
            names.append(resolve(item).name)
    if not names:
        raise EieError("no layers given")
    return list(dict.fromkeys(names))
