"""eiesim: a cycle-accurate simulator of the EIE sparse accelerator (Han et al., ISCA 2016).

Public API::

    from eiesim import ArchConfig, simulate
    from compressor import compress_layer

    config = ArchConfig(n_pe=64)
    layer = compress_layer(W, config)            # prune pattern kept, 4-bit weight sharing
    result = simulate(layer, a, config)          # engine="fast" or "reference"
    result.cycles, result.counters, result.metrics, result.output
"""

from eiecore.caches import clear_caches
from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.counters import Counters
from eiesim.result import SimResult
from eiesim.simulation import simulate

__all__ = ["ArchConfig", "Counters", "EieError", "SimResult", "clear_caches", "simulate"]
__version__ = "0.1.0"
