"""A real dask.distributed cluster on this machine: ``dask scheduler`` and two ``dask worker``
processes on 127.0.0.1, driven by ``eiesim sweep --scheduler``. The stored rows must equal a
local run's: a point's row may not depend on which worker computed it.

Everything listens on 127.0.0.1 only, each wait is bounded, and every process started
here is stopped (terminate, then kill) whatever happens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from eiesim.sweep import SweepSpec, run_sweep, sweep_frame

from tests.sweep_helpers import SMALL, TINY

ROOT = Path(__file__).resolve().parents[1]
DASK = [sys.executable, "-m", "dask"]  # the `dask` command of this environment
START_S = 120  # scheduler file written and both workers registered, on a loaded 2-core machine
# Columns that measure this run's wall time, not the point: the only ones allowed to differ.
WALL_TIME_COLUMNS = {"sim_wall_s", "load_s", "encode_s", "simulate_s"}


def _start(args, log: Path, env) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def _stop(procs) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
    for proc in reversed(procs):
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def _wait_for_workers(address: str, count: int, deadline: float) -> None:
    from distributed import Client

    with Client(address, timeout=f"{max(1.0, deadline - time.monotonic()):.0f}s") as client:
        client.wait_for_workers(count, timeout=max(1.0, deadline - time.monotonic()))


def test_dask_scheduler_and_two_workers_give_the_rows_of_a_local_run(tmp_path, run_cli):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    scheduler_file = tmp_path / "scheduler.json"
    procs: list[subprocess.Popen] = []
    try:
        procs.append(_start([*DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                             "--scheduler-file", str(scheduler_file)], tmp_path / "scheduler.log", env))
        deadline = time.monotonic() + START_S
        while not scheduler_file.exists():
            assert procs[0].poll() is None, (tmp_path / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the scheduler wrote no address"
            time.sleep(0.2)
        time.sleep(0.2)  # the file is written in one go, but give the writer a moment to close it
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for i in range(2):
            procs.append(_start([*DASK, "worker", address, "--host", "127.0.0.1", "--nworkers", "1",
                                 "--nthreads", "1", "--no-dashboard", "--local-directory", str(tmp_path / f"w{i}")],
                                tmp_path / f"worker{i}.log", env))
        _wait_for_workers(address, 2, deadline)

        spec_args = ["--layers", f"{TINY},{SMALL}", "--grid", "n_pe=1,2,4", "--grid", "queue_depth=1,8",
                     "--engine", "fast", "--chunk", "2", "--no-progress"]
        code, out, err = run_cli("sweep", *spec_args, "--out", tmp_path / "cluster", "--scheduler", address,
                                 "--cache-dir", tmp_path / "cluster-cache")
        assert code == 0, err
        assert "12 points computed" in out
        from distributed import Client

        with Client(address, timeout="30s") as client:  # which workers hold a layer: which ran tasks
            held = client.run(lambda: len(__import__("eiesim.sweep.layers").sweep.layers._MEMO))
        assert len(held) == 2 and all(held.values()), held
    finally:
        _stop(procs)
    assert all(proc.poll() is not None for proc in procs)

    spec = SweepSpec.build([TINY, SMALL], ["n_pe=1,2,4", "queue_depth=1,8"], engine="fast")
    run_sweep(spec, tmp_path / "local", cache_dir=tmp_path / "local-cache", progress=False)
    cluster = sweep_frame(spec, tmp_path / "cluster").sort_values("point_hash").reset_index(drop=True)
    local = sweep_frame(spec, tmp_path / "local").sort_values("point_hash").reset_index(drop=True)
    assert len(cluster) == len(local) == 12
    assert set(cluster.columns) == set(local.columns)
    same = sorted(set(local.columns) - WALL_TIME_COLUMNS)
    assert cluster[same].to_json() == local[same].to_json()
