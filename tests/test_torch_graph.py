"""Import by capturing forward(): graph order, reuse, residuals, fused ReLUs, host operations,
the network description's schema, imported-tensor checks, and the zoo of user models."""

import functools
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from compressor.csc import compress_layer  # noqa: E402
from eiecore.errors import EieError  # noqa: E402
from eiesim.config import ArchConfig  # noqa: E402
from eiesim.graph import HOST_OPS  # noqa: E402
from eiesim.inference import Network, forward, infer  # noqa: E402
from eiesim.modelfile import CompressedModel, load_model, save_model  # noqa: E402
from workloads.torch_graph import capture  # noqa: E402
from workloads.torch_import import layers_from_state_dict  # noqa: E402
from workloads.torch_zoo import ZOO, build, torch_outputs  # noqa: E402


def exact_call(network):
    """One layer with the imported (unquantized, unpruned) matrix, its fused ReLU applied."""
    mats = {name: (w, b) for name, w, b in network.layers}

    def call(layer, a):
        w, has_bias = mats[layer.name]
        y = w @ (np.append(a, 1.0) if has_bias else a)
        return np.maximum(y, 0.0) if layer.activation == "relu" else y

    return call


# name: (layers in call order, layers with a fused ReLU, host operations per input, calls per input)
ZOO_EXPECTED = {
    "MLP classifier": (["0", "2", "4"], {"0", "2"}, {}, {"0": 1, "2": 1, "4": 1}),
    "layers registered out of order": (["fc1", "fc2", "head"], {"fc1", "fc2"}, {}, {"fc1": 1, "fc2": 1, "head": 1}),
    "module reused twice": (["encoder.inp", "encoder.shared", "out"], {"encoder.inp", "encoder.shared"}, {},
                            {"encoder.inp": 1, "encoder.shared": 2, "out": 1}),
    "residual MLP block": (["fc1", "fc2", "head"], {"fc1"}, {"layer_norm": 1, "add": 1},
                           {"fc1": 1, "fc2": 1, "head": 1}),
    "TransformerEncoderLayer": (
        ["self_attn.in_proj.q", "self_attn.in_proj.k", "self_attn.in_proj.v", "self_attn.out_proj", "linear1",
         "linear2"], {"linear1"}, {"layer_norm": 2, "add": 2, "scaled_dot_product_attention": 1},
        {"self_attn.in_proj.q": 4, "self_attn.out_proj": 4, "linear1": 4, "linear2": 4}),
    "GPT-2 block, KV cache": (["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"], set(),
                              {"layer_norm": 8, "gelu": 4, "softmax": 4, "matmul": 8, "add": 8},
                              {"attn.c_attn": 4, "mlp.c_proj": 4}),
    "LSTM language model": (["rnn.l0", "rnn.l1", "decoder"], set(), {"embedding": 1},
                            {"rnn.l0": 5, "rnn.l1": 5, "decoder": 5}),
    "GRU encoder": (["rnn.l0", "proj"], set(), {"select": 1}, {"rnn.l0": 6, "proj": 1}),
}


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_model_runs_as_its_forward_does(name):
    """Each zoo model, pruned to 30 %, at default settings: the captured graph with the
    imported matrices reproduces torch; the chip agrees with the compressed float model."""
    layers, relu, host, calls = ZOO_EXPECTED[name]
    module, network, model, x = build(name, density=0.3, n_inputs=2)
    assert model.names == layers
    assert {layer.name for layer in model.layers if layer.activation == "relu"} == relu
    reference = torch_outputs(module, x)
    exact = forward(Network(model), x, call=exact_call(network))
    np.testing.assert_allclose(exact, reference, rtol=1e-4, atol=1e-4 * np.abs(reference).max())
    result = infer(model, x, reference=reference, reference_name="the torch model")
    s = result.summary()
    counted = {op.split(".")[1] if op.startswith("aten.") else op: n for op, n in s["host_ops_per_input"].items()}
    assert {op: counted.get(op) for op in host} == host
    assert {n: s["layers"][n]["calls_per_input"] for n in calls} == calls
    assert s["vs_float"]["correlation"] >= 0.99
    assert s["reference"] == "the torch model" and s["vs_reference"]["correlation"] is not None
    assert (result.total_cycles > 0).all()


