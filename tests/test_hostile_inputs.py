"""Hostile inputs: every case fails with one clear line, no traceback, nothing lost.

The CLI runs in-process (``run_cli``, see conftest) so each case costs milliseconds; a
subprocess is used only where the case needs a real process (signals, pids).
"""

from __future__ import annotations

import re
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

    def read_pipe():
        with open("pipe", "rb") as pipe:
            got.append(pipe.read())

    reader = threading.Thread(target=read_pipe)
    reader.start()
    code, _, err = run_cli(*SIM, "--json", "pipe")
    reader.join(timeout=30)
    assert code == 0, err
    assert stat.S_ISFIFO(os.stat("pipe").st_mode)
    assert json.loads(got[0])["n_pe"] == 4


@pytest.mark.parametrize("args", [
    ("info", "m.npz", "--json", "-"),
    ("compress", "--weights", "W.npy", "--pes", "4", "--accumulators", "4", "--out", "m2.npz", "--json", "-"),
    ("infer", "--model", "net.npz", "--inputs", "x.npy", "--json", "-"),
    ("energy", "--benchmark", "NT-We", "--json", "-"),
    ("simulate", "--weights", "W.npy", "--acts", "a.npy", "--pes", "4", "--json", "-"),
])
def test_dash_carries_only_its_one_output(run_cli, small, args):
    import json

    import numpy as np

    from compressor.csc import compress_layer
    from eiesim.config import ArchConfig
    from eiesim.modelfile import CompressedModel, save_model

    assert run_cli(*COMPRESS, "--out", "m.npz")[0] == 0
    config = ArchConfig(n_pe=2)
    save_model("net.npz", CompressedModel([compress_layer(np.eye(3), config, name="fc")], config))
    np.save("x.npy", np.ones((2, 3)))
    code, out, err = run_cli(*args)
    assert code == 0, err
    json.loads(out)  # standard output is the one JSON document, nothing else
    assert err.strip() and not (small / "-").exists()  # the human text went to stderr


