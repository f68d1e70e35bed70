"""Run a sweep: skip finished points, group the rest by encoding, store each finished chunk.

Stage 1 weight-shares every (layer, seed, weight_bits) in parallel into the cache folder;
stage 2 runs chunks of points sharing an encoding key, so each layer is interleaved once
per key and the fast engine compiles once per worker. Each finished chunk becomes one
Parquet part in the store before the next result is awaited, so stopping the sweep at
any moment loses nothing already finished, and a re-run computes only what is missing.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from eiesim.sweep.executors import SerialExecutor
from eiesim.sweep.grid import Point, SweepSpec
from eiesim.sweep.layers import cache_folder, prepare, size_hint
from eiesim.sweep.store import ResultStore
from eiesim.sweep.tasks import run_chunk

DEFAULT_CHUNK = 64


@dataclass
class SweepSummary:
    """What a run did, with the wall time of its stages (seconds)."""

    total: int
    skipped: int
    computed: int
    chunks: int
    prepare_wall_s: float = 0.0
    simulate_wall_s: float = 0.0
    busy: dict[str, float] = field(default_factory=dict)  # summed worker seconds per kind

    def line(self) -> str:
        busy = ", ".join(f"{k} {v:.1f}s" for k, v in self.busy.items())
        return (f"{self.computed} points computed, {self.skipped} already done, {self.total} in grid; "
                f"{self.chunks} chunks; wall: layers {self.prepare_wall_s:.1f}s, "
                f"simulation {self.simulate_wall_s:.1f}s; worker time: {busy or 'none'}")


def plan_chunks(points: list[Point], chunk_size: int = DEFAULT_CHUNK) -> list[list[Point]]:
    """Points grouped by encoding key, each group cut into chunks of at most ``chunk_size``."""
    groups: dict[tuple, list[Point]] = defaultdict(list)
    for p in points:
        groups[p.encoding_key].append(p)
    return [group[i:i + chunk_size] for group in groups.values() for i in range(0, len(group), chunk_size)]


def run_sweep(
    spec: SweepSpec | list[Point],
    store: ResultStore | str | Path,
    executor=None,
    cache_dir: str | Path | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool = True,
    desc: str = "sweep",
) -> SweepSummary:
    """Run every point not yet in ``store``; returns a summary. Rows go to the store."""
    from eiesim.progress import progress_bar as tqdm

    points = spec.points() if isinstance(spec, SweepSpec) else list(spec)
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    executor = executor or SerialExecutor()
    done = store.done_hashes()
    todo = list({p.point_hash: p for p in points if p.point_hash not in done}.values())
    summary = SweepSummary(total=len(points), skipped=len(points) - len(todo), computed=0, chunks=0)
    if not todo:
        return summary
    cache = str(cache_folder(cache_dir)) if cache_dir is not None else None

    t0 = time.perf_counter()
    # Largest layers first, so the longest weight sharing does not start last.
    layers = sorted({(p.source, p.seed, p.config.weight_bits) for p in todo}, key=lambda key: -size_hint(key[0]))
    if cache is not None and len(layers) > 1 and executor.n_workers > 1:
        with tqdm(total=len(layers), desc=f"{desc}: layers", unit="layer", disable=not progress) as bar:
            for seconds in executor.map_unordered(prepare, [(*key, cache) for key in layers]):
                summary.busy["layers"] = summary.busy.get("layers", 0.0) + seconds
                bar.update(1)
    summary.prepare_wall_s = time.perf_counter() - t0

    chunks = plan_chunks(todo, chunk_size)
    t1 = time.perf_counter()
    with tqdm(total=len(todo), desc=desc, unit="pt", disable=not progress, smoothing=0.1) as bar:
        for table in executor.map_unordered(run_chunk, [(chunk, cache) for chunk in chunks]):
            store.write(table)
            for kind in ("load_s", "encode_s", "simulate_s"):
                summary.busy[kind] = summary.busy.get(kind, 0.0) + sum(table.column(kind).to_pylist())
            summary.computed += table.num_rows
            summary.chunks += 1
            bar.update(table.num_rows)
    summary.simulate_wall_s = time.perf_counter() - t1
    return summary


def sweep_frame(spec: SweepSpec | list[Point], store: ResultStore | str | Path) -> pd.DataFrame:
    """The store's rows for exactly the points of ``spec``."""
    points = spec.points() if isinstance(spec, SweepSpec) else spec
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    return store.read({p.point_hash for p in points})