def test_out_of_order_registration_and_relu_fusion_restore_torch():
    """fc2 is registered before fc1: the registration-order import (state dict) runs them
    in the wrong order without ReLU; the captured graph runs torch's network exactly."""
    module, network, model, x = build("layers registered out of order", density=None, n_inputs=4)
    reference = torch_outputs(module, x)
    np.testing.assert_allclose(forward(Network(model), x, call=exact_call(network)), reference, rtol=1e-4, atol=1e-5)
    legacy = layers_from_state_dict(module.state_dict())
    assert [layer.name for layer in legacy.layers] == ["fc2", "fc1", "head"]
    w = {n: m for n, m, _ in legacy.layers}
    chain = x
    for n in ("fc2", "fc1", "head"):  # what a registration-order, no-activation import computes
        chain = np.hstack([chain, np.ones((len(chain), 1))]) @ w[n].T
    assert np.corrcoef(chain.ravel(), reference.ravel())[0, 1] < 0.9


def test_relu_is_fused_only_when_every_call_of_the_layer_feeds_only_a_relu():
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.other = nn.Linear(4, 4)

        def forward(self, x):
            a = self.fc(x)
            return torch.relu(self.fc(torch.relu(a))) + torch.relu(self.other(x)) + a

    torch.manual_seed(0)
    net = capture(Mixed(), np.ones((1, 4)))
    assert net.activations == {"other": "relu"}  # fc's first call feeds an add too
    ops = [n["op"] for n in net.graph["nodes"]]
    assert ops.count("aten.relu.default") == 2 and ops.count("eie.linear") == 3


def test_in_place_relu_and_residual_add_are_captured_as_their_functional_forms():
    class InPlace(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.act, self.b = nn.Linear(4, 4), nn.ReLU(inplace=True), nn.Linear(4, 4)

        def forward(self, x):
            h = self.act(self.a(x))
            h += self.b(h)
            return h

    torch.manual_seed(0)
    module = InPlace()
    net = capture(module, np.ones((1, 4)))
    assert net.activations == {"a": "relu"}
    assert [n["op"] for n in net.graph["nodes"]] == ["eie.linear", "eie.linear", "aten.add.Tensor"]
    x = np.random.default_rng(1).standard_normal((3, 4))
    model = CompressedModel([compress_layer(w, ArchConfig(n_pe=2), name=n, has_bias=b,
                                            activation=net.activations.get(n, "none")) for n, w, b in net.layers],
                            ArchConfig(n_pe=2), metadata={"network": {"graph": net.graph, "skipped": []}})
    np.testing.assert_allclose(forward(Network(model), x, call=exact_call(net)), torch_outputs(module, x), rtol=1e-5,
                               atol=1e-6)


def test_packed_in_proj_is_split_into_q_k_v_rows():
    torch.manual_seed(0)
    attn = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    net = capture(attn, np.zeros((1, 3, 8)))
    w, b = attn.self_attn.in_proj_weight.detach().double().numpy(), attn.self_attn.in_proj_bias.detach().double().numpy()
    for i, part in enumerate("qkv"):
        layer = net.layer(f"self_attn.in_proj.{part}")
        np.testing.assert_array_equal(layer.matrix, np.hstack([w[8 * i:8 * (i + 1)], b[8 * i:8 * (i + 1), None]]))
    node = next(n for n in net.graph["nodes"] if n["op"] == "eie.linear")
    assert node["layers"] == ["self_attn.in_proj.q", "self_attn.in_proj.k", "self_attn.in_proj.v"]
    assert node["module"] == "self_attn"


def test_torch_pruning_masks_are_applied():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 2))
    from torch.nn.utils import prune

    prune.l1_unstructured(model[0], "weight", amount=0.5)
    net = capture(model, np.ones((1, 6)))
    expected = (model[0].weight_orig * model[0].weight_mask).detach().double().numpy()
    np.testing.assert_array_equal(net.layer("0").matrix[:, :6], expected)
    assert np.count_nonzero(net.layer("0").matrix[:, :6]) == 15
    with torch.no_grad():
        model[0].weight_mask[0, 0] = 0.5
    with pytest.raises(EieError, match="0.weight_mask must hold only 0 and 1"):
        capture(model, np.ones((1, 6)))


