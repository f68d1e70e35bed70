"""Sweep speed (SPEC §10): nine layers x PE counts 1..256 x queue depths 1..256 (powers of 2).

The 729 points, as a user runs them: ``eiesim sweep ... -j 2`` in a fresh process each time,
so every run pays for its own imports and workers. First cold (empty layer cache: every
layer is generated and weight-shared), then ``repeats`` times warm (cache filled, empty
result store) with the process pool and with ``--dask-local``, alternately, so that a
machine whose speed drifts affects both alike. The wall time of ``--dask-local`` should
stay within DASK_RATIO of the pool's (median over the repeats). Run with
``pytest -m benchmark benchmarks/bench_sweep.py -s`` or ``python benchmarks/bench_sweep.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AXES = ["n_pe=1..256:pow2", "queue_depth=1..256:pow2"]
POINTS = 729
TARGET_S = 12.0  # the cold sweep
DASK_RATIO = 1.2  # --dask-local against the process pool, warm


def sweep(root: Path, store: str, *options: str) -> dict[str, object]:
    """One ``eiesim sweep`` of the 729 points in a fresh process: its wall time and summary."""
    command = [sys.executable, "-m", "eiesim", "sweep", "--layers", "all", *(f"--grid={a}" for a in AXES),
               "--no-progress", "--cache-dir", str(root / "cache"), "--out", str(root / store), "-j", "2", *options]
    # Output to files, not pipes: the wall time ends when the command does, as at a shell
    # prompt, not when the fork server (which shares its stdout) has finished exiting too.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        code = subprocess.run(command, stdout=out, stderr=err, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}).returncode
        wall = time.perf_counter() - t0
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    assert code == 0 and f"{POINTS} points computed" in stdout, stdout + stderr
    assert stderr == "", stderr  # quiet, --dask-local's shutdown included
    return {"wall_s": round(wall, 2), "summary": stdout.strip().splitlines()[-1]}


def measure(root: Path, repeats: int = 3) -> dict[str, object]:
    out: dict[str, object] = {"points": POINTS, "workers": 2, "load_avg_before": os.getloadavg()[0]}
    out["cold"] = sweep(root, "store-cold")
    pool, dask = [], []
    for i in range(repeats):
        pool.append(sweep(root, f"store-pool-{i}"))
        dask.append(sweep(root, f"store-dask-{i}", "--dask-local"))
    out["warm_s"] = [run["wall_s"] for run in pool]
    out["dask_local_warm_s"] = [run["wall_s"] for run in dask]
    out["warm_summary"], out["dask_local_summary"] = pool[-1]["summary"], dask[-1]["summary"]
    out["dask_local_over_pool"] = round(statistics.median(out["dask_local_warm_s"]) / statistics.median(out["warm_s"]), 3)
    out["load_avg_after"] = os.getloadavg()[0]
    return out


@pytest.mark.benchmark
def test_sweep_729_points(tmp_path):
    result = measure(tmp_path)
    print(result)
    assert result["cold"]["wall_s"] <= TARGET_S, result
    assert result["dask_local_over_pool"] <= DASK_RATIO, result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="warm runs of each executor, alternately")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for key, value in measure(Path(tmp), args.repeats).items():
            print(f"{key}: {value}")
