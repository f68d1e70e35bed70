"""``eiesim compress / decompress / info``: round trips, options, and one-line errors."""

import json
import sys
import textwrap

import numpy as np
import pytest

from compressor.csc import compress_layer
from compressor.report import storage_report
from eiesim.config import ArchConfig
from eiesim.modelfile import load_model
import workloads.benchmarks as bench_module
from workloads.benchmarks import Benchmark, benchmark_weights

SMALL = ["--pes", "4", "--accumulators", "4"]


@pytest.fixture
def weights(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(30, 20)) * (rng.random((30, 20)) < 0.5)
    path = tmp_path / "fc.npy"
    np.save(path, w)
    return path, w


@pytest.fixture
def small_benchmarks(monkeypatch):
    """Two small stand-ins for the nine layers, so '--benchmark all' stays quick."""
    table = {b.name: b for b in (
        Benchmark("Tiny-A", 40, 30, 0.2, 0.5, "test"),
        Benchmark("Tiny-B", 21, 12, 0.3, 1.0, "test", has_bias=True, activation="none"),
    )}
    monkeypatch.setattr(bench_module, "BENCHMARKS", table)
    return table


def test_compress_decompress_round_trip_and_info(run_cli, weights, tmp_path):
    path, w = weights
    out, report, dense = tmp_path / "m.npz", tmp_path / "r.json", tmp_path / "d.npy"
    code, stdout, stderr = run_cli("compress", "--weights", path, *SMALL, "--out", out, "--json", report)
    assert code == 0, stderr
    assert "wrote" in stdout and "total" in stdout
    model = load_model(out)
    expected = compress_layer(w, ArchConfig(n_pe=4, accumulators_per_pe=4), name="fc")
    np.testing.assert_array_equal(model.layer("fc").code, expected.code)
    assert json.loads(report.read_text()) == json.loads(json.dumps(storage_report(model).to_dict()))

    code, stdout, stderr = run_cli("decompress", "--model", out, "--out", dense)
    assert code == 0, stderr
    np.testing.assert_array_equal(np.load(dense), expected.to_dense())

    code, stdout, _ = run_cli("info", out, "--json", tmp_path / "info.json")
    assert code == 0 and "layer fc: 30 x 20" in stdout and "N = 4 PEs" in stdout
    described = json.loads((tmp_path / "info.json").read_text())
    assert described["layers"][0]["real"] == np.count_nonzero(w)


@pytest.mark.parametrize("method, extra", [("magnitude", []), ("row", []), ("column", []), ("block", ["--block", "3x2"]),
                                           ("balanced", ["--group", "5"])])
def test_pruning_options(run_cli, weights, tmp_path, method, extra):
    path, w = weights
    out = tmp_path / "m.npz"
    code, _, stderr = run_cli("compress", "--weights", path, "--density", "0.2", "--prune", method, *extra,
                              *SMALL, "--out", out)
    assert code == 0, stderr
    model = load_model(out)
    kept = model.layers[0].to_dense() != 0
    assert model.metadata["pruning"]["method"] == method
    if method == "magnitude":
        assert kept.sum() == round(0.2 * w.size)
    elif method == "row":
        assert np.count_nonzero(kept.any(axis=1)) <= round(0.2 * 30)
    elif method == "column":
        assert np.count_nonzero(kept.any(axis=0)) <= round(0.2 * 20)
    elif method == "balanced":
        # 30 rows on 4 PEs (8, 8, 7, 7 rows), 20 columns in groups of 5: every share keeps
        # round(0.2 x 30 x 5 / 4) = round(7.5) = 8 (numpy rounds half to even) of its 35-40.
        counts = [int(kept[p::4, g * 5:(g + 1) * 5].sum()) for p in range(4) for g in range(4)]
        assert counts == [8] * 16 and model.metadata["pruning"]["group"] == 5
    else:
        assert model.metadata["pruning"]["block"] == "3x2"