def test_a_pruned_module_called_twice_is_one_layer_run_twice():
    from torch.nn.utils import prune

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = nn.ModuleDict({"fc": nn.Linear(4, 4)})

        def forward(self, x):
            return self.block["fc"](torch.relu(self.block["fc"](x)))

    torch.manual_seed(0)
    module = Twice()
    prune.l1_unstructured(module.block["fc"], "weight", amount=0.5)
    net = capture(module, np.ones((1, 4)))
    assert [layer.name for layer in net.layers] == ["block.fc"] and net.activations == {}
    assert [n["layers"] for n in net.graph["nodes"] if n["op"] == "eie.linear"] == [["block.fc"], ["block.fc"]]


class Unplaceable(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 4))
        self.conv = nn.Conv1d(1, 1, 3)

    def forward(self, x):
        return self.conv(self.body(x).unsqueeze(1))


class ComputedWeight(nn.Module):
    def forward(self, x):
        return torch.nn.functional.linear(x, x * 2)


class TwoOutputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x), x


@pytest.mark.parametrize("module, message", [
    (Unplaceable(), "operation aten.conv1d.default of module conv: neither the PE array nor the host can run it"),
    (ComputedWeight(), "aten.linear.default of the model itself: its weight depends on the input"),
    (TwoOutputs(), "forward\\(\\) must return exactly one tensor"),
    ("not a module", "expected a torch.nn.Module"),
])
def test_what_cannot_be_placed_is_a_one_line_error(module, message):
    with pytest.raises(EieError, match=message) as info:
        capture(module, np.ones((1, 4)))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("example, message", [
    (np.ones(4), "at least 2-D"),
    (np.ones((1, 4), bool), "real numbers or integer token ids"),
    (np.ones((1, 4), complex), "real numbers or integer token ids"),
    (np.array([[1.0, np.nan, 0, 0]]), "NaN or infinity"),
    (np.ones((1, 5)), "torch.export could not capture Sequential.forward\\(\\)"),
])
def test_bad_example_inputs(example, message):
    with pytest.raises(EieError, match=message):
        capture(nn.Sequential(nn.Linear(4, 2)), example)


@pytest.mark.parametrize("make, message", [
    (lambda: torch.ones(2, 3, dtype=torch.bool), "must be floating-point numbers, got torch.bool"),
    (lambda: torch.ones(2, 3, dtype=torch.complex64), "must be real numbers, got torch.complex64"),
    (lambda: torch.ones(2, 3, dtype=torch.int64), "must be floating-point numbers, got torch.int64"),
    (lambda: torch.ones(2, 3, device="meta"), "on the meta device"),
    (lambda: torch.quantize_per_tensor(torch.ones(2, 3), 0.1, 0, torch.qint8), "quantized tensor"),
])
@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor")
def test_imported_tensors_of_the_wrong_kind_are_refused(make, message):
    with pytest.raises(EieError, match=f"layer fc: weights .*{message}"):
        layers_from_state_dict({"fc.weight": make(), "fc.bias": torch.ones(2)})


def test_bad_masks_and_bias_shapes_are_refused():
    w = torch.ones(2, 3)
    with pytest.raises(EieError, match="fc.weight_mask must hold only 0 and 1"):
        layers_from_state_dict({"fc.weight_orig": w, "fc.weight_mask": torch.full((2, 3), 0.5), "fc.bias": torch.ones(2)})
    with pytest.raises(EieError, match="bias has shape \\(3,\\), expected \\(2,\\)"):
        layers_from_state_dict({"fc.weight": w, "fc.bias": torch.ones(3)})
    lstm = nn.LSTM(3, 2).state_dict()
    lstm["bias_hh_l0"] = torch.ones(7)
    with pytest.raises(EieError, match="bias_hh_l0 has shape \\(7,\\), expected \\(8,\\)"):
        layers_from_state_dict(lstm)