def test_dash_carries_a_binary_output_alone_and_two_outputs_on_one_stream_are_refused(small):
    import io
    import os
    import subprocess
    import sys

    import numpy as np

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = [sys.executable, "-m", "eiesim"]
    assert subprocess.run([*run, *COMPRESS, "--out", "m.npz"], env=env, capture_output=True).returncode == 0
    proc = subprocess.run([*run, "decompress", "--model", "m.npz", "--out", "-"], env=env, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert np.load(io.BytesIO(proc.stdout)).shape == (12, 8) and b"wrote" not in proc.stdout
    proc = subprocess.run([*run, *SIM, "--json", "-", "--perfetto", "/dev/stdout"], env=env, capture_output=True,
                          text=True)
    assert_one_line_error(proc.returncode, proc.stderr, "--perfetto /dev/stdout is also --json -")
    assert proc.stdout == ""


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


def _read_only_mount(monkeypatch, folder):
    """Make every file creation under ``folder`` fail as on a read-only mount."""
    import errno
    import os

    import eiecore.atomic

    real = eiecore.atomic._temporary
    root = os.path.realpath(folder)

    def refuse(target, suffix=""):
        if os.path.realpath(target).startswith(root + os.sep):
            raise OSError(errno.EROFS, "Read-only file system")
        return real(target, suffix)

    monkeypatch.setattr(eiecore.atomic, "_temporary", refuse)


@pytest.mark.parametrize("args, work", [
    (("study", "table4", "--layers", "Alex-8", "--inputs", "1", "--out", "ro/t4"), "eiesim.paper.table4:validation"),
    (("study", "balance", "--layers", "Alex-8", "--inputs", "1", "--out", "ro/b"),
     "eiesim.paper.pruning:balance_study"),
    (("lenet", "--export", "ro/lenet"), "workloads.lenet:run_lenet"),
    (("energy", "--sram-width-study", "--benchmark", "NT-We", "--plot-dir", "ro/plots"),
     "eiesim.paper.studies:sram_width_study"),
    (("sweep", "--layers", "NT-We", "--grid", "n_pe=2", "--out", "ro"), "eiesim.sweep:run_sweep"),
    (("lab", "open", "2", "--dest", "ro"), "eiesim.labs.grading:assign"),
    (("lab", "build", "--lab", "2", "--out", "ro/course"), "eiesim.labs.grading:assign"),
])
def test_an_unwritable_output_folder_is_found_before_any_work(run_cli, small, monkeypatch, args, work):
    import importlib

    (small / "ro").mkdir()
    _read_only_mount(monkeypatch, small / "ro")
    module, name = work.split(":")
    monkeypatch.setattr(importlib.import_module(module), name, _explode)
    code, out, err = run_cli(*args)
    assert_one_line_error(code, err, "Read-only file system")
    assert "planted bug" not in err and list((small / "ro").iterdir()) == []


def test_a_plot_folder_made_for_figures_that_fail_is_removed(run_cli, small, monkeypatch):
    import errno

    from eiesim.paper import figures

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(figures, "sram_width", full_disk)
    code, _, err = run_cli("energy", "--sram-width-study", "--benchmark", "NT-We", "--plot-dir", "plots")
    assert_one_line_error(code, err, "No space left on device")
    assert not (small / "plots").exists()


def test_a_study_that_fails_leaves_no_output_folder(run_cli, small, monkeypatch):
    import eiesim.paper.table4

    monkeypatch.setattr(eiesim.paper.table4, "validation", _explode)
    code, _, err = run_cli("study", "table4", "--layers", "Alex-8", "--inputs", "1", "--out", "t4")
    assert_one_line_error(code, err, "planted bug")
    assert not (small / "t4").exists()


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


# --- weight sharing keeps the pattern; complex and non-finite inputs are refused ------------------

def test_one_huge_outlier_keeps_every_weight_non_zero():
    import numpy as np

    from compressor.csc import compress_layer
    from eiesim.config import ArchConfig

    rng = np.random.default_rng(0)
    w = rng.normal(size=(30, 20)) * 0.1 * (rng.random((30, 20)) < 0.7)
    w[0, 0] = 1e30
    layer = compress_layer(w, ArchConfig.make(n_pe=4, accumulators_per_pe=8))
    dense = layer.to_dense()
    assert np.array_equal(dense != 0, w != 0)


def test_subnormal_weights_are_refused_with_the_numbers(run_cli, small):
    import numpy as np

    np.save("tiny.npy", np.random.default_rng(0).normal(size=(12, 8)) * 1e-310)
    code, _, err = run_cli(*COMPRESS[:2], "tiny.npy", *COMPRESS[3:], "--out", "m.npz")
    assert_one_line_error(code, err, "96 of 96 kept weights are subnormal", "scale the layer up")
    assert not (small / "m.npz").exists()


def test_complex_weights_are_refused_on_every_path(run_cli, small):
    import numpy as np
    import scipy.sparse as sp

    from compressor.csc import compress_layer
    from compressor.quantize import share_weights
    from eiecore.errors import EieError

    np.save("c.npy", np.ones((4, 4), complex))
    code, _, err = run_cli("compress", "--weights", "c.npy", "--out", "m.npz")
    assert_one_line_error(code, err, "real numbers", "complex")
    for bad in (sp.coo_matrix(np.eye(3) * (1 + 1j)), np.eye(3) * 1j):
        with pytest.raises(EieError, match="real numbers"):
            compress_layer(bad)
    with pytest.raises(EieError, match="real numbers"):
        share_weights(np.array([1 + 1j]))


def test_a_complex_state_dict_is_refused(run_cli, small):
    torch = pytest.importorskip("torch")
    bias = torch.zeros(4)
    torch.save({"fc.weight": torch.randn(4, 3, dtype=torch.complex64), "fc.bias": bias}, "c.pt")
    torch.save({"fc.weight": torch.randn(4, 3).to_sparse(), "fc.bias": bias}, "s.pt")
    torch.save({"fc.weight_orig": torch.randn(4, 3), "fc.weight_mask": torch.ones(3, 3), "fc.bias": bias}, "m.pt")
    for name, needle in (("c.pt", "real numbers, got torch.complex64"), ("s.pt", "sparse tensor"),
                         ("m.pt", "fc.weight_mask has shape (3, 3) but fc.weight_orig has (4, 3)")):
        code, _, err = run_cli("compress", "--state-dict", name, "--out", "out.npz")
        assert_one_line_error(code, err, needle)


def test_a_module_that_exits_is_an_error_not_success(run_cli, small):
    pytest.importorskip("torch")
    code, _, err = run_cli("compress", "--torch-module", "sys:exit", "--out", "m.npz")
    assert_one_line_error(code, err, "sys:exit", "SystemExit")
    assert not (small / "m.npz").exists()


@pytest.mark.parametrize("args, needle", [
    (("sweep", "--layers", "Alex-6", "--grid", "clock_mhz=inf", "--dry-run"), "clock_mhz: expected a finite number"),
    (("sweep", "--layers", "Alex-6", "--grid", "clock_mhz=nan", "--dry-run"), "clock_mhz: expected a finite number"),
    (("sweep", "--layers", "Alex-6", "--set", "clock_mhz=1e400", "--dry-run"), "expected a finite number"),
    (("baseline", "--energy-seconds", "nan"), "'nan' is not a finite number"),
    (("baseline", "--energy-seconds", "inf"), "'inf' is not a finite number"),
    (("sweep", "--scheduler-timeout", "-1", "--dry-run"), "--scheduler-timeout"),
    (("sweep", "--layers", "", "--dry-run"), "no layers given"),
    (("sweep", "--layers", "synth:abc", "--dry-run"), "expected synth:MxK:W:A"),
])
def test_non_finite_and_empty_options_are_named(run_cli, args, needle):
    code, _, err = run_cli(*args)
    assert_one_line_error(code, err, needle)


def test_config_refuses_non_finite_fields():
    from eiesim.config import ArchConfig
    from eiecore.errors import EieError

    for value in (float("inf"), float("nan")):
        with pytest.raises(EieError, match="clock_mhz"):
            ArchConfig.make(clock_mhz=value)


@pytest.mark.parametrize("text, needle", [
    ("layers = 5\n", "layers must be a string or a list of strings, got 5"),
    ("base = [1]\n", "base must be a table, got [1]"),
    ("grid = 3\n", "grid must be a table"),
    ("engine = 1\n", "engine must be a string"),
])
def test_sweep_config_with_wrong_types(run_cli, tmp_path, text, needle):
    path = tmp_path / "s.toml"
    path.write_text(text)
    code, _, err = run_cli("sweep", "--config", path, "--dry-run")
    assert_one_line_error(code, err, needle)


def test_an_energy_table_entry_too_large_to_sum_is_refused(tmp_path):
    from eiesim.energy.tables import load_table
    from eiecore.errors import EieError

    source = (REPO / "eiesim" / "energy" / "tables" / "horowitz_45nm.toml").read_text()
    bad = tmp_path / "t.toml"
    bad.write_text(source.replace("value = 0.03", "value = 1e308", 1))
    with pytest.raises(EieError, match="up to 1e\\+09, got 1e\\+308"):
        load_table(bad, "events")


def test_json_output_names_a_non_finite_field():
    from eiecore.atomic import json_text
    from eiecore.errors import EieError

    with pytest.raises(EieError, match=r"field layers\[1\].energy.total is not a finite number"):
        json_text({"layers": [{"energy": {"total": 1.0}}, {"energy": {"total": float("inf")}}]})


# --- model manifests ----------------------------------------------------------------------------

def _model_with_manifest(tmp_path, edit) -> Path:
    """A valid model file whose manifest ``edit`` changes (the checksum recomputed to match)."""
    import json

    import numpy as np

    from compressor.csc import compress_layer
    from eiesim.modelfile import CompressedModel, _checksum, save_model
    from eiesim.config import ArchConfig

    config = ArchConfig.make(n_pe=2, accumulators_per_pe=2)
    path = save_model(tmp_path / "m.npz", CompressedModel([compress_layer(np.eye(4), config, name="fc")], config))
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    manifest = json.loads(arrays.pop("manifest").tobytes())
    manifest.pop("sha256")
    text = edit(manifest)
    if text is None:
        manifest["sha256"] = _checksum(manifest, arrays)
        text = json.dumps(manifest)
    with open(path, "wb") as f:
        np.savez(f, manifest=np.frombuffer(text.encode(), np.uint8), **arrays)
    return path


def _set(key_path, value):
    def edit(manifest):
        target = manifest
        for key in key_path[:-1]:
            target = target[key]
        target[key_path[-1]] = value
    return edit


@pytest.mark.parametrize("edit, needle", [
    (lambda m: '{"format": "eiesim-compressed-model", "version": 1, "x": NaN}', "NaN is not a number JSON allows"),
    (lambda m: "[" * 100_000 + "]" * 100_000, "nests too deeply"),
    (_set(("version",), True), "format version True"),
    (_set(("layers", 0, "codebook"), [[0.0, 1.0], [2.0]]), "the codebook is not a list of numbers"),
    (_set(("source",), 5), "manifest field 'source' is missing or not a str"),
])
def test_bad_manifests_are_one_line(run_cli, tmp_path, edit, needle):
    path = _model_with_manifest(tmp_path, edit)
    code, _, err = run_cli("info", path)
    assert_one_line_error(code, err, needle)
    assert err.count(f"model file {path}") <= 1  # the file named once, not as a doubled prefix


# --- memory bounded by the input ------------------------------------------------------------------

@pytest.mark.parametrize("args, needle", [
    (("simulate", "--benchmark", "Alex-6", "--accumulators", "100000000"), "accumulators_per_pe"),
    (("simulate", "--benchmark", "Alex-6", "--accumulators", "1000000"), "rows per block"),
    (("sweep", "--dry-run", "--layers", "Alex-6", "--grid", "queue_depth=1..1000000000000"),
     "has 1000000000000 values, more than 65536"),
    (("sweep", "--dry-run", "--layers", "Alex-6", "--grid", "n_pe=1..1000", "--grid", "queue_depth=1..1000"),
     "the grid has 1000000 points, more than 100000"),
    (("sweep", "--dry-run", "--layers", "synth:1000000x1000000:1e-9:0.5"), "1.57e+10 pointers (117 GiB)"),
    (("sweep", "--dry-run", "--layers", "synth:200000x200000:1e-7:0.5"), "6.27e+08 pointers"),
    (("sweep", "--dry-run", "--layers", "synth:100000000x1:1:0"), "at most 67108864"),
    (("sweep", "--dry-run", "--layers", "synth:60000x60000:0.1:0"), "non-zeros"),
])
def test_size_options_are_bounded_before_any_allocation(run_cli, args, needle):
    code, _, err = run_cli(*args)
    assert_one_line_error(code, err, needle)


@pytest.mark.parametrize("command", [
    ("simulate", "--benchmark", "Alex-8"), ("study", "table4"), ("study", "balance"), ("study", "ppr", "--no-lenet"),
])
@pytest.mark.parametrize("value, needle", [
    ("100000", "--inputs must be at most 4096 (the inputs of a layer are held at once), got 100000"),
    ("0", "--inputs must be at least 1, got 0"),
    ("2.5", "--inputs must be a whole number, got '2.5'"),
])
def test_every_inputs_count_is_bounded_in_one_place(run_cli, command, value, needle):
    code, _, err = run_cli(*command, "--inputs", value)
    assert_one_line_error(code, err, needle)


def test_baseline_batch_is_bounded(run_cli):
    code, _, err = run_cli("baseline", "--batch", "5000")
    assert_one_line_error(code, err, "--batch must be at most 4096 (a call holds K x batch values), got 5000")


def test_a_huge_sparse_layer_runs_with_enough_accumulators(run_cli, tmp_path):
    # With R = 65536 the 1e6 x 1e6 layer is one row block: 64 x (1e6 + 1) pointers fit.
    code, out, err = run_cli("sweep", "--dry-run", "--layers", "synth:1000000x1000000:1e-9:0.5",
                             "--set", "accumulators_per_pe=65536")
    assert code == 0, err


def test_an_npy_header_is_checked_against_the_file_size(run_cli, small):
    import numpy as np

    header = np.lib.format.header_data_from_array_1_0(np.zeros(1))
    header["shape"] = (100000, 100000)
    with open("huge.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(b"x" * 40)
    code, _, err = run_cli(*SIM[:2], "huge.npy", *SIM[3:])
    assert_one_line_error(code, err, "declares a 100000 x 100000 float64 array (80000000000 bytes) but holds 40")
    (small / "rand.npy").write_bytes(bytes(range(128)))
    code, _, err = run_cli(*SIM[:2], "rand.npy", *SIM[3:])
    assert_one_line_error(code, err, "weights file rand.npy is not a .npy array file")
    assert "allow_pickle" not in err


def _tampered_model(tmp_path, member: str, data: bytes) -> Path:
    """A valid small model file with one member replaced by ``data`` (stored as given)."""
    import zipfile

    import numpy as np

    from compressor.csc import compress_layer
    from eiesim.modelfile import CompressedModel, save_model
    from eiesim.config import ArchConfig

    config = ArchConfig.make(n_pe=2, accumulators_per_pe=2)
    good = save_model(tmp_path / "good.npz", CompressedModel([compress_layer(np.eye(4), config, name="fc")], config))
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, data if info.filename == member else src.read(info))
    return bad


def test_a_model_member_that_inflates_hugely_is_streamed_not_held(tmp_path):
    import io
    import tracemalloc

    import numpy as np

    from eiesim.modelfile import load_model
    from eiecore.errors import EieError

    buffer = io.BytesIO()
    np.save(buffer, np.zeros(64 * 2**20, np.uint8))  # 64 MiB of zeros deflate to about 64 KiB
    path = _tampered_model(tmp_path, "layer0.code.npy", buffer.getvalue())
    assert path.stat().st_size < 2**20
    tracemalloc.start()
    try:
        with pytest.raises(EieError, match=r"rel has shape \(\d+,\), code has \(67108864,\)"):
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20  # the 64 MiB member was never held


def test_a_correctly_signed_small_file_declaring_a_huge_layer_is_refused_before_allocating(tmp_path, monkeypatch):
    import tracemalloc

    import numpy as np
    import scipy.sparse as sp

    from compressor.csc import compress_layer
    from eiecore.errors import EieError
    from eiesim import modelfile
    from eiesim.config import ArchConfig

    # An empty 1 x 2^18 layer at N = R = 1: its 2 MiB pointer table of zeros deflates ~500x.
    config = ArchConfig(n_pe=1, accumulators_per_pe=1)
    layer = compress_layer(sp.coo_matrix((1, 2**18)), config, name="wide")
    path = tmp_path / "wide.eie"
    modelfile.save_model(path, modelfile.CompressedModel([layer], config))
    size = path.stat().st_size
    assert size < 2**16 and layer.ptr.nbytes == (2**18 + 1) * 8
    assert modelfile.load_model(path).layers[0].ptr.shape == (1, 1, 2**18 + 1)  # within the default cap
    monkeypatch.setattr(modelfile, "MAX_INFLATED_FLOOR", 2**20)  # 1 MiB + 64 x the file's size < 2 MiB
    cap = 2**20 + 64 * size
    tracemalloc.start()
    try:
        with pytest.raises(EieError, match=rf"its arrays would take \d+ bytes, more than the {cap} a {size}-byte "
                                           r"file may hold \(1 MiB \+ 64 x its size\)"):
            modelfile.load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # refused before the pointer table was read


@pytest.mark.parametrize("member, shape, needle", [
    ("layer0.ptr.npy", (1, 2, 3), "ptr has shape (1, 2, 3), expected"),
    ("layer0.start.npy", (7,), "start has shape (7,), expected"),
    ("layer0.rel.npy", (1,), "rel has shape (1,), code has"),
])
def test_member_shapes_must_match_what_the_manifest_declares(tmp_path, member, shape, needle):
    import io

    import numpy as np

    from eiecore.errors import EieError
    from eiesim.modelfile import load_model

    buffer = io.BytesIO()
    np.save(buffer, np.zeros(shape, np.uint8 if "rel" in member else np.int64))
    with pytest.raises(EieError, match=re.escape(needle)):
        load_model(_tampered_model(tmp_path, member, buffer.getvalue()))


def test_a_model_member_whose_header_lies_about_its_size(tmp_path):
    import io

    import numpy as np

    from eiesim.modelfile import load_model
    from eiecore.errors import EieError

    buffer = io.BytesIO()
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1, np.uint8))
    header["shape"] = (10**10,)
    np.lib.format.write_array_header_1_0(buffer, header)
    path = _tampered_model(tmp_path, "layer0.code.npy", buffer.getvalue() + b"\0" * 16)
    with pytest.raises(EieError, match=r"member layer0.code.npy declares shape \(10000000000,\) but holds 16 bytes"):
        load_model(path)


