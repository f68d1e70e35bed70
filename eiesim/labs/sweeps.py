"""Sweeps as the labs run them: a resumable store per lab, read back as one DataFrame.

A thin layer over :mod:`eiesim.sweep` so a lab cell and its answer check see the same
points: the check re-runs the same grid into the same store, which computes nothing that
is already there, and reads the package's own results back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from eiesim.labs import quick_mode
from eiesim.sweep import SerialExecutor, SweepSpec, local_executor, run_sweep, sweep_frame
import workloads.benchmarks  # noqa: F401  (registers the benchmark layers with the sweep)


def measured(layers: list[str], axes: dict[str, Any], base: dict[str, Any] | None = None,
             store: str | Path = "lab-results") -> pd.DataFrame:
    """Every point of layers x axes (with ``base`` fixed), simulated by the fast engine.

    Runs on all cores normally and in this process in the quick setting (the test suite
    runs labs side by side). Rows come back in grid order.
    """
    spec = SweepSpec.build(list(layers), dict(axes), dict(base or {}))
    store = Path(store)
    executor = SerialExecutor() if quick_mode() else local_executor()
    run_sweep(spec, store, executor, cache_dir=store / "_layers", progress=False)
    frame = sweep_frame(spec, store)
    order = {p.point_hash: i for i, p in enumerate(spec.points())}
    return frame.sort_values("point_hash", key=lambda h: h.map(order)).reset_index(drop=True)
