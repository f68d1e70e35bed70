"""Imported by the sweep's fork server (:func:`eiesim.sweep.executors.worker_context`): loads
the default engine's compiled kernels once, so every worker forked from the server starts
with them instead of loading them itself (0.4 s each)."""

from eiesim.sweep.tasks import warm_engine

warm_engine("fast")