def test_layer_description_options(run_cli, weights, tmp_path):
    path, _ = weights
    out = tmp_path / "m.npz"
    code, _, stderr = run_cli("compress", "--weights", path, "--name", "gate", "--bias", "--activation", "none",
                              "--weight-bits", "3", "--index-bits", "2", *SMALL, "--out", out)
    assert code == 0, stderr
    model = load_model(out)
    layer = model.layer("gate")
    assert layer.has_bias and layer.activation == "none" and (layer.weight_bits, layer.index_bits) == (3, 2)


def test_benchmark_layer_is_the_seeded_table_layer(run_cli, small_benchmarks, tmp_path):
    out = tmp_path / "m.npz"
    code, _, stderr = run_cli("compress", "--benchmark", "tiny-b", "--seed", "3", *SMALL, "--out", out)
    assert code == 0, stderr
    layer = load_model(out).layer("Tiny-B")
    expected = compress_layer(benchmark_weights("Tiny-B", 3), ArchConfig(n_pe=4, accumulators_per_pe=4),
                              has_bias=True)
    np.testing.assert_array_equal(layer.code, expected.code)
    np.testing.assert_array_equal(layer.bias_codebook, expected.bias_codebook)
    assert layer.has_bias and layer.activation == "none"


def test_benchmark_all_is_one_multi_layer_file(run_cli, small_benchmarks, tmp_path):
    out = tmp_path / "all.npz"
    assert run_cli("compress", "--benchmark", "all", *SMALL, "--out", out)[0] == 0
    model = load_model(out)
    assert model.names == ["Tiny-A", "Tiny-B"] and model.metadata["seed"] == 0
    code, _, stderr = run_cli("decompress", "--model", out, "--out", tmp_path / "d.npy")
    assert code == 1 and "pick one with --layer (Tiny-A, Tiny-B)" in stderr
    assert run_cli("decompress", "--model", out, "--layer", "Tiny-B", "--out", tmp_path / "d.npy")[0] == 0
    assert np.load(tmp_path / "d.npy").shape == (12, 21)


TORCH_MODULE = """
import torch

def make():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3, bias=False))

model = make()
"""