# --- self-healing store and layer cache --------------------------------------------------------

SWEEP = ("sweep", "--layers", "synth:40x30:0.3:0.5", "--grid", "n_pe=2,4", "--jobs", "1", "--no-progress")


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage", "foreign"])
def test_a_bad_store_part_is_quarantined_and_its_points_recomputed(run_cli, tmp_path, damage):
    import pandas as pd

    store, cache = tmp_path / "store", tmp_path / "cache"
    args = (*SWEEP, "--out", store, "--cache-dir", cache)
    code, _, err = run_cli(*args, "--chunk", "1")
    assert code == 0, err
    parts = sorted(store.glob("part-*.parquet"))
    assert len(parts) == 2
    victim = parts[0]
    if damage == "truncated":
        victim.write_bytes(victim.read_bytes()[:40])
    elif damage == "empty":
        victim.write_bytes(b"")
    elif damage == "garbage":
        victim.write_bytes(bytes(range(256)) * 4)
    else:
        pd.DataFrame({"something": [1, 2]}).to_parquet(victim)
    code, out, err = run_cli(*args, "--chunk", "1")
    assert code == 0, err
    assert len(err.strip().splitlines()) == 1 and f"part {victim.name} is unreadable" in err, err
    assert "1 points computed, 1 already done" in out
    assert (store / "_quarantine" / victim.name).exists() and not victim.exists()
    code, out, err = run_cli(*args)  # healed: nothing to do, no warning
    assert code == 0 and err == "" and "0 points computed, 2 already done" in out, (out, err)


