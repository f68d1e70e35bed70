"""The two engines: ``reference`` (SimPy, readable) and ``fast`` (numba). One meaning.

An engine is a function ``run(layer, acts, config) -> EngineRun`` taking an encoded layer,
activations already converted to the layer's number format (length K, bias included)
and a config that matches the layer's encoding.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from eiesim.result import Counters, PerPE

ENGINE_MODULES = {"reference": "eiesim.engines.reference", "fast": "eiesim.engines.fast"}


@dataclass
class EngineRun:
    cycles: int
    block_cycles: list[int]
    counters: Counters
    per_pe: PerPE
    output: np.ndarray  # real values after the layer's activation function
    sim_wall_s: float  # engine time, excluding JIT compilation and preparation


def get_engine(name: str) -> Callable:
    """The ``run`` function of an engine, imported on first use (numba loads slowly)."""
    if name not in ENGINE_MODULES:
        from eiesim.errors import EieError

        raise EieError(f"unknown engine {name!r}; choose one of {', '.join(ENGINE_MODULES)}")
    return importlib.import_module(ENGINE_MODULES[name]).run
