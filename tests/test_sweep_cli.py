"""``eiesim sweep`` on the command line: plans, runs, resumes and rejects bad options."""

from __future__ import annotations

import pytest

from eiesim.sweep import ResultStore

from tests.sweep_helpers import TINY


def test_dry_run_prints_the_plan(run_cli, tmp_path):
    code, out, _ = run_cli("sweep", "--layers", "all", "--grid", "n_pe=1..256:pow2",
                           "--grid", "queue_depth=1..256:pow2", "--out", tmp_path / "s", "--dry-run")
    assert code == 0
    assert "9 layers x 81 configurations = 729 points" in out
    assert "queue_depth: 1, 2, 4, 8, 16, 32, 64, 128, 256" in out
    assert not (tmp_path / "s").exists()


def test_run_and_resume(run_cli, tmp_path):
    args = ("sweep", "--layers", TINY, "--grid", "n_pe=1,2", "--set", "queue_depth=4", "--engine", "fast",
            "--out", tmp_path / "s", "--cache-dir", tmp_path / "c", "--jobs", "1", "--no-progress")
    code, out, err = run_cli(*args)
    assert code == 0, err
    assert "2 points computed, 0 already done" in out
    code, out, _ = run_cli(*args)
    assert "0 points computed, 2 already done" in out
    rows = ResultStore(tmp_path / "s").read()
    assert sorted(rows["n_pe"]) == [1, 2] and set(rows["queue_depth"]) == {4}


def test_toml_file(run_cli, tmp_path):
    path = tmp_path / "g.toml"
    path.write_text(f'layers = "{TINY}"\n[grid]\nn_pe = "1..4:pow2"\n')
    code, out, _ = run_cli("sweep", "--config", path, "--grid", "queue_depth=1,2", "--dry-run")
    assert code == 0 and "1 layers x 6 configurations = 6 points" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "n_pe=0"], "grid point n_pe=0: invalid configuration: n_pe"),
        (["--grid", "colour=1"], "unknown field 'colour'"),
        (["--layers", "Alex-99"], "unknown benchmark 'Alex-99'"),
        (["--set", "n_pe=1,2"], "give exactly one value"),
        (["--chunk", "0"], "--chunk must be at least 1"),
        (["--jobs", "0"], "--jobs must be -1 (all cores) or 1..256, got 0"),
        (["--dask-local", "--scheduler", "tcp://x:1"], "either --scheduler or --dask-local"),
        (["--config", "missing.toml"], "missing.toml"),
    ],
)
def test_bad_options_one_line(run_cli, tmp_path, args, message):
    code, _, err = run_cli("sweep", "--layers", TINY, "--out", tmp_path / "s", *args)
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and message in err


def test_unreachable_scheduler(run_cli, tmp_path):
    code, _, err = run_cli("sweep", "--layers", TINY, "--grid", "n_pe=1", "--out", tmp_path / "s",
                           "--cache-dir", tmp_path / "c", "--scheduler", "tcp://127.0.0.1:9",
                           "--scheduler-timeout", "1", "--no-progress")
    assert code == 1 and "cannot reach dask scheduler tcp://127.0.0.1:9" in err
    assert not (tmp_path / "s").exists()  # no empty store folder left behind
