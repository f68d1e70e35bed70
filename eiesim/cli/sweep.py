"""``eiesim sweep``: run a grid of layers x configurations into a resumable Parquet store."""

from __future__ import annotations

import click

from eiesim.cli import MAX_JOBS, FiniteFloatRange, config_fields, config_option
from eiesim.engines import engine_names


@click.command()
@click.option("--layers", default=None, help="'all', benchmark names (comma-separated) or synth:MxK:W:A, a random M x K layer with "
                   "weight density W and activation density A (0..1), e.g. synth:512x256:0.1:0.5  [default: all]")
@click.option("--grid", "axes", multiple=True, metavar="FIELD=VALUES",
              help="an axis: any ArchConfig field or seed (e.g. timing=spec,eie-cpp); VALUES is a,b,c or lo..hi[:step|:pow2]. Repeatable.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="TOML file with layers, engine, [grid] and [base]; --layers/--grid/--engine override it")
@config_option
@click.option("--engine", type=click.Choice(list(engine_names())), default=None, help="simulation engine [default: fast]")
@click.option("--out", "out", type=click.Path(file_okay=False), default="sweep-results", show_default=True,
              help="result store folder (Parquet parts); re-running skips finished points")
@click.option("--jobs", "-j", type=int, default=-1, show_default=True, help="local worker processes (-1: all cores)")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="run on an existing dask.distributed scheduler")
@click.option("--dask-local", is_flag=True, help="start a dask LocalCluster with --jobs workers for this run")
@click.option("--scheduler-timeout", type=FiniteFloatRange(min=0, min_open=True), default=10.0, show_default=True, help="seconds to reach --scheduler")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="folder for weight-shared layers [default: $XDG_CACHE_HOME/eiesim/layers]")
@click.option("--chunk", type=int, default=64, show_default=True, help="most points per stored chunk")
@click.option("--dry-run", is_flag=True, help="validate and print the plan, run nothing")
@click.option("--no-progress", is_flag=True, help="no progress bar")
def sweep(layers, axes, config_file, settings, engine, out, jobs, scheduler, dask_local, scheduler_timeout,
          cache_dir, chunk, dry_run, no_progress) -> None:
    """Simulate every point of a design-space grid, in parallel, into a Parquet store.

    Example: eiesim sweep --layers all --grid n_pe=1..256:pow2 --grid queue_depth=1..256:pow2
    """
    from eiecore.atomic import check_output_folder
    from eiecore.errors import EieError

    check_output_folder("--out", out)
    if cache_dir is not None:
        check_output_folder("--cache-dir", cache_dir)
    if chunk < 1:
        raise EieError(f"--chunk must be at least 1, got {chunk}")
    if jobs == 0 or not -1 <= jobs <= MAX_JOBS:
        raise EieError(f"--jobs must be -1 (all cores) or 1..{MAX_JOBS}, got {jobs}")
    if scheduler and dask_local:
        raise EieError("give either --scheduler or --dask-local, not both")
    with _Workers(jobs, scheduler, dask_local, scheduler_timeout, start=not dry_run) as workers:
        spec = _spec(layers, axes, config_file, settings, engine)
        click.echo(f"sweep: {len(spec.layers)} layers x {spec.n_points // len(spec.layers)} configurations "
                   f"= {spec.n_points} points, engine {spec.engine} -> {out}")
        if dry_run:
            for name, values in spec.axes.items():
                click.echo(f"  {name}: {', '.join(map(str, values))}")
            return
        from eiesim.sweep import ResultStore, run_sweep
        from eiesim.sweep.layers import default_cache_dir

        executor = workers.executor()
        store = ResultStore(out)  # only once workers are there: a failed connection leaves no folder
        summary = run_sweep(spec, store, executor, cache_dir=cache_dir or default_cache_dir(), chunk_size=chunk,
                            progress=not no_progress)
    click.echo(f"sweep: {summary.line()}")


def _spec(layers, axes, config_file, base, engine):
    """The grid the options (and --config file) describe, every point validated."""
    from eiesim.sweep import SweepSpec
    import workloads.benchmarks  # noqa: F401  (registers the benchmark layers with the sweep)

    fixed = config_fields(base, allow_seed=True)  # fixed for every point
    if config_file:
        spec = SweepSpec.from_toml(config_file, layers, list(axes), engine)
        return SweepSpec.build(spec.layers, spec.axes, {**spec.base, **fixed}, spec.engine)
    return SweepSpec.build("all" if layers is None else layers, list(axes), fixed, engine or "fast")


class _Workers:
    """Where the sweep runs, as the options ask: started on entry, closed (with any cluster
    it started) on exit.

    Local worker processes come from a fork server, which starts on entry and imports the
    sweep while the grid is built; a ``--dask-local`` cluster starts meanwhile on a thread
    of its own. ``--scheduler`` is reached in :meth:`executor`, before the store is made.
    """

    def __init__(self, jobs: int, scheduler: str | None, dask_local: bool, timeout: float, start: bool = True):
        import os

        self.jobs, self.scheduler, self.dask_local, self.timeout, self.start = jobs, scheduler, dask_local, timeout, start
        self.n_workers = (os.cpu_count() or 1) if jobs == -1 else jobs
        self.closers: list = []
        self.cluster = None  # the --dask-local cluster's start: a Future of its DaskExecutor

    def __enter__(self) -> "_Workers":
        if self.start and self.n_workers > 1 and not (self.scheduler or self.dask_local):
            from eiesim.sweep.executors import worker_context

            worker_context()  # DaskExecutor.local starts its own first thing
        if self.start and self.dask_local:
            from concurrent.futures import ThreadPoolExecutor

            from eiesim.sweep import DaskExecutor

            starter = ThreadPoolExecutor(1, thread_name_prefix="start-dask-local")
            self.cluster = starter.submit(DaskExecutor.local, self.n_workers)
            starter.shutdown(wait=False)
        return self

    def executor(self):
        """The executor, once its workers are there."""
        from eiesim.sweep import DaskExecutor, local_executor

        if self.cluster is not None:
            return self.cluster.result()  # closed by __exit__
        if self.scheduler:
            from distributed import Client

            try:
                client = Client(self.scheduler, timeout=f"{self.timeout}s")
            except (OSError, TimeoutError, ValueError) as exc:  # ValueError: not an address
                from eiecore.errors import EieError

                raise EieError(f"cannot reach dask scheduler {self.scheduler}: {exc}") from None
            self.closers.append(client)
            return DaskExecutor(client)
        executor = local_executor(self.jobs)
        if hasattr(executor, "close"):
            self.closers.append(executor)
        return executor

    def __exit__(self, *exc) -> None:
        if self.cluster is not None and self.cluster.exception() is None:  # waits for a start under way
            self.cluster.result().close()
        for item in self.closers:
            item.close()
