"""Where sweep tasks run: in this process, on local worker processes or on a dask cluster.

An executor maps a function over tasks and yields results as they finish, in any order.
The library never starts a cluster unasked: :class:`DaskExecutor` wraps a
``distributed.Client`` the caller made (the CLI's ``--scheduler``), or starts a local
cluster when asked to (:meth:`DaskExecutor.local`, the CLI's ``--dask-local``).
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.forkserver
import os
import select
import signal
import threading
import time
import weakref
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Iterable, Iterator


class SerialExecutor:
    """Runs tasks one after another in this process (debugging, tiny sweeps, tests)."""

    n_workers = 1

    def map_unordered(self, fn: Callable, tasks: Iterable[tuple]) -> Iterator[Any]:
        for args in tasks:
            yield fn(*args)


class ProcessExecutor:
    """A local pool of worker processes; ``n_jobs=-1`` uses every core.

    Workers start from a fork server (spawn where there is none), never as forks of this
    process: a fork of a process whose OpenMP or BLAS threads ever ran (scikit-learn,
    torch, numpy) can hang on the copies of their locks. The fork server imports the
    sweep's modules once and every worker is forked from it, so workers start in
    milliseconds with those imports. Workers ignore SIGINT (Ctrl-C stops the parent,
    which cancels what has not started), exit when the parent dies even by SIGKILL,
    load the engine's compiled kernels once, and live until :meth:`close` (or the
    executor is garbage-collected), so every map of a sweep (layers, then chunks)
    reuses their memo and warm JIT.
    """

    def __init__(self, n_jobs: int = -1):
        self.n_workers = (os.cpu_count() or 1) if n_jobs == -1 else max(1, n_jobs)
        self._pool: ProcessPoolExecutor | None = None

    def map_unordered(self, fn: Callable, tasks: Iterable[tuple]) -> Iterator[Any]:
        tasks = list(tasks)
        if self.n_workers == 1 or len(tasks) <= 1:
            yield from SerialExecutor().map_unordered(fn, tasks)
            return
        pool = self._start()
        futures = [pool.submit(fn, *args) for args in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.n_workers, mp_context=worker_context(),
                                             initializer=_worker_init, initargs=(os.getpid(),))
            self._finalizer = weakref.finalize(self, self._pool.shutdown, wait=False, cancel_futures=True)
        return self._pool

    def close(self) -> None:
        """Stop the workers (waiting for them to exit); the next map starts new ones."""
        if self._pool is not None:
            self._finalizer.detach()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "ProcessExecutor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def worker_context(*preload: str) -> multiprocessing.context.BaseContext:
    """Fork server with the sweep modules (and ``preload``) imported and the engine's kernels
    loaded, or spawn where there is none.

    The server starts now, in the background: it imports while this process goes on. There
    is one per process, and its preload list is the one it started with.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["eiesim.sweep.warm", *preload])
    # One malloc arena per worker: a worker runs one task at a time, and a task on a thread
    # of its own (dask's) would otherwise get a second arena, whose heaps glibc gives back
    # and faults in again (1.25x the page faults). Read by glibc when the server starts.
    saved = os.environ.get("MALLOC_ARENA_MAX")
    os.environ["MALLOC_ARENA_MAX"] = "1"
    # Started from the main thread, the server (and the workers it forks) start with Ctrl-C
    # ignored: a Ctrl-C while it still imports would otherwise print its KeyboardInterrupt
    # traceback. Here Ctrl-C is blocked meanwhile, so one pressed then is delivered right after.
    main = threading.current_thread() is threading.main_thread()
    if main:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        if main:
            signal.signal(signal.SIGINT, handler)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        if saved is None:
            del os.environ["MALLOC_ARENA_MAX"]
        else:
            os.environ["MALLOC_ARENA_MAX"] = saved
    return context


def _worker_init(sweeper: int) -> None:
    """Leave Ctrl-C to the sweeping process, exit when it dies (even by SIGKILL), one thread each.

    Workers are children of the fork server, which in turn waits for them, so nothing but
    the worker itself notices the sweeping process dying: a daemon thread waits for that.
    """
    _settle_worker()
    threading.Thread(target=_exit_with, args=(sweeper,), daemon=True, name="exit-with-sweeper").start()


def _settle_worker() -> None:
    """What every sweep worker process does first (pool or dask): leave Ctrl-C to the sweeping
    process, which stops the workers (a worker would print a KeyboardInterrupt traceback),
    and run one OpenMP/BLAS thread, as each worker already has a core."""
    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threadpool_limits(1)


