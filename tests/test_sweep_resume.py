"""A real ``eiesim sweep`` process killed mid-way (SIGKILL and Ctrl-C) and resumed.

Nothing finished is lost, no row is duplicated or corrupt, and the resumed run computes
only the missing points.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest

from eiesim.sweep import ResultStore, SweepSpec


LAYER = "synth:1024x256:0.1:0.6"
AXES = ["n_pe=1,2,4,8", "queue_depth=1..16"]


def _sweep(store, chunk: int, jobs: int = 1, *options: str) -> list[str]:
    args = [sys.executable, "-m", "eiesim", "sweep", "--layers", LAYER, "--engine", "fast",
            "--out", str(store), "--cache-dir", str(store.parent / "cache"), "--jobs", str(jobs),
            "--chunk", str(chunk), "--no-progress", *options]
    for axis in AXES:
        args += ["--grid", axis]
    return args


@pytest.mark.parametrize(
    ("sig", "jobs", "group", "options"),
    [(signal.SIGKILL, 1, True, ()), (signal.SIGINT, 1, True, ()), (signal.SIGKILL, 2, False, ()),
     (signal.SIGINT, 2, True, ("--dask-local",))],
    ids=["SIGKILL", "SIGINT (Ctrl-C)", "SIGKILL parent of 2 workers", "SIGINT (Ctrl-C) on a dask LocalCluster"],
)
def test_killed_sweep_resumes_without_loss_or_duplicates(tmp_path, run_cli, sig, jobs, group, options):
    store = tmp_path / "store"
    # A program started while SIGINT is ignored keeps ignoring it, and this test may run so (as
    # a script's background job, or in mutmut's workers, which ignore Ctrl-C): the sweep would
    # then not stop. A handled SIGINT is reset to its default in the started program.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(_sweep(store, 1, jobs, *options), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + 120
    while len(list(store.glob("part-*.parquet"))) < 3:
        assert proc.poll() is None, "sweep ended before it could be killed"
        assert time.monotonic() < deadline, "sweep wrote no parts"
        time.sleep(0.01)
    # With workers: the fork server (and multiprocessing's resource tracker) are children
    # of the sweep, the workers children of the fork server.
    workers = psutil.Process(proc.pid).children(recursive=True)
    assert sum(w.ppid() != proc.pid for w in workers) == (jobs if jobs > 1 else 0)
    if group:
        os.killpg(proc.pid, sig)  # the whole group (as Ctrl-C does): this sweep and nothing else
    else:
        os.kill(proc.pid, sig)  # the parent alone: its workers must not outlive it
    _, err = proc.communicate(timeout=60)
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"orphaned workers {alive}"
    assert proc.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else 130), err
    if sig == signal.SIGINT:
        assert err.strip().splitlines() == ["eiesim: interrupted"]  # no worker's traceback either

    points = SweepSpec.build(LAYER, AXES, engine="fast").points()
    before = ResultStore(store).read()
    assert 3 <= len(before) < len(points), "killed after every point finished: nothing tested"
    assert before["point_hash"].is_unique
    assert set(before["point_hash"]) <= {p.point_hash for p in points}
    assert before["cycles"].notna().all()

    code, out, err = run_cli(*_sweep(store, chunk=64)[3:])  # the same command, in this process
    assert code == 0, err
    computed, skipped = map(int, re.search(r"(\d+) points computed, (\d+) already done", out).groups())
    assert (computed, skipped) == (len(points) - len(before), len(before))
    after = ResultStore(store).read()
    assert len(after) == len(points) and after["point_hash"].is_unique
    kept = after.set_index("point_hash").loc[before["point_hash"], "cycles"]
    assert kept.tolist() == before["cycles"].tolist()  # finished rows untouched
    print(f"{sig.name} ({'group' if group else 'parent'}, {jobs} job(s)): killed with "
          f"{len(before)}/{len(points)} points stored; resume computed {computed}, "
          f"skipped {skipped}; {len(after)} unique rows")
