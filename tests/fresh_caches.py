"""pytest plugin: every test starts with empty caches (``make mutants`` loads it with ``-p``).

A cache filled before a mutant runs (by an earlier test, or by mutmut's statistics run in
the parent process) hands the mutant's tests the unmutated result, so they cannot see the
mutation: ``energy/events.py``'s width helpers, reached only through the ``lru_cache`` of
``event_energies``, survived that way.
"""

import pytest

from eiesim import clear_caches


@pytest.fixture(autouse=True)
def _fresh_caches():
    clear_caches()
