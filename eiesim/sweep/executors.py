"""Where sweep tasks run: in this process, on local worker processes or on a dask cluster.

An executor maps a function over tasks and yields results as they finish, in any order.
The library never starts a cluster by itself: :class:`DaskExecutor` wraps a
``distributed.Client`` the caller made (the CLI's ``--scheduler`` / ``--dask-local``).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Iterable, Iterator


class SerialExecutor:
    """Runs tasks one after another in this process (debugging, tiny sweeps, tests)."""

    n_workers = 1
    forks = False

    def map_unordered(self, fn: Callable, tasks: Iterable[tuple]) -> Iterator[Any]:
        for args in tasks:
            yield fn(*args)


class ProcessExecutor:
    """A local pool of worker processes; ``n_jobs=-1`` uses every core.

    Workers are forked where the platform allows it, so they start with this process's
    imports; they ignore SIGINT (Ctrl-C stops the parent, which cancels what has not
    started) and, on Linux, are killed when the parent dies, even by SIGKILL. Workers
    live for the whole map, keeping their layer memo and warm JIT (a pool that recycles
    workers it suspects of leaking, like joblib's loky, loses both).
    """

    def __init__(self, n_jobs: int = -1):
        self.n_workers = (os.cpu_count() or 1) if n_jobs == -1 else max(1, n_jobs)
        self.forks = "fork" in multiprocessing.get_all_start_methods()  # workers inherit warm state

    def map_unordered(self, fn: Callable, tasks: Iterable[tuple]) -> Iterator[Any]:
        tasks = list(tasks)
        if self.n_workers == 1 or len(tasks) <= 1:
            yield from SerialExecutor().map_unordered(fn, tasks)
            return
        context = multiprocessing.get_context("fork" if self.forks else None)
        pool = ProcessPoolExecutor(min(self.n_workers, len(tasks)), mp_context=context,
                                   initializer=_worker_init, initargs=(os.getpid(),))
        try:
            futures = [pool.submit(fn, *args) for args in tasks]
            for future in as_completed(futures):
                yield future.result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


def _worker_init(parent: int) -> None:
    """Leave Ctrl-C to the parent, die with it (no orphans), and use one thread each."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # one worker per core already: OpenMP/BLAS threads would oversubscribe
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


class DaskExecutor:
    """Tasks on an existing ``distributed.Client`` (local or remote cluster)."""

    def __init__(self, client):
        self.client = client
        self.n_workers = max(1, len(client.scheduler_info().get("workers", {})))

    def map_unordered(self, fn: Callable, tasks: Iterable[tuple]) -> Iterator[Any]:
        from distributed import as_completed

        futures = [self.client.submit(fn, *args, pure=False) for args in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            self.client.cancel([f for f in futures if not f.done()])


def local_executor(n_jobs: int = -1):
    """The default executor: a process per core, or this process for one job."""
    return SerialExecutor() if n_jobs == 1 else ProcessExecutor(n_jobs)
