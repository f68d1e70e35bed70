"""Hostile inputs: every case fails with one clear line, no traceback, nothing lost.

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
        with pytest.raises(EieError, match="checksum mismatch"):
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20  # the 64 MiB member was never held


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
    assert (store / "quarantine" / victim.name).exists() and not victim.exists()
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
    (entry,) = cache.rglob("synth_40x30_0.3_0.5-*s0-b4.npz")
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