@pytest.mark.parametrize("damage", ["truncated", "flipped", "foreign"])
def test_a_bad_layer_cache_entry_is_a_miss_and_is_rebuilt(run_cli, tmp_path, damage, monkeypatch):
    from collections import OrderedDict

    import numpy as np

    import eiesim.sweep.layers

    monkeypatch.setattr(eiesim.sweep.layers, "_MEMO", OrderedDict())  # no layer from an earlier test
    store, cache = tmp_path / "store", tmp_path / "cache"
    code, _, err = run_cli(*SWEEP, "--out", store, "--cache-dir", cache)
    assert code == 0, err
    (entry,) = cache.rglob("synth_40x30_0.3_0.5-*s0-b4.eiesim-cache.npz")
    good = entry.read_bytes()
    if damage == "truncated":
        entry.write_bytes(good[: len(good) // 2])
    elif damage == "flipped":
        data = bytearray(good)
        data[len(data) // 3] ^= 0x10  # inside an array: the zip CRC-32 catches it
        entry.write_bytes(bytes(data))
    else:
        np.savez(entry, meta=np.array(["other-layer", "False", "relu"]), shape=np.array([2, 2]),
                 rows=np.zeros(1, np.int32), cols=np.zeros(1, np.int32), codes=np.ones(1, np.uint8),
                 codebook=np.zeros(16), acts=np.zeros(2))
    eiesim.sweep.layers._MEMO.clear()  # as a new process: only the cache file can supply the layer
    code, out, err = run_cli(*SWEEP, "--out", tmp_path / "store2", "--cache-dir", cache)
    assert code == 0 and "Traceback" not in err, err
    assert entry.read_bytes() == good  # rebuilt: the same seeded layer, written again
    import pandas as pd

    first, second = (pd.read_parquet(p).sort_values("point_hash") for p in (store, tmp_path / "store2"))
    assert first["cycles"].tolist() == second["cycles"].tolist()


def test_a_scheduler_that_is_not_an_address_is_named(run_cli, tmp_path):
    code, _, err = run_cli("sweep", "--layers", "NT-We", "--scheduler", "not a url", "--out", tmp_path / "s")
    assert_one_line_error(code, err, "cannot reach dask scheduler not a url")


# --- terminal escaping -----------------------------------------------------------------------

EVIL = "\x1b]0;owned\x07fc\x1b[2J\r\u202e"


def test_strings_from_files_and_users_reach_the_terminal_escaped(run_cli, small):
    import json

    import numpy as np

    from compressor.csc import compress_layer
    from eiesim.config import ArchConfig
    from eiesim.modelfile import CompressedModel, save_model

    config = ArchConfig(n_pe=2)
    save_model("evil.npz", CompressedModel([compress_layer(np.eye(3), config, name=EVIL)], config, source=EVIL))
    np.save("x.npy", np.ones((2, 3)))
    np.save("a3.npy", np.ones(3))
    runs = [run_cli("info", "evil.npz"), run_cli("simulate", "--model", "evil.npz", "--acts", "a3.npy"),
            run_cli("infer", "--model", "evil.npz", "--inputs", "x.npy"),
            run_cli("simulate", "--model", "evil.npz", "--acts", "a3.npy", "--layer", EVIL + "x"),
            run_cli("simulate", "--benchmark", EVIL)]
    for code, out, err in runs:
        for text in (out, err):
            assert not any(c in text for c in "\x1b\x07\r\u202e"), text
    assert "\\x1b]0;owned\\x07fc" in runs[0][1] and runs[3][0] != 0 and "\\x1b" in runs[3][2]
    # Machine outputs keep the name exactly (JSON escapes it its own way).
    code, out, err = run_cli("info", "evil.npz", "--json", "-")
    assert code == 0 and json.loads(out)["layers"][0]["name"] == EVIL


def test_warnings_naming_layers_from_files_reach_the_terminal_escaped(run_cli, small):
    import numpy as np
    import torch

    from compressor.csc import compress_layer
    from eiesim.config import ArchConfig
    from eiesim.modelfile import CompressedModel, save_model

    # A state dict whose layer and skipped module are named with control characters: the
    # registration-order warning and the "not imported" line name them.
    torch.save({EVIL + ".weight": torch.ones(4, 3), EVIL + ".bias": torch.ones(4),
                "conv\x1b[31m.weight": torch.ones(2, 1, 3, 3)}, "sd.pt")
    code, out, err = run_cli("compress", "--state-dict", "sd.pt", "--out", "m.eie")
    # A negative input under eie-cpp: the dropped-inputs warning names the layer.
    config = ArchConfig(n_pe=2)
    save_model("evil.npz", CompressedModel([compress_layer(np.eye(3), config, name=EVIL, activation="none")], config))
    np.save("x.npy", np.array([[1.0, -1.0, 1.0]]))
    infer = run_cli("infer", "--model", "evil.npz", "--inputs", "x.npy", "--timing", "eie-cpp")
    assert code == 0 and infer[0] == 0
    assert "registration order" in err and "not imported" in err and "are negative" in infer[2]
    for text in (out, err, infer[1], infer[2]):
        assert not any(c in text for c in "\x1b\x07\r\u202e"), text
    assert "\\x1b" in err and "\\x1b" in infer[2]


def test_printable_escapes_controls_and_keeps_what_it_is_told():
    from eiecore.terminal import printable

    assert printable("a\x1b[31mb\x07c\r\n\td\x9b\u200fe") == "a\\x1b[31mb\\x07c\\r\\n\\td\\x9b\\u200fe"
    assert printable("line\n\tnext\x1b", keep="\n\t") == "line\n\tnext\\x1b"
    assert printable("Ünïcode ok €") == "Ünïcode ok €"


# --- biases and --density ----------------------------------------------------------------------

@pytest.mark.parametrize("prune_bias", [False, True])
def test_density_prunes_weights_not_biases_unless_asked(run_cli, small, prune_bias):
    import numpy as np

    # Weights of magnitude 1..10 in a 8 x 10 block; the 8 biases are the smallest values (0.01..0.08).
    w = np.arange(1, 81, dtype=float).reshape(8, 10) / 8
    bias = np.arange(1, 9) / 100
    np.save("wb.npy", np.hstack([w, bias[:, None]]))
    extra = ("--prune-bias",) if prune_bias else ()
    code, _, err = run_cli("compress", "--weights", "wb.npy", "--bias", "--density", "0.2", "--pes", "2",
                           *extra, "--out", "wb.npz")
    assert code == 0, err
    assert run_cli("decompress", "--model", "wb.npz", "--out", "back.npy")[0] == 0
    back = np.load("back.npy")
    if prune_bias:  # 0.2 x 88 = 17.6 -> 18 largest values over weights and biases: no bias among them
        assert np.count_nonzero(back[:, -1]) == 0 and np.count_nonzero(back) == 18
    else:  # 0.2 x 80 weights = 16 kept, every bias kept
        assert np.count_nonzero(back[:, -1]) == 8 and np.count_nonzero(back[:, :-1]) == 16


def test_a_benchmark_bias_survives_density(run_cli, small):
    import numpy as np

    code, _, err = run_cli("compress", "--benchmark", "NT-LSTM", "--density", "0.01", "--out", "lstm.npz")
    assert code == 0, err
    assert run_cli("decompress", "--model", "lstm.npz", "--out", "lstm.npy")[0] == 0
    bias = np.load("lstm.npy")[:, -1]
    from workloads.benchmarks import benchmark_weights

    original = benchmark_weights("NT-LSTM", 0).tocsc()[:, -1].toarray().ravel()
    assert np.count_nonzero(bias) == np.count_nonzero(original) > 0


# --- the Python API's types --------------------------------------------------------------------

@pytest.mark.parametrize("fields, needle", [
    ({"n_pe": True}, "n_pe: a boolean (True) is not a valid value"),
    ({"queue_depth": False}, "queue_depth: a boolean (False) is not a valid value"),
    ({"act_frac_bits": 8.7}, "act_frac_bits: Input should be a valid integer, got a number with a fractional part"),
    ({"n_pe": 0}, "n_pe: Input should be greater than or equal to 1"),
    ({"bogus": 1}, "bogus: unknown configuration key"),
])
def test_arch_config_raises_the_documented_eie_error(fields, needle):
    from eiecore.errors import EieError
    from eiesim import ArchConfig

    with pytest.raises(EieError) as raised:
        ArchConfig(**fields)  # the constructor itself, not only ArchConfig.make
    assert needle in str(raised.value) and "\n" not in str(raised.value)


def test_api_type_mistakes_are_clear_errors(tmp_path):
    import numpy as np

    from compressor.csc import EncodedLayer, compress_layer
    from eiecore.errors import EieError
    from eiesim import ArchConfig, simulate
    from eiesim.inference import infer
    from eiesim.modelfile import CompressedModel, save_model

    config = ArchConfig(n_pe=2)
    layer = compress_layer(np.eye(3), config, name="fc")
    with pytest.raises(EieError, match="config must be an ArchConfig .* got dict"):
        simulate(layer, np.ones(3), {"n_pe": 2})
    with pytest.raises(EieError, match="layer must be an EncodedLayer .* got ndarray"):
        simulate(np.eye(3), np.ones(3), config)
    save_model(tmp_path / "m.eie", CompressedModel([layer], config))
    with pytest.raises(EieError, match="model must be a CompressedModel .*load_model.* got PosixPath"):
        infer(tmp_path / "m.eie", np.ones((1, 3)))
    with pytest.raises(EieError, match="activation must be 'relu' or 'none', got 'tanh'"):
        EncodedLayer(**{**layer.__dict__, "activation": "tanh"})
    with pytest.raises(EieError, match="activation must be 'relu' or 'none', got 'tanh'"):
        compress_layer(np.eye(3), config, activation="tanh")
    model = CompressedModel([layer], config)
    for bad in (8.7, True, "8.5"):
        with pytest.raises(EieError, match="act_frac_bits takes a number of bits or 'auto'"):
            infer(model, np.ones((1, 3)), act_frac_bits=bad)
    with pytest.raises(EieError, match="masked array"):
        simulate(layer, np.ma.masked_array(np.ones(3), mask=[0, 1, 0]), config)
    with pytest.raises(EieError, match="reference outputs must be real numbers, got dtype complex128"):
        infer(model, np.ones((1, 3)), reference=np.ones((1, 3)) + 1j)
    with pytest.raises(EieError, match="inputs must be real numbers, got dtype bool"):
        infer(model, np.ones((1, 3), bool))


def test_labels_are_checked_against_the_outputs_and_accuracy_counts_them():
    import numpy as np

    from compressor.csc import compress_layer
    from eiecore.errors import EieError
    from eiesim import ArchConfig
    from eiesim.inference import infer
    from eiesim.modelfile import CompressedModel

    config = ArchConfig(n_pe=2)
    model = CompressedModel([compress_layer(np.array([[1.0, 0.0], [0.0, 1.0]]), config, name="fc",
                                            activation="none")], config)
    x = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])  # argmax: 0, 1, 1
    result = infer(model, x, labels=np.array([0, 1, 0]))
    assert result.to_dict()["accuracy"]["chip"] == pytest.approx(2 / 3)
    with pytest.raises(EieError, match=r"labels must be classes 0..1 \(the network has 2 outputs\), got 0..2"):
        infer(model, x, labels=np.array([0, 1, 2]))
    with pytest.raises(EieError, match="labels must be real numbers, got dtype bool"):
        infer(model, x, labels=np.array([True, False, True]))


def test_one_pass_timing_that_cannot_hold_a_layer_names_what_the_user_chose():
    import scipy.sparse as sp

    from compressor.csc import compress_layer
    from eiecore.errors import EieError
    from eiesim import ArchConfig, simulate

    import numpy as np

    rows = 2**20 + 1
    config = ArchConfig(n_pe=1, timing="eie-cpp")
    layer = compress_layer(sp.coo_matrix(([1.0], ([rows - 1], [0])), shape=(rows, 1)), config, name="tall")
    with pytest.raises(EieError) as raised:
        simulate(layer, np.ones(1), config)
    message = str(raised.value)
    assert "timing 'eie-cpp' runs a layer in one pass: layer tall has 1048577 rows" in message
    assert "accumulators_per_pe" not in message


@pytest.mark.parametrize("args, needle", [
    (("simulate", "--benchmark", "Alex-8", "--workload", "heterogeneous", "--row-cv", "1e300"),
     "workload row_cv must be a number in 0..0.5, got 1e+300"),
    (("simulate", "--benchmark", "Alex-8", "--workload", "heterogeneous", "--col-cv", "1e6"),
     "workload col_cv must be a number in 0..0.5, got 1000000.0"),
    (("study", "balance", "--layers", "none"), "--layers none leaves nothing to compare"),
])
def test_study_and_workload_options_are_checked(run_cli, args, needle):
    code, _, err = run_cli(*args)
    assert_one_line_error(code, err, needle)


def test_a_density_that_keeps_no_weight_is_a_noted_row_not_a_crash():
    from eiesim.paper.pruning import ppr_study

    df = ppr_study(["NT-We"], [1e-9], n_pe=4, inputs=1, schemes=("unstructured",), progress=False)
    row = df[df["scheme"] == "unstructured"].iloc[0]
    assert row["note"] == "density 1e-09 keeps no weight of the 600 x 4096 layer"


# --- signals ------------------------------------------------------------------------------------

def _sweep_process(tmp_path, jobs: int):
    import os
    import subprocess
    import sys

    args = [sys.executable, "-m", "eiesim", "sweep", "--layers", "synth:1024x256:0.1:0.6", "--engine", "fast",
            "--grid", "n_pe=1,2,4,8", "--grid", "queue_depth=1..16", "--chunk", "1", "--no-progress",
            "--jobs", str(jobs), "--out", str(tmp_path / "store"), "--cache-dir", str(tmp_path / "cache")]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_ctrl_c_while_the_workers_start_prints_one_line(tmp_path):
    import os
    import signal
    import time

    import psutil

    proc = _sweep_process(tmp_path, jobs=2)
    deadline = time.monotonic() + 60
    while not psutil.Process(proc.pid).children():  # the fork server exists
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.3)  # and is importing the sweep's modules
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert err.strip().splitlines() == ["eiesim: interrupted"], err  # no traceback of the fork server
    # 130, or (rarely, when Ctrl-C lands while the pool starts) ended by SIGINT itself after that line.
    assert proc.returncode in (130, -signal.SIGINT)


