"""ONNX import: the same placement as a captured torch model, and a torch -> ONNX round trip
that gives the same layers and the same outputs."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from eiecore.errors import EieError  # noqa: E402
from eiesim.inference import infer  # noqa: E402
from workloads.onnx_import import load_onnx  # noqa: E402
from workloads.torch_zoo import ZOO, build  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning",
                                        "ignore::torch.jit.TracerWarning")


def export(module, x, path):
    """torch's ONNX exporter (the TorchScript one: no onnxscript needed) on one input."""
    torch.onnx.export(module.eval(), (torch.from_numpy(x[:1].astype(np.float32)),), str(path), dynamo=False)
    return str(path)


def onnx_model(network, like):
    """The ONNX network compressed exactly as ``like`` (the torch capture) was, unpruned."""
    from compressor.csc import compress_layer
    from eiesim.modelfile import CompressedModel

    layers = [compress_layer(w, like.config, name=n, has_bias=b, activation=network.activations.get(n, "none"))
              for n, w, b in network.layers]
    metadata = {"network": {"graph": network.graph, "skipped": [], "capture": "onnx"}}
    return CompressedModel(layers, like.config, metadata=metadata, host_arrays=network.host_arrays)


@pytest.mark.parametrize("name", ["MLP classifier", "layers registered out of order", "module reused twice",
                                  "residual MLP block", "GPT-2 block, KV cache"])
def test_torch_to_onnx_round_trip_gives_the_same_layers_and_outputs(name, tmp_path):
    module, captured, model, x = build(name, density=None, n_inputs=2)
    network = load_onnx(export(module, x, tmp_path / "m.onnx"))
    assert [layer.name for layer in network.layers] == [layer.name for layer in captured.layers]
    assert network.activations == captured.activations
    for a, b in zip(network.layers, captured.layers):
        np.testing.assert_array_equal(a.matrix, b.matrix)
        assert a.has_bias == b.has_bias
    via_onnx, via_torch = infer(onnx_model(network, model), x), infer(model, x)
    np.testing.assert_array_equal(via_onnx.outputs, via_torch.outputs)
    np.testing.assert_allclose(via_onnx.float_outputs, via_torch.float_outputs, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(via_onnx.cycles, via_torch.cycles)


class WithConv(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)
        self.conv = torch.nn.Conv1d(1, 1, 3)

    def forward(self, x):
        return self.conv(self.fc(x).unsqueeze(1))


class TwoOut(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x), x * 2


def test_what_cannot_be_placed_and_bad_files_are_one_line_errors(tmp_path):
    with pytest.raises(EieError, match="ONNX operation Conv of node /conv/Conv: neither the PE array nor the host"):
        load_onnx(export(WithConv(), np.ones((1, 4)), tmp_path / "c.onnx"))
    with pytest.raises(EieError, match="one input and one output, it has 1 and 2"):
        load_onnx(export(TwoOut(), np.ones((1, 4)), tmp_path / "t.onnx"))
    (tmp_path / "bad.onnx").write_bytes(b"not a protobuf at all")
    with pytest.raises(EieError, match="cannot read .*bad.onnx as an ONNX model"):
        load_onnx(str(tmp_path / "bad.onnx"))
    with pytest.raises(EieError, match="no such ONNX file"):
        load_onnx(str(tmp_path / "missing.onnx"))


def test_cli_compress_onnx_and_info(run_cli, tmp_path):
    module = ZOO["residual MLP block"].factory()
    x = ZOO["residual MLP block"].inputs(2, 0)
    path = export(module, x, tmp_path / "r.onnx")
    code, _, err = run_cli("compress", "--onnx", path, "--density", "0.5", "--out", tmp_path / "r.eie")
    assert code == 0 and err == ""
    code, text, _ = run_cli("info", tmp_path / "r.eie")
    assert "read from an ONNX graph: 3 operation(s) on the PE array, 2 on the host" in text
    assert "layer fc1: 128 x 65" in text
    np.save(tmp_path / "x.npy", x)
    code, text, err = run_cli("infer", "--model", tmp_path / "r.eie", "--inputs", tmp_path / "x.npy", "--no-progress")
    assert code == 0, err
    assert "host operations per input" in text and "layer_norm 1, add 1" in text
    code, text, err = run_cli("infer", "--model", tmp_path / "r.eie", "--inputs", tmp_path / "x.npy", "--no-progress",
                              "--reference", "torch")
    assert code != 0 and "for one read from ONNX give --reference onnx" in err
    code, _, err = run_cli("compress", "--onnx", path, "--weights", path, "--out", tmp_path / "z.eie")
    assert code != 0 and "give exactly one source" in err


def test_cli_reference_onnx_runs_the_file_with_onnx_runtime(run_cli, tmp_path):
    pytest.importorskip("onnxruntime")
    from workloads.torch_zoo import torch_outputs

    module = ZOO["layers registered out of order"].factory()
    x = ZOO["layers registered out of order"].inputs(3, 0)
    path = export(module, x, tmp_path / "o.onnx")
    run_cli("compress", "--onnx", path, "--out", tmp_path / "o.eie")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", torch_outputs(module, x))
    code, by_onnx, err = run_cli("infer", "--model", tmp_path / "o.eie", "--inputs", tmp_path / "x.npy",
                                 "--no-progress", "--reference", "onnx")
    assert code == 0, err
    assert f"chip vs your ONNX model ({path}, ONNX Runtime): " in by_onnx
    code, by_file, _ = run_cli("infer", "--model", tmp_path / "o.eie", "--inputs", tmp_path / "x.npy",
                               "--no-progress", "--reference", tmp_path / "y.npy")
    # ONNX Runtime and torch compute the same float32 network: the same correlation to 4 places
    corr = [float(t.split("correlation ")[1].split(",")[0]) for t in (by_onnx, by_file)]
    assert corr[0] == pytest.approx(corr[1], abs=1e-4)
