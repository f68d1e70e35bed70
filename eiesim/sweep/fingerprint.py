"""Fingerprints of the code behind a result, so stores and caches never mix code versions.

``simulator`` covers everything a simulated number depends on (layer generation, weight
sharing, encoding, engines, energy model and its tables) and the store's row schema
(``sweep/tasks.py``); ``generator`` only what a
weight-shared layer depends on. Both hash source files, read once per process.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ("compressor/csc.py", "compressor/quantize.py", "compressor/synthetic.py",
             "workloads/benchmarks.py", "eiesim/sweep/layers.py")
SIMULATOR = (*GENERATOR, "eiesim/*.py", "eiesim/engines/*.py", "eiesim/energy/**/*.py",
             "eiesim/energy/**/*.toml", "eiesim/blocks/**/*.py", "eiesim/sweep/tasks.py")


def _digest(patterns: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for path in sorted({p for pattern in patterns for p in _ROOT.glob(pattern) if p.is_file()}):
        h.update(str(path.relative_to(_ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


@lru_cache(maxsize=1)
def generator() -> str:
    return _digest(GENERATOR)


@lru_cache(maxsize=1)
def simulator() -> str:
    return _digest(SIMULATOR)
