"""Where sweep tasks run: in this process, on local cores (joblib) or on a dask cluster.

An executor maps a function over tasks and yields results as they finish, in any order.
The library never starts a cluster by itself: :class:`DaskExecutor` wraps a
``distributed.Client`` the caller made (the CLI's ``--scheduler`` / ``--dask-local``).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Iterator


class SerialExecutor:
    """Runs tasks one after another in this process (debugging, tiny sweeps, tests)."""

    n_workers = 1

    def map_unordered(self, fn: Callable, tasks: Iterable[tuple]) -> Iterator[Any]:
        for args in tasks:
            yield fn(*args)


class JoblibExecutor:
    """Local process pool (joblib's loky backend); ``n_jobs=-1`` uses every core."""

    def __init__(self, n_jobs: int = -1):
        self.n_workers = (os.cpu_count() or 1) if n_jobs == -1 else max(1, n_jobs)

    def map_unordered(self, fn: Callable, tasks: Iterable[tuple]) -> Iterator[Any]:
        from joblib import Parallel, delayed

        tasks = list(tasks)
        if self.n_workers == 1 or len(tasks) <= 1:
            yield from SerialExecutor().map_unordered(fn, tasks)
            return
        parallel = Parallel(n_jobs=self.n_workers, return_as="generator_unordered", batch_size=1)
        yield from parallel(delayed(fn)(*args) for args in tasks)


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
    """The default executor: all cores through joblib, or this process for one job."""
    return SerialExecutor() if n_jobs == 1 else JoblibExecutor(n_jobs)
