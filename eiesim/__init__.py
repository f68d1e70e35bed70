"""eiesim: a cycle-accurate simulator of the EIE sparse accelerator (Han et al., ISCA 2016).

Public API::

    from eiesim import ArchConfig, simulate
    from compressor import compress_layer

    config = ArchConfig(n_pe=64)
    layer = compress_layer(W, config)            # prune pattern kept, 4-bit weight sharing
    result = simulate(layer, a, config)          # engine="fast" or "reference"
    result.cycles, result.counters, result.metrics, result.output
"""

import importlib

from eiecore.caches import clear_caches
from eiecore.errors import EieError

# Loaded on first use, so the command line (``eiesim --help``, or a sweep starting its
# workers) does not wait for numba, scipy and pydantic before it can do anything.
_EXPORTS = {"ArchConfig": "config", "Counters": "counters", "SimResult": "result", "simulate": "simulation"}
__all__ = sorted(["EieError", "clear_caches", *_EXPORTS])
__version__ = "0.1.0"


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'eiesim' has no attribute {name!r}")
    return getattr(importlib.import_module(f"eiesim.{_EXPORTS[name]}"), name)
