"""Hostile inputs (issue 17): every case fails with one clear line, no traceback, nothing lost.

The CLI runs in-process (``run_cli``, see conftest) so each case costs milliseconds; a
subprocess is used only where the case needs a real process (signals, pids).
"""

from __future__ import annotations

import pytest

from eiesim.validate import SEED_MAX


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    """A non-zero exit with exactly one line on stderr, no traceback, naming the problem."""
    assert code != 0
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


# --- the top-level guard ---------------------------------------------------------------------

def _explode(*args, **kwargs):
    raise ZeroDivisionError("planted bug")


def test_an_unexpected_exception_is_one_line_naming_the_command(run_cli, monkeypatch):
    import workloads.benchmarks

    monkeypatch.setattr(workloads.benchmarks, "benchmark_layer", _explode)
    code, _, err = run_cli("simulate", "--benchmark", "Alex-6")
    assert_one_line_error(code, err, "eiesim simulate:", "ZeroDivisionError: planted bug",
                          "eiesim --debug simulate")


def test_debug_shows_the_traceback(monkeypatch):
    import workloads.benchmarks
    from eiesim.cli import main

    monkeypatch.setattr(workloads.benchmarks, "benchmark_layer", _explode)
    with pytest.raises(ZeroDivisionError, match="planted bug"):
        main(["--debug", "simulate", "--benchmark", "Alex-6"])


def test_out_of_memory_is_named(run_cli, monkeypatch):
    import workloads.benchmarks

    def no_memory(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(workloads.benchmarks, "benchmark_layer", no_memory)
    code, _, err = run_cli("simulate", "--benchmark", "Alex-6")
    assert_one_line_error(code, err, "eiesim simulate: out of memory")


# --- seeds: 0 <= seed < 2^32 everywhere, checked before any work ---------------------------------

SEED_COMMANDS = [
    ("simulate", "--benchmark", "Alex-6"),
    ("compress", "--benchmark", "Alex-6", "--out", "unused.npz"),
    ("energy", "--benchmark", "Alex-6"),
    ("baseline", "--benchmark", "Alex-6"),
    ("lenet",),
    ("paper", "--smoke", "--out", "unused"),
]


@pytest.mark.parametrize("seed", [-1, SEED_MAX + 1, 2**64 + 1])
@pytest.mark.parametrize("command", SEED_COMMANDS, ids=lambda c: c[0])
def test_bad_seed_is_rejected_up_front(run_cli, command, seed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(*command, "--seed", seed)
    assert_one_line_error(code, err, "--seed", str(seed))
    assert list(tmp_path.iterdir()) == []  # nothing ran, nothing written


@pytest.mark.parametrize("seed", ["-1", str(SEED_MAX + 1), "1.5"])
def test_bad_seed_axis_is_rejected_even_in_a_dry_run(run_cli, seed):
    code, _, err = run_cli("sweep", "--layers", "Alex-6", "--grid", f"seed={seed}", "--dry-run")
    assert_one_line_error(code, err, "seed")


def test_the_largest_seed_is_accepted(run_cli):
    code, _, err = run_cli("sweep", "--layers", "Alex-6", "--grid", f"seed=0,{SEED_MAX}", "--dry-run")
    assert code == 0, err


def test_library_seed_check():
    from eiesim.errors import EieError
    from workloads.benchmarks import benchmark_activations

    with pytest.raises(EieError, match="seed must be in 0..4294967295, got -1"):
        benchmark_activations("Alex-6", -1)