def _exit_with(pid: int) -> None:
    """Return never; end this process as soon as process ``pid`` has ended."""
    try:
        handle = os.pidfd_open(pid)  # Linux: readable once the process has ended
    except (AttributeError, OSError):
        handle = None
    if handle is not None:
        select.select([handle], [], [])
    else:
        while _alive(pid):
            time.sleep(0.5)
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class DaskExecutor:
    """Tasks on a ``distributed.Client`` (local or remote cluster); :meth:`close` closes
    what :meth:`local` started, a given client stays the caller's."""

    def __init__(self, client, owned: tuple = ()):
        self.client = client
        self.n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        self._owned = owned

    @classmethod
    def local(cls, n_workers: int) -> "DaskExecutor":
        """A dask ``LocalCluster`` of ``n_workers`` single-threaded workers for this executor.

        Workers are processes (the GIL) unless there is one. They are forked from the same
        kind of fork server as :class:`ProcessExecutor`'s, with dask's modules also preloaded:
        spawned workers would each import dask and the sweep again (1 s on two cores) and tear
        the interpreter down at exit (0.5 s). Hence, too, glibc keeps its adaptive mmap
        threshold (dask's nannies set MALLOC_TRIM_THRESHOLD_=65536 for spawned workers, which
        maps every large array a point makes afresh: 6x the page faults, 1.5x the CPU of the
        process pool measured here), and dask's thread-count variables do not reach the
        workers, so :func:`dask_setup` settles each as ``_worker_init`` does.
        Workers run without dask's sampling profiler (a thread waking every 10 ms) and the
        cluster's housekeeping runs less often than dask's defaults, which suit large
        clusters (a fifth of this process's CPU in a 729-point sweep). The cluster logs
        errors only, and nothing below critical while :meth:`close` stops it.
        """
        processes = n_workers > 1
        # First, so the fork server imports while dask loads here, and before the nannies
        # could give it dask's preload list.
        context = worker_context("distributed") if processes else None

        import dask
        from distributed import Client, LocalCluster

        config = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,  # None: unset
                  "distributed.worker.profile.enabled": False,
                  # Housekeeping at a pace for a few local workers: it shares their cores.
                  "distributed.admin.tick.interval": "1s",  # event-loop stall detector
                  "distributed.worker.memory.monitor-interval": "1s",
                  "distributed.admin.system-monitor.interval": "2s",
                  "distributed.scheduler.work-stealing": False}  # equal workers, queued tasks
        if context is not None:
            config["distributed.worker.multiprocessing-method"] = context.get_start_method()
            config["distributed.worker.preload"] = [*dask.config.get("distributed.worker.preload"), __name__]
        with dask.config.set(config):
            # No dashboard; the scheduler's HTTP server on a free port (its default, 8787, may be taken).
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes,
                                   dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                   silence_logs=logging.ERROR)
        client = Client(cluster)
        return cls(client, owned=(client, cluster))

    def map_unordered(self, fn: Callable, tasks: Iterable[tuple]) -> Iterator[Any]:
        from distributed import as_completed

        columns = list(zip(*tasks))  # client.map takes one sequence per argument
        if not columns:
            return
        futures = self.client.map(fn, *columns, pure=False)
        try:  # results are fetched in the background as tasks finish, a task's error raised here
            for _, result in as_completed(futures, with_results=True):
                yield result
        finally:
            self.client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        if self._owned:
            # Ours to stop, so nothing to report: a worker whose heartbeat meets the departing
            # scheduler logs that as an error (seen about once in five --dask-local runs).
            logger = logging.getLogger("distributed")
            level = logger.level
            try:
                self.client.run(_quiet_dask_logs, on_error="ignore")
                _quiet_dask_logs()
                for item in self._owned:
                    item.close()
            finally:
                logger.setLevel(level)
        self._owned = ()

    def __enter__(self) -> "DaskExecutor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _quiet_dask_logs() -> None:
    """Let only critical dask log records through (in a worker about to be stopped)."""
    logging.getLogger("distributed").setLevel(logging.CRITICAL)


def dask_setup(worker) -> None:
    """dask's hook for a worker preload module (:meth:`DaskExecutor.local`'s processes). No
    :func:`_exit_with` here: dask ends a worker whose parent's pipe closes (kill -9 checked)."""
    _settle_worker()


def local_executor(n_jobs: int = -1):
    """The default executor: a process per core, or this process for one job."""
    return SerialExecutor() if n_jobs == 1 else ProcessExecutor(n_jobs)