@pytest.mark.parametrize("op, args, kwargs, expected", [
    ("aten.gelu.default", [np.array([-1.0, 0.5, 2.0])], {"approximate": "tanh"},
     lambda t: torch.nn.functional.gelu(t, approximate="tanh")),
    ("aten.chunk.default", [np.arange(10.0)], {"chunks": 3}, lambda t: torch.chunk(t, 3)),
    ("aten.split.Tensor", [np.arange(10.0), 4], {}, lambda t: torch.split(t, 4)),
    ("aten.softmax.int", [np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1e3]]), -1], {}, lambda t: torch.softmax(t, -1)),
    ("aten.slice.Tensor", [np.arange(12.0).reshape(3, 4), 1, 1, 9223372036854775807, 2], {},
     lambda t: t[:, 1::2]),
    ("aten.unflatten.int", [np.arange(12.0).reshape(2, 6), -1, [3, 2]], {}, lambda t: t.unflatten(-1, (3, 2))),
])
def test_host_operations_match_torch(op, args, kwargs, expected):
    node = {"op": op, "module": "m", "args": [{"ref": "x"}] + args[1:], "kwargs": kwargs}
    from eiesim.graph import run_host_op

    out = run_host_op(node, {"x": args[0]}, {})
    want = expected(torch.from_numpy(args[0]))
    for got, ref in zip(out if isinstance(out, list) else [out], want if isinstance(want, tuple) else [want]):
        np.testing.assert_allclose(got, ref.numpy(), rtol=1e-12)


def test_attention_masks_on_the_host_match_torch():
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 3, 4)) for _ in range(3))
    mask = np.array([[True, False, True], [True, True, False], [False, True, True]])
    from eiesim.graph import HOST_OPS

    sdpa = HOST_OPS["aten.scaled_dot_product_attention.default"]
    t = [torch.from_numpy(a) for a in (q, k, v)]
    F = torch.nn.functional
    np.testing.assert_allclose(sdpa(q, k, v, is_causal=True), F.scaled_dot_product_attention(*t, is_causal=True))
    np.testing.assert_allclose(sdpa(q, k, v, attn_mask=mask),
                               F.scaled_dot_product_attention(*t, attn_mask=torch.from_numpy(mask)))


# ----- the model file ------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _residual_model():
    """Built once: tests only read it (the schema cases edit a JSON copy of its metadata)."""
    return build("residual MLP block", density=0.5, n_inputs=3)


def test_host_arrays_round_trip_and_are_checksummed(tmp_path):
    _, _, model, x = _residual_model()
    assert set(model.host_arrays) == {"norm.weight", "norm.bias"}
    path = save_model(tmp_path / "m.eie", model)
    loaded = load_model(path)
    for name, array in model.host_arrays.items():
        np.testing.assert_array_equal(loaded.host_arrays[name], array)
    np.testing.assert_array_equal(infer(loaded, x).outputs, infer(model, x).outputs)


def _graph_model(edit):
    _, _, model, _ = _residual_model()
    metadata = json.loads(json.dumps(model.metadata))
    edit(metadata["network"])
    return lambda: CompressedModel(model.layers, model.config, metadata=metadata, host_arrays=model.host_arrays)


def _node(net, op):
    return next(n for n in net["graph"]["nodes"] if n["op"] == op)