def test_sigterm_stops_a_sweep_with_one_line_and_no_leaked_worker(tmp_path):
    import os
    import signal
    import time

    import psutil

    proc = _sweep_process(tmp_path, jobs=2)
    deadline = time.monotonic() + 120
    while len(list((tmp_path / "store").glob("part-*.parquet"))) < 2:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    workers = psutil.Process(proc.pid).children(recursive=True)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive and proc.returncode == 143
    assert err.strip().splitlines() == ["eiesim: terminated"], err  # no leaked-semaphore warning either


@pytest.mark.parametrize("option", ["sweep", "file"])
def test_a_name_that_is_not_utf8_is_refused_before_any_work(run_cli, small, monkeypatch, option):
    import os

    import eiesim.sweep

    monkeypatch.setattr(eiesim.sweep, "run_sweep", _explode)
    bad = os.fsdecode(b"out-\xff")  # a byte that is not UTF-8: a surrogate escape in Python
    if option == "sweep":
        code, _, err = run_cli("sweep", "--layers", "NT-We", "--grid", "n_pe=2", "--out", bad)
    else:
        code, _, err = run_cli(*SIM, "--json", bad)
    assert_one_line_error(code, err, "out-\\udcff: the name is not valid UTF-8")
    assert not os.path.lexists(bad)


