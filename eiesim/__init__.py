"""eiesim: a cycle-accurate simulator of the EIE sparse accelerator (Han et al., ISCA 2016).

Public API::

    from eiesim import ArchConfig, simulate
    from compressor import compress_layer

    config = ArchConfig(n_pe=64)
    layer = compress_layer(W, config)            # prune pattern kept, 4-bit weight sharing
    result = simulate(layer, a, config)          # engine="fast" or "reference"
    result.cycles, result.counters, result.metrics, result.output
"""

from eiesim.config import ArchConfig
from eiesim.errors import EieError
from eiesim.result import Counters, SimResult

__all__ = ["ArchConfig", "Counters", "EieError", "SimResult", "simulate"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # compressor imports eiesim.config; importing simulate lazily keeps that cycle-free.
    # (The module is eiesim.simulation, so no submodule attribute shadows this function.)
    if name == "simulate":
        from eiesim.simulation import simulate

        return simulate
    raise AttributeError(f"module 'eiesim' has no attribute {name!r}")