def test_torch_module_and_state_dict(run_cli, tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    (tmp_path / "tiny_net.py").write_text(textwrap.dedent(TORCH_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "t.npz"
    code, _, stderr = run_cli("compress", "--torch-module", "tiny_net:model", *SMALL, "--out", out)
    assert code == 0, stderr
    model = load_model(out)
    assert [(layer.shape, layer.has_bias, layer.activation) for layer in model.layers] == [
        ((6, 9), True, "none"), ((3, 6), False, "none")]
    sys.modules.pop("tiny_net", None)

    import tiny_net

    torch.save(tiny_net.model.state_dict(), tmp_path / "net.pt")
    code, _, stderr = run_cli("compress", "--state-dict", tmp_path / "net.pt", *SMALL, "--out", tmp_path / "s.npz")
    assert code == 0, stderr
    # The bias-free second Linear looks like an nn.Embedding in a state dict: skipped, with a warning.
    assert [layer.shape for layer in load_model(tmp_path / "s.npz").layers] == [(6, 9)]
    assert "warning: not imported: 2 (state dict): a 2-D weight without a bias" in stderr
    # The state dict loaded into the module gives the module's layers, with the same values.
    code, _, stderr = run_cli("compress", "--torch-module", "tiny_net:model", "--state-dict", tmp_path / "net.pt",
                              *SMALL, "--out", tmp_path / "b.npz")
    assert code == 0, stderr
    both = load_model(tmp_path / "b.npz")
    assert [layer.shape for layer in both.layers] == [(6, 9), (3, 6)]
    np.testing.assert_array_equal(both.layers[0].to_dense(), load_model(tmp_path / "s.npz").layers[0].to_dense())
    assert both.metadata["network"] == {"stages": [{"kind": "linear", "layer": "0"}, {"kind": "linear", "layer": "2"}],
                                        "skipped": []}


def _bad_files(tmp_path):
    np.save(tmp_path / "cube.npy", np.ones((2, 2, 2)))
    nan = np.ones((3, 3))
    nan[1, 1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "text.npy", np.array([["a", "b"]]))
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "plain.txt").write_text("hello")


BAD_INPUT = [
    (["compress", "--weights", "{d}/missing.npy", "--out", "{d}/o.npz"], "not found"),
    (["compress", "--weights", "{d}/cube.npy", "--out", "{d}/o.npz"], "2-D"),
    (["compress", "--weights", "{d}/nan.npy", "--out", "{d}/o.npz"], "NaN"),
    (["compress", "--weights", "{d}/text.npy", "--out", "{d}/o.npz"], "real numbers"),
    (["compress", "--weights", "{d}/plain.txt", "--out", "{d}/o.npz"], "is not a .npy array file"),
    (["compress", "--weights", "{d}/w.npy", "--density", "1.5", "--out", "{d}/o.npz"], "density"),
    (["compress", "--weights", "{d}/w.npy", "--density", "nan", "--out", "{d}/o.npz"], "density"),
    (["compress", "--weights", "{d}/w.npy", "--pes", "0", "--out", "{d}/o.npz"], "n_pe"),
    (["compress", "--weights", "{d}/w.npy", "--weight-bits", "9", "--out", "{d}/o.npz"], "weight_bits"),
    (["compress", "--weights", "{d}/w.npy", "--prune", "diagonal", "--out", "{d}/o.npz"], "diagonal"),
    (["compress", "--weights", "{d}/w.npy", "--prune", "row", "--out", "{d}/o.npz"], "need --density"),
    (["compress", "--weights", "{d}/w.npy", "--density", "0.5", "--block", "2x2", "--out", "{d}/o.npz"],
     "--prune block"),
    (["compress", "--weights", "{d}/w.npy", "--density", "0.5", "--prune", "block", "--block", "2by2",
      "--out", "{d}/o.npz"], "4x4"),
    (["compress", "--weights", "{d}/w.npy", "--density", "0.5", "--prune", "block", "--block", "0x2",
      "--out", "{d}/o.npz"], "at least 1"),
    (["compress", "--weights", "{d}/w.npy", "--density", "0.5", "--group", "4", "--out", "{d}/o.npz"],
     "--prune balanced"),
    (["compress", "--weights", "{d}/w.npy", "--density", "0.5", "--prune", "balanced", "--group", "3",
      "--pes", "4", "--out", "{d}/o.npz"], "does not divide"),
    (["compress", "--weights", "{d}/w.npy", "--density", "0.5", "--prune", "balanced", "--group", "0",
      "--pes", "4", "--out", "{d}/o.npz"], "--group"),
    (["compress", "--weights", "{d}/w.npy", "--density", "0.5", "--prune", "balanced", "--pes", "64",
      "--out", "{d}/o.npz"], "one row per PE"),
    (["compress", "--weights", "{d}/w.npy", "--seed", "1", "--out", "{d}/o.npz"], "--seed"),
    (["compress", "--benchmark", "Tiny-A", "--bias", "--out", "{d}/o.npz"], "--bias"),
    (["compress", "--weights", "{d}/w.npy", "--benchmark", "Tiny-A", "--out", "{d}/o.npz"], "exactly one"),
    (["compress", "--out", "{d}/o.npz"], "exactly one"),
    (["compress", "--benchmark", "VGG-9", "--out", "{d}/o.npz"], "unknown benchmark"),
    (["compress", "--weights", "{d}/w.npy"], "--out"),
    (["compress", "--weights", "{d}/w.npy", "--out", "{d}/o.npz", "--frobnicate"], "frobnicate"),
    (["compress", "--weights", "{d}/w.npy", "--out", "{d}/nowhere/o.npz"], "does not exist"),
    (["compress", "--weights", "{d}/w.npy", "--out", "{d}/o.npz", "--json", "{d}/nowhere/r.json"],
     "does not exist"),
    (["compress", "--torch-module", "no_such_module_xyz:model", "--out", "{d}/o.npz"], "no_such_module_xyz"),
    (["decompress", "--model", "{d}/missing.npz", "--out", "{d}/o.npy"], "not found"),
    (["decompress", "--model", "{d}/junk.npz", "--out", "{d}/o.npy"], "corrupt"),
    (["decompress", "--model", "{d}/plain.txt", "--out", "{d}/o.npy"], "not an eiesim model"),
    (["info", "{d}/junk.npz"], "corrupt"),
    (["info", "{d}/missing.npz"], "not found"),
    (["info"], "FILE"),
]


@pytest.mark.parametrize("args, message", BAD_INPUT)
def test_bad_input_is_one_line_and_writes_nothing(run_cli, small_benchmarks, weights, tmp_path, args, message):
    _bad_files(tmp_path)
    np.save(tmp_path / "w.npy", weights[1])
    before = set(tmp_path.iterdir())
    code, out, err = run_cli(*[a.format(d=tmp_path) for a in args])
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eiesim: error:") and message in lines[0], err
    assert "Traceback" not in err + out
    assert set(tmp_path.iterdir()) == before


def test_decompress_unknown_layer(run_cli, weights, tmp_path):
    out = tmp_path / "m.npz"
    run_cli("compress", "--weights", weights[0], *SMALL, "--out", out)
    code, _, err = run_cli("decompress", "--model", out, "--layer", "nope", "--out", tmp_path / "d.npy")
    assert code == 1 and "no layer 'nope'" in err and not (tmp_path / "d.npy").exists()


def test_a_failed_report_write_removes_the_model(run_cli, weights, tmp_path, monkeypatch):
    import eiesim.cli.compress as cli_compress

    def failing_writer(text):
        def write(tmp):
            raise OSError(28, "No space left on device", str(tmp))
        return write

    monkeypatch.setattr(cli_compress, "text_writer", failing_writer)
    code, _, err = run_cli("compress", "--weights", weights[0], *SMALL, "--out", tmp_path / "m.npz",
                           "--json", tmp_path / "r.json")
    assert code == 1 and "No space left" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fc.npy"]


LSTM_MODULE = """
import torch

torch.manual_seed(0)
net = torch.nn.Sequential()
net.add_module("emb", torch.nn.Embedding(5, 4))
net.add_module("rnn", torch.nn.LSTM(4, 3))
net.add_module("fc1", torch.nn.Linear(3, 3))
net.add_module("fc2", torch.nn.Linear(3, 2))
"""


def test_torch_activations_per_layer_and_skipped_modules_in_info(run_cli, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    (tmp_path / "lstm_net_xyz.py").write_text(textwrap.dedent(LSTM_MODULE))
    monkeypatch.chdir(tmp_path)  # --torch-module searches the current directory
    out = tmp_path / "m.npz"
    code, _, stderr = run_cli("compress", "--torch-module", "lstm_net_xyz:net", *SMALL,
                              "--activation", "none,relu,none", "--out", out)
    assert code == 0, stderr
    assert "warning: not imported: emb (Embedding)" in stderr
    model = load_model(out)
    assert [(layer.name, layer.activation) for layer in model.layers] == [
        ("rnn.l0", "none"), ("fc1", "relu"), ("fc2", "none")]
    code, stdout, _ = run_cli("info", out)
    assert code == 0
    assert "network: rnn.l0 (LSTM 4 -> 3, 1 direction(s)) -> fc1 -> fc2" in stdout
    assert "not imported: emb (Embedding): an embedding is a table lookup" in stdout
    for activation, message in [("relu", "layer rnn.l0 belongs to an LSTM/GRU: its activation must be none"),
                                ("relu,none", "--activation lists 2 values for 3 layers"),
                                ("tanh", "--activation takes relu or none")]:
        code, _, stderr = run_cli("compress", "--torch-module", "lstm_net_xyz:net", *SMALL,
                                  "--activation", activation, "--out", tmp_path / "x.npz")
        assert code == 1 and message in stderr and stderr.count("\n") == 1 + stderr.count("warning")
        assert not (tmp_path / "x.npz").exists()
