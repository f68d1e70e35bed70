"""Hostile inputs (issue 17): every case fails with one clear line, no traceback, nothing lost.

The CLI runs in-process (``run_cli``, see conftest) so each case costs milliseconds; a
subprocess is used only where the case needs a real process (signals, pids).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eiecore.validate import SEED_MAX

REPO = Path(__file__).resolve().parents[1]


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
    from eiecore.errors import EieError
    from workloads.benchmarks import benchmark_activations

    with pytest.raises(EieError, match="seed must be in 0..4294967295, got -1"):
        benchmark_activations("Alex-6", -1)


# --- one output policy ------------------------------------------------------------------------

@pytest.fixture
def small(tmp_path, monkeypatch):
    """A small layer, its activations and a compressed model of it, in a fresh working folder."""
    import numpy as np

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    np.save("W.npy", rng.normal(size=(12, 8)) * (rng.random((12, 8)) < 0.5))
    np.save("a.npy", rng.random(8))
    return tmp_path


SIM = ("simulate", "--weights", "W.npy", "--acts", "a.npy", "--pes", "4")
COMPRESS = ("compress", "--weights", "W.npy", "--pes", "4", "--accumulators", "4")


def _listing(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize("args, needles", [
    (SIM + ("--perfetto", "x.json", "--json", "x.json"), ("--perfetto x.json is also --json x.json: give each output its own file",)),
    (COMPRESS + ("--out", "x.npz", "--json", "x.npz"), ("--json x.npz is also --out x.npz",)),
    (SIM + ("--json", "a.npy"), ("--json a.npy is also --acts a.npy: refusing to overwrite an input",)),
    (SIM + ("--json", "./sub/../W.npy"), ("is also --weights W.npy",)),
    (COMPRESS + ("--out", "W.npy"), ("--out W.npy is also --weights W.npy",)),
    (SIM + ("--json", ""), ("--json: give a file name",)),
    (SIM + ("--perfetto", ""), ("--perfetto: give a file name",)),
    (COMPRESS + ("--out", ""), ("--out: give a file name",)),
    (SIM + ("--json", "sub"), ("--json sub is a folder",)),
    (SIM + ("--json", "nodir/r.json"), ("cannot write --json nodir/r.json: its folder nodir does not exist",)),
    (SIM + ("--json", "W.npy/r.json"), ("cannot write --json W.npy/r.json: Not a directory",)),
])
def test_bad_outputs_are_refused_before_any_work(run_cli, small, args, needles):
    (small / "sub").mkdir()
    before = _listing(small)
    code, out, err = run_cli(*args)
    assert_one_line_error(code, err, *needles)
    assert out == ""  # refused before the simulation ran
    assert _listing(small) == before


def test_an_output_that_is_a_hard_link_to_an_input_is_refused(run_cli, small):
    import os

    os.link("a.npy", "same.json")
    code, _, err = run_cli(*SIM, "--json", "same.json")
    assert_one_line_error(code, err, "--json same.json is also --acts a.npy")


def test_decompress_onto_its_own_model_is_refused(run_cli, small):
    code, _, err = run_cli(*COMPRESS, "--out", "m.npz")
    assert code == 0, err
    before = _listing(small)
    code, _, err = run_cli("decompress", "--model", "m.npz", "--out", "m.npz")
    assert_one_line_error(code, err, "--out m.npz is also --model m.npz")
    assert _listing(small) == before


def test_a_symlink_output_replaces_its_target_and_stays_a_link(run_cli, small):
    import json
    import os

    os.mkdir("real")
    with open("real/r.json", "w") as f:
        f.write("old")
    os.symlink("real/r.json", "link.json")
    code, _, err = run_cli(*SIM, "--json", "link.json")
    assert code == 0, err
    assert os.path.islink("link.json") and os.readlink("link.json") == "real/r.json"
    assert json.loads((small / "real" / "r.json").read_text())["n_pe"] == 4
    assert sorted(os.listdir("real")) == ["r.json"]  # no temporary left beside the target


def test_a_dangling_symlink_output_creates_its_target(run_cli, small):
    import os

    os.symlink("made.json", "link.json")
    code, _, err = run_cli(*SIM, "--json", "link.json")
    assert code == 0, err
    assert os.path.islink("link.json") and (small / "made.json").stat().st_size > 0


def test_dev_full_stays_a_device_and_publishes_nothing(run_cli, small):
    import os
    import stat

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    code, _, err = run_cli(*SIM, "--perfetto", "ok.json", "--json", "/dev/full")
    assert_one_line_error(code, err, "cannot write --json /dev/full", "No space left on device")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    assert not (small / "ok.json").exists()  # all outputs or none
    assert sorted(p.name for p in small.iterdir()) == ["W.npy", "a.npy"]


def test_a_fifo_is_written_into_not_replaced(run_cli, small):
    import json
    import os
    import stat
    import threading

    os.mkfifo("pipe")
    got = []
    reader = threading.Thread(target=lambda: got.append(open("pipe", "rb").read()))
    reader.start()
    code, _, err = run_cli(*SIM, "--json", "pipe")
    reader.join(timeout=30)
    assert code == 0, err
    assert stat.S_ISFIFO(os.stat("pipe").st_mode)
    assert json.loads(got[0])["n_pe"] == 4


def test_dash_writes_to_standard_output(run_cli, small):
    import json

    code, _, err = run_cli(*COMPRESS, "--out", "m.npz")
    assert code == 0, err
    code, out, err = run_cli("info", "m.npz", "--json", "-")
    assert code == 0, err
    doc = json.loads(out[out.index("\n{") + 1:])
    assert doc["layers"][0]["shape"] == [12, 8]
    assert not (small / "-").exists()


def test_a_failing_writer_publishes_nothing(run_cli, small, monkeypatch):
    import eiesim.cli.compress as cli_compress

    def failing(text):
        def write(tmp):
            raise OSError(28, "No space left on device", str(tmp))
        return write

    monkeypatch.setattr(cli_compress, "text_writer", failing)
    (small / "m.npz").write_bytes(b"precious")
    code, _, err = run_cli(*COMPRESS, "--out", "m.npz", "--json", "r.json")
    assert_one_line_error(code, err, "cannot write --json r.json: No space left on device")
    assert (small / "m.npz").read_bytes() == b"precious"
    assert sorted(p.name for p in small.iterdir()) == ["W.npy", "a.npy", "m.npz"]  # no temporaries


def test_outputs_are_checked_before_lenet_trains(run_cli, small):
    code, out, err = run_cli("lenet", "--json", "nodir/l.json")
    assert_one_line_error(code, err, "its folder nodir does not exist")
    assert out == ""


def test_energy_plot_and_json_publish_together(run_cli, small, monkeypatch):
    import os

    os.mkdir("plots")
    code, _, err = run_cli("energy", "--sram-width-study", "--benchmark", "NT-We", "--plot-dir", "plots",
                           "--json", "/dev/full")
    assert_one_line_error(code, err, "/dev/full")
    assert os.listdir("plots") == []


def test_stale_temporaries_of_gone_processes_are_removed(small):
    import os
    import subprocess
    import sys

    from eiecore.atomic import TMP_PREFIX, _HOST, write_text

    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout)
    folder = small / "fresh"
    folder.mkdir()
    stale = folder / f"{TMP_PREFIX}{dead}-{'a' * 12}-{_HOST}-m.npz"
    live = folder / f"{TMP_PREFIX}{os.getpid()}-{'b' * 12}-{_HOST}-m.npz"
    stale.write_bytes(b"left by kill -9")
    live.write_bytes(b"being written")
    write_text(folder / "x.txt", "x")
    assert not stale.exists() and live.exists()


def test_a_killed_compress_leaves_a_temporary_that_the_next_run_removes(small):
    """kill -9 during the write: the pid-named temporary goes at the next write into that folder."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from eiecore.atomic import TMP_PREFIX

    code = ("import time, eiecore.atomic as a\n"
            "a.write_atomic('m.npz', lambda tmp: (open(tmp, 'wb').write(b'half'), time.sleep(60)))\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=small, env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.time() + 30
    while not any(p.name.startswith(TMP_PREFIX) for p in small.iterdir()) and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = [p for p in small.iterdir() if p.name.startswith(TMP_PREFIX)]
    assert len(left) == 1 and str(proc.pid) in left[0].name
    from eiecore.atomic import write_text

    write_text(small / "other.txt", "x")
    assert not left[0].exists() and not (small / "m.npz").exists()
