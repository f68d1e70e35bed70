"""Imported by the sweep's fork server (:func:`eiesim.sweep.executors.worker_context`): loads
the default engine's compiled kernels once, so every worker forked from the server starts
with them instead of loading them itself (0.4 s each).

Ctrl-C is the sweeping process's to handle: the server ignores it first thing (and the
workers it forks inherit that), so a Ctrl-C while it still imports prints no traceback."""

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)

from eiesim.sweep.tasks import warm_engine  # noqa: E402  (after the line above: imports take a second)

warm_engine("fast")
