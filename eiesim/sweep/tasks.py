"""The work a sweep worker does: encode a layer once, simulate every point that shares it.

A task is a chunk of points with one encoding key. The worker takes the shared layer from
its memo (or the cache folder), interleaves it once, warms the engine's JIT once per
process (or finds it warmed by the fork server: ``eiesim.sweep.warm``), then simulates
each point and returns an Arrow table of one flat row per point.
"""

from __future__ import annotations

import time
import types
import typing
from collections import Counter
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa

from compressor.csc import compress_layer
from eiecore.caches import Cache
from eiesim.config import ArchConfig
from eiesim.simulation import simulate
from eiesim.sweep.grid import Point
from eiesim.sweep.layers import encode, shared_layer
from eiesim.sweep.store import rows_table

_WARM = Cache("sweep warmed engines")  # engine name -> True once its JIT ran here
_LAST_ENCODED = Cache("sweep last encoded layer", maxsize=1)  # chunks of one key run back to back


def warm_engine(engine: str) -> None:
    """Run the engine once on a tiny layer so JIT compilation is not charged to a point."""
    if engine in _WARM:
        return
    config = ArchConfig(n_pe=2, queue_depth=1)
    w = np.array([[0.5, 0.0, -0.25], [0.0, 0.75, 0.0], [0.1, 0.0, 0.3]])
    simulate(compress_layer(w, config), np.array([1.0, 0.5, 0.25]), config, engine=engine, outputs=False)
    _WARM[engine] = True


def energy_columns(report) -> dict[str, Any]:
    """The energy report as flat, SQL-safe columns with their unit in the name.

    Per model (``event``, ``table2``): ``energy_<model>_total_pj``, ``energy_<model>_avg_power_mw``,
    ``energy_<model>_per_pe_pj`` (a list) and per line ``energy_<model>_<line>_{count,pj_each,pj}``;
    and per module of several lines ``energy_<model>_module_<module>_pj`` (a module of one
    line, as all of Table II's, would repeat that line). Then the models' ratio and the
    area estimate (``area_total_mm2``, ``area_<unit>_um2``, ``lnzd_nodes``).
    """
    row: dict[str, Any] = {}
    for model in report.estimates:
        prefix = f"energy_{model.model}"
        row[f"{prefix}_total_pj"] = float(model.total)
        row[f"{prefix}_avg_power_mw"] = float(model.avg_power_mw)
        row[f"{prefix}_per_pe_pj"] = [float(x) for x in model.per_pe]
        lines_of = Counter(line.module for line in model.lines)
        for module, pj in model.per_module.items():
            if lines_of[module] > 1:  # a module of one line would repeat that line's column
                row[f"{prefix}_module_{module}_pj"] = float(pj)
        for line in model.lines:
            row[f"{prefix}_{line.name}_count"] = int(line.count)
            row[f"{prefix}_{line.name}_pj_each"] = float(line.pj_each)
            row[f"{prefix}_{line.name}_pj"] = float(line.pj)
    for ratio, value in report.ratios().items():
        row["energy_" + ratio.replace("/", "_over_")] = float(value)
    if report.area is not None:
        row["area_total_mm2"] = float(report.area["total_mm2"])
        for unit, um2 in report.area["per_unit_um2"].items():
            row[f"area_{unit}_um2"] = float(um2)
        row["lnzd_nodes"] = int(report.area["lnzd_nodes"])
    return row


@cache
def config_types() -> dict[str, pa.DataType]:
    """The Arrow type of every configuration column, from :class:`ArchConfig`'s fields: an
    optional field (a rule override) is typed even in a part where no point sets it."""
    plain = {bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.string()}
    found = {}
    for name, field in ArchConfig.model_fields.items():
        annotation = field.annotation
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        if typing.get_origin(annotation) is typing.Literal:
            annotation = type(typing.get_args(annotation)[0])
        found[name] = plain[annotation]
    return found


def result_row(point: Point, result, shared) -> dict[str, Any]:
    """One store row: identity, the layer's shape and densities, the full config, counters,
    metrics, per-PE arrays, energy (:func:`energy_columns`)."""
    m, k = shared.shape
    row: dict[str, Any] = {
        "point_hash": point.point_hash, "config_hash": point.config_hash,
        "layer": point.layer, "engine": point.engine, "seed": point.seed, "code_version": point.code,
        "rows_m": int(m), "cols_k": int(k),
        "weight_density": shared.weights.codes.size / (m * k),
        "act_density": float(np.count_nonzero(shared.acts)) / shared.acts.size,
        **point.config.model_dump(),
        "cycles": int(result.cycles), "time_us": float(result.time_us),
        "n_blocks": len(result.block_cycles),
        **result.counters.to_dict(), **result.metrics,
        "per_pe_busy": np.asarray(result.per_pe.busy).astype(int).tolist(),
        "per_pe_starved": np.asarray(result.per_pe.starved).astype(int).tolist(),
        "per_pe_real": np.asarray(result.per_pe.real).astype(int).tolist(),
        "fits": bool(result.fit.fits),  # the fullest PE's use of each SRAM, below (capacities: *_sram_kb)
        "spmat_sram_used_bits": int(result.fit.spmat_bits), "ptr_sram_used_bits": int(result.fit.ptr_bits),
        "act_sram_used_bits": int(result.fit.act_bits),
        "sim_wall_s": result.sim_wall_s,
    }
    row.update(energy_columns(result.energy))
    return row


def run_chunk(points: list[Point], cache_dir: str | None = None) -> pa.Table:
    """Simulate a chunk of points with one encoding key: a table of one row per point
    (:func:`result_row`), with the time spent. A table, not dicts, travels to the sweeping
    process and into the store at a fraction of the cost."""
    first = points[0]
    warm_engine(first.engine)
    t0 = time.perf_counter()
    shared = shared_layer(first.source, first.seed, first.config.weight_bits, cache_dir)
    t1 = time.perf_counter()
    layer = _LAST_ENCODED.get(first.encoding_key)
    if layer is None:
        layer = encode(shared, first.config)
        _LAST_ENCODED[first.encoding_key] = layer
    t2 = time.perf_counter()
    rows = []
    for point in points:
        start = time.perf_counter()
        result = simulate(layer, shared.acts, point.config, engine=point.engine, outputs=False)
        row = result_row(point, result, shared)
        row["simulate_s"] = time.perf_counter() - start
        rows.append(row)
    for row in rows:  # the chunk's load and encode time, shared evenly by its points
        row["load_s"] = (t1 - t0) / len(rows)
        row["encode_s"] = (t2 - t1) / len(rows)
    return rows_table(rows, config_types())
