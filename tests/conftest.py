"""Shared fixtures: the engines every engine test runs against, and a CLI runner."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from eiesim.engines import ENGINES
from tests.strategies import DEEP_FACTOR

# Two Hypothesis profiles (HYPOTHESIS_PROFILE or --hypothesis-profile picks one):
# "ci" (the default) is derandomized, so `make test` draws the same examples every run;
# "deep" (`make test-deep`) draws fresh random examples, DEEP_FACTOR times as many.
settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
settings.register_profile(
    "deep", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=False,
    max_examples=100 * DEEP_FACTOR, print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(params=sorted(ENGINES))
def engine(request) -> str:
    """Each engine in turn: tests written once run against every engine."""
    return request.param


@pytest.fixture
def run_cli(capsys):
    """Run ``eiesim ARGS...`` in-process; returns (exit code, stdout, stderr)."""
    from eiesim.cli import main

    def _run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in args])
        out, err = capsys.readouterr()
        return exit_info.value.code, out, err

    return _run
