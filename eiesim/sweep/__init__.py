"""Design-space sweeps: grids of layers x configurations, run in parallel, kept in Parquet.

::

    import workloads.benchmarks  # registers the nine benchmark layers (and group "all")
    from eiesim.sweep import SweepSpec, ResultStore, run_sweep, local_executor, sweep_frame
    from eiesim.sweep.layers import default_cache_dir

    spec = SweepSpec.build("all", ["n_pe=1..256:pow2", "queue_depth=1..256:pow2"])
    run_sweep(spec, ResultStore("sweep-results"), local_executor(), cache_dir=default_cache_dir())
    df = sweep_frame(spec, "sweep-results")   # one row per point of this grid

For a dask.distributed client you made, pass ``DaskExecutor(client)``; the library starts
a cluster only when asked (``DaskExecutor.local(n)``, the CLI's ``--dask-local``).
"""

import importlib

# Loaded on first use, so ``eiesim.sweep.layers`` (the layer cache of every command) does
# not pull in pandas, pyarrow and the executors.
_EXPORTS = {
    "DaskExecutor": "executors", "ProcessExecutor": "executors", "SerialExecutor": "executors",
    "local_executor": "executors", "Point": "grid", "SweepSpec": "grid", "parse_axis": "grid",
    "parse_layers": "grid", "parse_values": "grid", "SweepSummary": "runner", "plan_chunks": "runner",
    "run_sweep": "runner", "sweep_frame": "runner", "ResultStore": "store",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'eiesim.sweep' has no attribute {name!r}")
    return getattr(importlib.import_module(f"eiesim.sweep.{_EXPORTS[name]}"), name)
