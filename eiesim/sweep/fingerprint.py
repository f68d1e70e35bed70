"""Fingerprints of what a stored result depends on, built from explicit version constants.

A stored sweep point or cached layer is reused only while these are unchanged:

- ``compressor.csc.ENCODING_VERSION``: weight sharing and the interleaved CSC (SPEC §3);
- the layer source's ``version`` (``workloads.benchmarks.BENCHMARK_VERSION`` for the nine
  layers, ``eiesim.sweep.sources.SYNTHETIC_VERSION`` for ``synth:`` layers);
- ``eiesim.engines.ENGINE_VERSION``: the timing contract, counters and functional model both
  engines implement (SPEC §5, §6);
- ``eiesim.energy.ENERGY_VERSION`` and the bytes of the built-in energy tables (data);
- :data:`ROW_VERSION`: the store's row schema (``eiesim.sweep.tasks.result_row``).

Bump a constant whenever the numbers it stands for change (a SPEC change, a fixed bug);
editing a docstring or moving code recomputes nothing. The value tests pin the numbers, so
a change that alters them fails the suite until the tests, and the version, are updated.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources

from compressor.csc import ENCODING_VERSION
from eiesim.energy import ENERGY_VERSION
from eiesim.energy.tables import BUILTIN_FILES
from eiesim.engines import ENGINE_VERSION

ROW_VERSION = 2  # 2: the DRAM counters and streamed-weights parameters (SPEC §5.2)


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


def generator() -> str:
    """What a weight-shared layer depends on beyond its source: the encoding version."""
    return _digest({"encoding": ENCODING_VERSION})


def simulator() -> str:
    """What a simulated number depends on beyond its layer source and configuration."""
    tables = resources.files("eiesim.energy").joinpath("tables")
    data = {name: hashlib.sha256(tables.joinpath(name).read_bytes()).hexdigest() for name in sorted(BUILTIN_FILES.values())}
    return _digest({"encoding": ENCODING_VERSION, "engine": ENGINE_VERSION, "energy": ENERGY_VERSION,
                    "tables": data, "row": ROW_VERSION})