def test_agreement_of_large_finite_outputs_does_not_overflow():
    import warnings

    import numpy as np

    from eiesim.inference import agreement

    big = 1e308
    chip, ref = np.array([[big, -big], [0.5 * big, big]]), np.array([[big, -big], [big, big]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning either
        stats = agreement(chip, ref)
    assert stats["max_abs_error"] == pytest.approx(0.5 * big)
    assert stats["max_rel_error"] == pytest.approx(0.5)
    # Pearson by hand: a = [1, -1, .5, 1], b = [1, -1, 1, 1] (scaled): means .375 and .5.
    a, b = np.array([1, -1, 0.5, 1]), np.array([1, -1, 1, 1])
    expected = np.sum((a - a.mean()) * (b - b.mean())) / np.sqrt(np.sum((a - a.mean()) ** 2) * np.sum((b - b.mean()) ** 2))
    assert stats["correlation"] == pytest.approx(expected)
    assert stats["top1_agreement"] == 0.5  # row 2: chip picks 1, the reference's tie picks 0


def test_calibration_inputs_are_checked_even_when_unused():
    import numpy as np

    from compressor.csc import compress_layer
    from eiecore.errors import EieError
    from eiesim import ArchConfig
    from eiesim.inference import infer
    from eiesim.modelfile import CompressedModel

    config = ArchConfig(n_pe=2)
    model = CompressedModel([compress_layer(np.eye(3), config, name="fc")], config)
    with pytest.raises(EieError, match="calibration inputs have 2 features"):
        infer(model, np.ones((1, 3)), act_frac_bits=8, calibration=np.ones((4, 2)))


def test_float32_overflow_on_the_chip_is_a_warning_not_bad_input(run_cli, small):
    import json

    import numpy as np

    from compressor.csc import compress_layer
    from eiesim import ArchConfig
    from eiesim.modelfile import CompressedModel, save_model

    config = ArchConfig(n_pe=2, precision="float32")
    w = np.array([[1e20, 0.0], [0.0, 1.0]])
    save_model("big.eie", CompressedModel([compress_layer(w, config, name="fc", activation="none")], config))
    np.save("x.npy", np.array([[1e20, 1.0], [1.0, 2.0]]))  # first input: 1e40 overflows float32
    code, out, err = run_cli("infer", "--model", "big.eie", "--inputs", "x.npy", "--json", "r.json")
    assert code == 0, err
    assert "eiesim: warning: float32 arithmetic overflowed: 1 of the chip's 4 outputs" in err
    vs_float = json.loads((small / "r.json").read_text())["vs_float"]
    assert vs_float["not_finite"] == 1 and vs_float["top1_agreement"] == 1.0  # input 2: [1e20, 2] both ways


def test_a_planted_cache_entry_that_inflates_is_a_miss_not_an_allocation(tmp_path, monkeypatch):
    import io
    import zipfile

    import numpy as np

    from eiesim import modelfile
    from eiesim.sweep import layers

    monkeypatch.setattr(modelfile, "MAX_INFLATED_FLOOR", 2**20)
    folder = layers.cache_folder(tmp_path)
    entry = layers._cache_file(folder, layers.resolve("synth:40x30:0.3:0.5"), 0, 4)
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(8 * 2**20, np.uint8))  # 8 MiB of zeros: a few KiB deflated
    with zipfile.ZipFile(entry, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("rows.npy", buffer.getvalue())
    assert entry.stat().st_size < 2**16
    loaded = []
    monkeypatch.setattr(layers.np, "load", lambda *a, **k: loaded.append(a))
    assert layers._load(entry, "synth:40x30:0.3:0.5", 4) is None  # a cache miss...
    assert loaded == []  # ...refused from the headers, before any array was read
