"""Sweeps on dask.distributed: an in-process LocalCluster gives the same rows as a serial run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import distributed

from eiesim.counters import COUNTER_NAMES
from eiesim.sweep import DaskExecutor, SweepSpec, run_sweep, sweep_frame

from tests.sweep_helpers import SMALL, TINY

ROOT = str(Path(__file__).resolve().parents[1])


def _python(*args: str) -> subprocess.CompletedProcess:
    """``python ARGS`` in a fresh process (the sweep's own worker processes, its stderr whole)."""
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": ROOT}, cwd=ROOT)


def test_dask_local_cluster_matches_serial(tmp_path):
    spec = SweepSpec.build([TINY, SMALL], ["n_pe=2,4", "queue_depth=1,4"], engine="fast")
    run_sweep(spec, tmp_path / "serial", progress=False)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        executor = DaskExecutor(client)
        assert executor.n_workers == 1
        summary = run_sweep(spec, tmp_path / "dask", executor, cache_dir=tmp_path / "cache",
                            chunk_size=1, progress=False)
    assert (summary.computed, summary.chunks) == (8, 8)
    columns = ["point_hash", "cycles", *COUNTER_NAMES]
    a = sweep_frame(spec, tmp_path / "serial").sort_values("point_hash")[columns].reset_index(drop=True)
    b = sweep_frame(spec, tmp_path / "dask").sort_values("point_hash")[columns].reset_index(drop=True)
    assert a.equals(b)


def test_cli_dask_local(run_cli, tmp_path):
    code, out, err = run_cli("sweep", "--layers", TINY, "--grid", "n_pe=2", "--grid", "queue_depth=1,2",
                             "--engine", "fast", "--out", tmp_path / "s", "--cache-dir", tmp_path / "c",
                             "--dask-local", "--jobs", "1", "--no-progress")
    assert code == 0, err
    assert "2 points computed" in out


def test_cli_dask_local_with_processes_is_quiet(tmp_path):
    # Two worker processes, started and stopped by the CLI: stderr holds nothing.
    done = _python("-m", "eiesim", "sweep", "--layers", TINY, "--grid", "n_pe=2,4", "--grid", "queue_depth=1,2",
                   "--out", str(tmp_path / "s"), "--cache-dir", str(tmp_path / "c"), "--dask-local", "--jobs", "2",
                   "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "4 points computed" in done.stdout
    assert done.stderr == ""


def test_a_bad_grid_found_while_the_cluster_starts_is_one_line(tmp_path):
    # The cluster starts while the grid is built; a bad grid stops it again, quietly.
    done = _python("-m", "eiesim", "sweep", "--layers", TINY, "--grid", "n_pe=0", "--out", str(tmp_path / "s"),
                   "--dask-local", "--jobs", "2", "--no-progress")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "eiesim: error: grid point n_pe=0: invalid configuration: n_pe: Input should be greater than or equal to 1"]
    assert not (tmp_path / "s").exists()


def test_close_keeps_what_stopping_workers_log_off_stderr(tmp_path):
    # A worker may log an error while the cluster stops (its heartbeat meeting the departing
    # scheduler, a race seen about once in five runs); a plugin logs one every time here.
    script = tmp_path / "noisy.py"
    script.write_text(textwrap.dedent("""
        import logging

        from distributed import WorkerPlugin

        from eiesim.sweep import DaskExecutor


        class Noisy(WorkerPlugin):
            def teardown(self, worker):
                logging.getLogger("distributed.worker").error("NOISE from a stopping worker")


        if __name__ == "__main__":
            with DaskExecutor.local(2) as executor:
                executor.client.register_plugin(Noisy())
            print("closed")
    """))
    done = _python(str(script))
    assert done.returncode == 0 and done.stdout == "closed\n", done.stderr
    assert done.stderr == ""


def _worker_settings():
    import dask
    from threadpoolctl import threadpool_info

    return (os.environ.get("MALLOC_TRIM_THRESHOLD_"), dask.config.get("distributed.worker.profile.enabled"),
            dask.config.get("distributed.admin.tick.interval"),
            tuple(sorted({pool["num_threads"] for pool in threadpool_info()})))


def test_local_cluster_workers_keep_glibc_default_one_thread_and_no_profiler():
    # dask's nannies would set MALLOC_TRIM_THRESHOLD_ (every large array page-faulted in
    # afresh) and start the sampling profiler; DaskExecutor.local's workers have neither,
    # run housekeeping at its slower pace, are limited to one OpenMP/BLAS thread each (the
    # thread-count variables of dask's nannies do not reach forked workers), and close()
    # stops the cluster it started.
    with DaskExecutor.local(2) as executor:
        assert executor.n_workers == 2
        assert set(executor.client.run(_worker_settings).values()) == {(None, False, "1s", (1,))}
        client = executor.client
    assert client.status == "closed"


def test_an_in_process_cluster_leaves_this_process_as_it_was():
    # One worker runs in this process: its one-thread limit and quiet logs must not stay here.
    import logging

    from threadpoolctl import threadpool_info

    def threads():
        return sorted(pool["num_threads"] for pool in threadpool_info())

    logger = logging.getLogger("distributed")
    level, before = logger.level, threads()
    with DaskExecutor.local(1) as executor:
        assert list(executor.map_unordered(len, [("ab",)])) == [2]
    assert (logger.level, threads()) == (level, before)