@pytest.mark.parametrize("edit, message", [
    (lambda n: _node(n, "aten.add.Tensor").update(op="aten.bogus.default"),
     r"nodes\[\d+\].op: unknown operation 'aten.bogus.default'"),
    (lambda n: _node(n, "eie.linear").update(layers=["fc1", "nope"]),
     r"nodes\[\d+\].layers\[1\]: names layer 'nope', which the file does not hold"),
    (lambda n: _node(n, "eie.linear").update(layers=[]), r"nodes\[\d+\].layers: must not be empty"),
    (lambda n: _node(n, "eie.linear").update(extra=1), r"nodes\[\d+\].extra: unknown field"),
    (lambda n: _node(n, "eie.linear").update(module=3), r"nodes\[\d+\].module: must be str, got int"),
    (lambda n: _node(n, "eie.linear").update(args=[{"ref": "later"}]),
     r"nodes\[\d+\].args\[0\]: refers to 'later', which is not an earlier node or input"),
    (lambda n: _node(n, "aten.layer_norm.default")["args"].__setitem__(2, {"array": "gone"}),
     r"args\[2\]: refers to array 'gone', which the file does not hold"),
    (lambda n: _node(n, "aten.layer_norm.default")["args"].__setitem__(4, {"inf": 2}),
     r"args\[4\]: an infinity is"),
    (lambda n: _node(n, "aten.layer_norm.default")["args"].__setitem__(4, {"float": 1}),
     r"args\[4\]: is not a number, string, list, reference or array"),
    (lambda n: n["graph"]["inputs"][0].update(shape=[1, True]), r"inputs\[0\].shape: must be a non-empty list"),
    (lambda n: n["graph"]["inputs"][0].update(dtype="float32"), r"inputs\[0\].dtype: must be one of float, int"),
    (lambda n: n["graph"].update(outputs=[]), r"graph.outputs: must hold exactly one reference"),
    (lambda n: n["graph"].pop("nodes"), r"network.graph.nodes: missing"),
    (lambda n: n.update(skipped="none"), r"network.skipped: must be list, got str"),
    (lambda n: n.update(torch={"module": "m:f"}), r"network.torch.state_dict: missing"),
    (lambda n: n.update(capture=3), r"network.capture: must be str, got int"),
    (lambda n: n.update(torch={"module": 1, "state_dict": None}),
     r"network.torch.module: must be str, got int"),
    (lambda n: n["graph"].update(nodes=[x for x in n["graph"]["nodes"] if x.get("layers") != ["head"]]),
     r"(leaves out layer\(s\) head|refers to)"),
])
def test_malformed_network_descriptions_name_the_field(edit, message):
    with pytest.raises(EieError, match="network description: .*" + message) as info:
        _graph_model(edit)()
    assert "\n" not in str(info.value)


def test_a_stored_array_nothing_uses_is_refused():
    _, _, model, _ = _residual_model()
    with pytest.raises(EieError, match="does not use stored array extra"):
        CompressedModel(model.layers, model.config, metadata=model.metadata,
                        host_arrays={**model.host_arrays, "extra": np.zeros(2)})
    with pytest.raises(EieError, match="host array 'x' must have a name and be float64, int64 or bool"):
        CompressedModel(model.layers, model.config, metadata=model.metadata,
                        host_arrays={**model.host_arrays, "x": np.zeros(2, np.float32)})


# ----- run-time checks ---------------------------------------------------------------------


def test_negative_inputs_dropped_by_a_positive_only_broadcast_are_reported():
    """The residual block's fc1 reads a layer norm (about half negative), the head reads
    x + fc2(...): under eie-cpp their negative inputs are dropped and counted per layer;
    fc2 reads a fused ReLU's output and drops nothing."""
    _, network, model, x = _residual_model()
    result = infer(model, x, timing="eie-cpp")
    acts = {}
    forward(Network(model), x, call=lambda layer, a: acts.setdefault(layer.name, []).append(a) or
            exact_call(network)(layer, a))
    assert set(result.dropped_negative) == {"fc1", "head"}
    normed = np.concatenate(acts["fc1"])
    assert result.dropped_negative["fc1"] == pytest.approx(np.mean(normed < 0), abs=0.02)
    assert infer(model, x).dropped_negative == {}


