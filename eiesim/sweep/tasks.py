"""The work a sweep worker does: encode a layer once, simulate every point that shares it.

A task is a chunk of points with one encoding key. The worker takes the shared layer from
its memo (or the cache folder), interleaves it once, warms the engine's JIT once per
process, then simulates each point and returns one flat row per point.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from eiesim.config import ArchConfig
from eiesim.sweep.grid import Point
from eiesim.sweep.layers import encode, shared_layer

_WARM: set[str] = set()
_LAST_ENCODED: dict[tuple, Any] = {}


def warm_engine(engine: str) -> None:
    """Run the engine once on a tiny layer so JIT compilation is not charged to a point."""
    if engine in _WARM:
        return
    from compressor.csc import compress_layer
    from eiesim.simulation import simulate

    config = ArchConfig(n_pe=2, queue_depth=1)
    w = np.array([[0.5, 0.0, -0.25], [0.0, 0.75, 0.0], [0.1, 0.0, 0.3]])
    simulate(compress_layer(w, config), np.array([1.0, 0.5, 0.25]), config, engine=engine)
    _WARM.add(engine)


def flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    """Nested dicts -> ``prefix_key`` columns; numbers and lists of numbers kept as they are."""
    if isinstance(value, dict):
        for key, item in value.items():
            flatten(f"{prefix}_{key}" if prefix else str(key), item, out)
    elif isinstance(value, np.ndarray):
        out[prefix] = value.tolist()
    else:
        out[prefix] = value


def result_row(point: Point, result) -> dict[str, Any]:
    """One store row: identity, the full config, counters, metrics, per-PE arrays, energy."""
    row: dict[str, Any] = {
        "point_hash": point.point_hash, "config_hash": point.config_hash,
        "layer": point.layer, "engine": point.engine, "seed": point.seed, "code_version": point.code,
        **point.config.model_dump(),
        "cycles": int(result.cycles), "time_us": float(result.time_us),
        "n_blocks": len(result.block_cycles),
        **result.counters.to_dict(), **result.metrics,
        "per_pe_busy": np.asarray(result.per_pe.busy).astype(int).tolist(),
        "per_pe_starved": np.asarray(result.per_pe.starved).astype(int).tolist(),
        "per_pe_real": np.asarray(result.per_pe.real).astype(int).tolist(),
        "fits": bool(result.fit.fits),
        "sim_wall_s": result.sim_wall_s,
    }
    flatten("energy", result.energy.to_dict(), row)
    return row


def run_chunk(points: list[Point], cache_dir: str | None = None) -> list[dict[str, Any]]:
    """Simulate a chunk of points with one encoding key; rows carry the time spent."""
    from eiesim.simulation import simulate

    first = points[0]
    warm_engine(first.engine)
    t0 = time.perf_counter()
    shared = shared_layer(first.layer, first.seed, first.config.weight_bits, cache_dir)
    t1 = time.perf_counter()
    layer = _LAST_ENCODED.get(first.encoding_key)
    if layer is None:
        layer = encode(shared, first.config)
        _LAST_ENCODED.clear()  # keep one: chunks of a key run back to back
        _LAST_ENCODED[first.encoding_key] = layer
    t2 = time.perf_counter()
    rows = []
    for point in points:
        start = time.perf_counter()
        result = simulate(layer, shared.acts, point.config, engine=point.engine)
        row = result_row(point, result)
        row["simulate_s"] = time.perf_counter() - start
        rows.append(row)
    for row in rows:  # the chunk's load and encode time, shared evenly by its points
        row["load_s"] = (t1 - t0) / len(rows)
        row["encode_s"] = (t2 - t1) / len(rows)
    return rows
