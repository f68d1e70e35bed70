"""pytest plugin: every test starts with empty caches (``make mutants`` loads it with ``-p``).

A cache filled before a mutant runs (by an earlier test, or by mutmut's statistics run in
the parent process) hands the mutant's tests the unmutated result, so they cannot see the
mutation: ``energy/events.py``'s width helpers, reached only through the ``lru_cache`` of
``event_energies``, survived that way.
"""

import os

import pytest

# mutmut forks each mutant's test process from its runner, whose statistics run has already
# used torch: a fork of a process with OpenMP worker threads deadlocks in its first parallel
# operation, so every mutant whose tests run torch would time out and count as caught. With
# one thread torch starts no workers. Set before torch is imported (this plugin loads first).
os.environ["OMP_NUM_THREADS"] = "1"

from eiesim import clear_caches


@pytest.fixture(autouse=True)
def _fresh_caches():
    clear_caches()


def pytest_configure(config):
    """mutmut runs each mutant's tests in a process forked from its runner, which may have
    started multiprocessing's fork server in an earlier test run (the sweep's pools do): the
    fork inherits that server's pid, not its child, and waiting on it raises
    ChildProcessError, which would fail every pool test and count each mutant as caught.
    Forget the inherited server, so the first pool here starts its own."""
    import threading
    from multiprocessing import forkserver

    server = forkserver._forkserver
    if server._forkserver_pid is not None:
        server._forkserver_address = server._forkserver_alive_fd = server._forkserver_pid = None
        server._inherited_fds = None
        server._lock = threading.Lock()