def test_graph_inputs_must_have_the_captured_shape_and_kind():
    _, _, model, x = _residual_model()
    with pytest.raises(EieError, match=r"must have shape \(inputs, 64\) like the example input"):
        infer(model, x[:, :10])
    lm = build("LSTM language model", density=0.5, n_inputs=1)[2]
    with pytest.raises(EieError, match=r"\(token ids, like the example input\) must be integers"):
        infer(lm, np.zeros((1, 5)))
    with pytest.raises(EieError, match="embedding indices must be integers in 0..99"):
        infer(lm, np.full((1, 5), 100))


# ----- the command line ----------------------------------------------------------------------

ZOO_MODULE = "workloads.torch_zoo"


def test_cli_capture_info_and_reference_torch(run_cli, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(0).standard_normal((3, 64)))
    out = tmp_path / "m.eie"
    code, _, err = run_cli("compress", "--torch-module", f"{ZOO_MODULE}:residual_mlp", "--example-input", x,
                           "--density", "0.5", "--out", out)
    assert code == 0 and err == ""
    code, text, _ = run_cli("info", out)
    assert code == 0
    assert "captured from forward() by torch.export: 3 operation(s) on the PE array, 2 on the host" in text
    assert "    input; then host: layer_norm (norm)\n    array fc1; then host: -\n    array fc2; then host: add (model)" in text
    assert "layer fc1: 128 x 65" in text and "activation relu" in text
    code, text, err = run_cli("infer", "--model", out, "--inputs", x, "--reference", "torch", "--no-progress")
    assert code == 0, err
    ref = f"your torch model ({ZOO_MODULE}:residual_mlp)"
    assert f"chip vs {ref}: " in text
    assert "chip vs float model of the compressed weights: " in text
    assert f"float model of the compressed weights vs {ref}: " in text
    assert "host operations per input (numpy; the chip does not model them: no cycles, no energy): " \
           "layer_norm 1, add 1" in text
    code, _, err = run_cli("infer", "--model", out, "--inputs", x, "--timing", "eie-cpp", "--no-progress")
    assert code == 0
    assert "warning: layer fc1: " in err and "are negative and are dropped (treated as 0) by the eie-cpp" in err


def test_cli_state_dict_alone_warns_what_it_assumes(run_cli, tmp_path):
    from workloads.torch_zoo import out_of_order

    path = tmp_path / "sd.pt"
    torch.save(out_of_order().state_dict(), path)
    code, _, err = run_cli("compress", "--state-dict", path, "--out", tmp_path / "m.eie")
    assert code == 0
    assert err == ("eiesim: warning: --state-dict alone has no forward(): layers are assumed to run one after "
                   "another in registration order (fc2, fc1, head) with no activation (ReLU and every other "
                   "operation between them dropped; --activation sets them); give --torch-module MODULE:ATTR "
                   "with --example-input X.npy or --input-shape SHAPE to capture the network as forward() runs "
                   "it\n")
    code, _, err = run_cli("compress", "--state-dict", path, "--activation", "relu,relu,none", "--out",
                           tmp_path / "n.eie")
    assert "registration order (fc2, fc1, head); give" in err


@pytest.mark.parametrize("args, message", [
    (["--state-dict", "S", "--input-shape", "4"], "--example-input and --input-shape capture forward(): they need "
                                                   "--torch-module"),
    (["--torch-module", f"{ZOO_MODULE}:mlp_classifier", "--input-shape", "4", "--example-input", "X"],
     "give --example-input or --input-shape, not both"),
    (["--torch-module", f"{ZOO_MODULE}:mlp_classifier", "--input-shape", "8xa"], "--input-shape must look like"),
    (["--torch-module", f"{ZOO_MODULE}:mlp_classifier", "--input-shape", "8"],
     "torch.export could not capture Sequential.forward()"),
])
def test_cli_capture_errors(run_cli, tmp_path, args, message):
    code, _, err = run_cli("compress", *args, "--out", tmp_path / "m.eie")
    assert code != 0 and message in err and err.count("\n") == 1
    assert not (tmp_path / "m.eie").exists()


