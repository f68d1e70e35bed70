"""Shared fixtures: the engines every engine test runs against, and a CLI runner."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, settings

from eiesim.engines import ENGINES
from tests.strategies import DEEP_FACTOR

# Hypothesis profiles (HYPOTHESIS_PROFILE or --hypothesis-profile picks one):
# "ci" (the default) is derandomized, so `make test` draws the same examples every run;
# "deep" (`make test-deep`) draws fresh random examples, DEEP_FACTOR times as many.
settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
settings.register_profile(
    "deep", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=False,
    max_examples=100 * DEEP_FACTOR, print_blob=True,
)
# "mutants" (set by tools/mutants.py): the ci examples, but a failure is not shrunk, since a
# mutant only needs to fail, and shrinking a failing sweep takes minutes.
settings.register_profile("mutants", parent=settings.get_profile("ci"),
                          phases=[Phase.explicit, Phase.reuse, Phase.generate], database=None)
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
