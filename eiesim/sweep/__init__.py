"""Design-space sweeps: grids of layers x configurations, run in parallel, kept in Parquet.

::

    from eiesim.sweep import SweepSpec, ResultStore, run_sweep, local_executor, sweep_frame
    from eiesim.sweep.layers import default_cache_dir

    spec = SweepSpec.build("all", ["n_pe=1..256:pow2", "queue_depth=1..256:pow2"])
    run_sweep(spec, ResultStore("sweep-results"), local_executor(), cache_dir=default_cache_dir())
    df = sweep_frame(spec, "sweep-results")   # one row per point of this grid

The library never starts a cluster: pass ``DaskExecutor(client)`` for a dask.distributed
client you made.
"""

from eiesim.sweep.executors import DaskExecutor, ProcessExecutor, SerialExecutor, local_executor
from eiesim.sweep.grid import Point, SweepSpec, parse_axis, parse_layers, parse_values
from eiesim.sweep.runner import SweepSummary, plan_chunks, run_sweep, sweep_frame
from eiesim.sweep.store import ResultStore

__all__ = [
    "DaskExecutor", "Point", "ProcessExecutor", "ResultStore", "SerialExecutor", "SweepSpec",
    "SweepSummary", "local_executor", "parse_axis", "parse_layers", "parse_values", "plan_chunks",
    "run_sweep", "sweep_frame",
]