def test_a_failed_capture_logs_nothing_besides_its_error(run_cli, tmp_path):
    """torch logs a failed export's traceback through its own stderr handlers (which capsys
    does not see) before raising: the CLI's error must stay its only line."""
    import logging

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    loggers = [logging.getLogger(name) for name in ("torch", "torch._subclasses.fake_tensor")]
    level = loggers[0].level
    for logger in loggers:
        logger.addHandler(handler)
    try:
        code, _, err = run_cli("compress", "--torch-module", f"{ZOO_MODULE}:mlp_classifier", "--input-shape", "8",
                               "--out", tmp_path / "m.eie")
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    assert code != 0 and err.count("\n") == 1
    assert [record.getMessage() for record in records] == []
    assert loggers[0].level == level  # torch's own level is restored


def test_cli_reference_torch_needs_a_captured_model(run_cli, tmp_path):
    np.save(tmp_path / "w.npy", np.eye(3))
    np.save(tmp_path / "x.npy", np.ones((2, 3)))
    run_cli("compress", "--weights", tmp_path / "w.npy", "--out", tmp_path / "m.eie")
    code, _, err = run_cli("infer", "--model", tmp_path / "m.eie", "--inputs", tmp_path / "x.npy", "--reference", "torch")
    assert code != 0 and "--reference torch needs a model captured from a torch module" in err


# ----- random networks ---------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

STEP = st.tuples(st.sampled_from(["new", "reuse"]), st.sampled_from([4, 6]), st.booleans(),
                 st.sampled_from(["none", "residual", "norm", "tanh"]))


class Program(nn.Module):
    """Steps drawn by Hypothesis: a new layer (or a call of an earlier one of that shape),
    optionally a ReLU, then a residual add, a layer norm or a tanh."""

    def __init__(self, steps):
        super().__init__()
        self.steps, self.layers, width = [], nn.ModuleDict(), 4
        for i, (kind, out, relu, after) in enumerate(steps):
            same = [n for n, m in self.layers.items() if (m.in_features, m.out_features) == (width, out)]
            if kind == "reuse" and same:
                name = same[0]
            else:
                name = f"l{i}"
                self.layers[name] = nn.Linear(width, out)
            self.steps.append((name, relu, after if not (after == "residual" and out != width) else "none"))
            width = out
        self.norm = nn.LayerNorm(width)

    def forward(self, x):
        for name, relu, after in self.steps:
            y = self.layers[name](x)
            y = torch.relu(y) if relu else y
            if after == "residual":
                y = y + x
            elif after == "norm":
                y = nn.functional.layer_norm(y, y.shape[-1:])
            elif after == "tanh":
                y = torch.tanh(y)
            x = y
        return x


@settings(max_examples=8)
@given(st.lists(STEP, min_size=1, max_size=4), st.integers(0, 2**16))
def test_random_programs_run_as_torch_runs_them(steps, seed):
    torch.manual_seed(seed)
    module = Program(steps)
    x = np.random.default_rng(seed).standard_normal((2, 4))
    net = capture(module, x)
    calls = [n["layers"][0] for n in net.graph["nodes"] if n["op"] == "eie.linear"]
    assert calls == [f"layers.{name}" for name, _, _ in module.steps]  # the order forward() calls them
    # a ReLU is fused when every call of the layer feeds only that ReLU (an add reads the ReLU's
    # output, not the layer's, so a residual after the ReLU does not stop it)
    fused = {f"layers.{n}" for n in {name for name, _, _ in module.steps}
             if all(relu for m, relu, _ in module.steps if m == n)}
    assert set(net.activations) == fused
    config = ArchConfig(n_pe=2)
    model = CompressedModel([compress_layer(w, config, name=n, has_bias=b, activation=net.activations.get(n, "none"))
                             for n, w, b in net.layers], config,
                            metadata={"network": {"graph": net.graph, "skipped": []}}, host_arrays=net.host_arrays)
    np.testing.assert_allclose(forward(Network(model), x, call=exact_call(net)), torch_outputs(module, x),
                               rtol=1e-4, atol=1e-5)
