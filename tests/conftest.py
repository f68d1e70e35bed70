"""Shared fixtures: the engines every engine test runs against, and a CLI runner."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from eiesim.engines import ENGINES

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile("default")


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
