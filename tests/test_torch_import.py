"""Import of PyTorch Linear/LSTM/GRU layers: matrices, pruning masks, gate stacking, both import
paths giving the same layers, skipped modules listed, errors."""

import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn.utils import prune  # noqa: E402

from compressor.csc import compress_layer  # noqa: E402
from eiecore.errors import EieError  # noqa: E402
from workloads.torch_import import layers_from_module, layers_from_state_dict, load_torch_layers  # noqa: E402


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3, bias=False))


def test_linear_layers_are_weight_then_bias_column():
    model = mlp()
    layers = layers_from_module(model).layers
    assert [(n, w.shape, b) for n, w, b in layers] == [("0", (5, 7), True), ("2", (3, 5), False)]
    w0 = layers[0][1]
    np.testing.assert_array_equal(w0[:, :6], model[0].weight.detach().double().numpy())
    np.testing.assert_array_equal(w0[:, 6], model[0].bias.detach().double().numpy())
    # [W | b] applied to [x, 1] is the layer itself.
    x = torch.randn(6, dtype=torch.float64)
    np.testing.assert_allclose(w0 @ np.append(x.numpy(), 1.0), model[0].double()(x).detach().numpy())


def test_pruned_weights_are_zero_through_weight_mask():
    model = mlp()
    mask = (torch.arange(30).reshape(5, 6) % 3 == 0).float()
    prune.custom_from_mask(model[0], "weight", mask)
    assert hasattr(model[0], "weight_mask")
    name, w, has_bias = layers_from_module(model).layers[0]
    np.testing.assert_array_equal(w[:, :6] != 0, mask.numpy().astype(bool))
    np.testing.assert_array_equal(w[:, :6], (model[0].weight_orig * mask).detach().double().numpy())
    # A stale .weight attribute must not win over weight_orig * weight_mask.
    with torch.no_grad():
        model[0].weight_orig.mul_(2.0)
    np.testing.assert_allclose(layers_from_module(model).layers[0][1][:, :6], 2 * w[:, :6])


def test_lstm_layers_stack_gates_with_summed_biases():
    torch.manual_seed(1)
    lstm = nn.LSTM(input_size=7, hidden_size=4, num_layers=2)
    layers = layers_from_module(lstm).layers
    assert [(n, w.shape, b) for n, w, b in layers] == [
        ("lstm.l0", (16, 12), True), ("lstm.l1", (16, 9), True)]
    w = layers[0][1]
    np.testing.assert_array_equal(w[:, :7], lstm.weight_ih_l0.detach().double().numpy())
    np.testing.assert_array_equal(w[:, 7:11], lstm.weight_hh_l0.detach().double().numpy())
    bias = (lstm.bias_ih_l0.double() + lstm.bias_hh_l0.double()).detach().numpy()
    np.testing.assert_allclose(w[:, 11], bias)
    # The stacked matrix gives the gate pre-activations of one LSTM step.
    x, h = torch.randn(7, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
    gates = w @ np.concatenate([x.numpy(), h.numpy(), [1.0]])
    cell = nn.LSTMCell(7, 4).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(lstm, f"{name}_l0"))
    _, c = cell(x[None], (h[None], torch.zeros(1, 4, dtype=torch.float64)))
    i, f, g, o = np.split(gates, 4)
    expect_c = 1 / (1 + np.exp(-i)) * np.tanh(g)
    np.testing.assert_allclose(c[0].detach().numpy(), expect_c, rtol=1e-12)


def test_bidirectional_lstm_without_bias_and_an_nt_lstm_shape():
    lstm = nn.LSTM(input_size=3, hidden_size=2, bidirectional=True, bias=False)
    layers = layers_from_module(lstm).layers
    assert [(n, w.shape, b) for n, w, b in layers] == [
        ("lstm.l0", (8, 5), False), ("lstm.l0_reverse", (8, 5), False)]
    # NeuralTalk's LSTM: 600 x + 600 h + 1 bias in, 4 gates x 600 out (EIE Table III).
    (_, w, has_bias), = layers_from_module(nn.LSTM(600, 600)).layers
    assert w.shape == (2400, 1201) and has_bias


def test_state_dict_file_round_trip_with_pruning_and_lstm(tmp_path):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(5, 3)
            self.head = nn.Linear(3, 2)

    torch.manual_seed(2)
    net = Net()
    prune.l1_unstructured(net.head, "weight", amount=0.5)
    prune.l1_unstructured(net.rnn, "weight_ih_l0", amount=0.4)
    path = tmp_path / "net.pt"
    torch.save(net.state_dict(), path)
    from_file = load_torch_layers(state_dict=str(path)).layers
    from_module = layers_from_module(net).layers
    assert [n for n, _, _ in from_file] == ["rnn.l0", "head"]
    assert [n for n, _, _ in from_module] == ["rnn.l0", "head"]
    for (_, a, ba), (_, b, bb) in zip(from_file, from_module):
        np.testing.assert_array_equal(a, b)
        assert ba == bb
    head = from_file[1][1]
    assert np.count_nonzero(head[:, :3]) == 3  # half of 6 pruned
    assert np.count_nonzero(from_file[0][1][:, :5]) == 60 - 24  # 40% of 12 x 5 pruned


def test_module_attr_spec_instance_and_factory(tmp_path, monkeypatch):
    (tmp_path / "tiny_models.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn
        torch.manual_seed(3)
        model = nn.Sequential(nn.Linear(4, 3))
        def build():
            return nn.Linear(2, 2)
        class Holder:
            net = nn.Linear(3, 1)
        not_a_model = 42
        def bad_factory():
            return "nope"
        def needs_args(x):
            return nn.Linear(x, x)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    (name, w, b), = load_torch_layers("tiny_models:model").layers
    assert name == "0" and w.shape == (3, 5) and b
    assert load_torch_layers("tiny_models:build").layers[0][1].shape == (2, 3)
    assert load_torch_layers("tiny_models:Holder.net").layers[0][1].shape == (1, 4)
    for spec, message in [
        ("tiny_models:not_a_model", "neither an nn.Module nor a factory"),
        ("tiny_models:bad_factory", "returned str, not an nn.Module"),
        ("tiny_models:needs_args", "calling tiny_models:needs_args\\(\\) failed: TypeError"),
        ("tiny_models:missing", "has no attribute 'missing'"),
        ("no_such_module_xyz:model", "cannot import module 'no_such_module_xyz'"),
        ("tiny_models:", "must be 'module:attr'"),
        ("just_a_name", "must be 'module:attr'"),
        ("", "must be 'module:attr'"),
    ]:
        with pytest.raises(EieError, match=message):
            load_torch_layers(spec)


def test_bad_state_dict_files(tmp_path):
    with pytest.raises(EieError, match="no such state-dict file"):
        load_torch_layers(state_dict=str(tmp_path / "absent.pt"))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(EieError, match="cannot read .* as a PyTorch state dict"):
        load_torch_layers(state_dict=str(garbage))
    listed = tmp_path / "list.pt"
    torch.save([1, 2, 3], listed)
    with pytest.raises(EieError, match="does not hold a state dict of tensors"):
        load_torch_layers(state_dict=str(listed))
    convs = tmp_path / "conv.pt"
    torch.save(nn.Conv2d(1, 2, 3).state_dict(), convs)
    with pytest.raises(EieError, match="has no nn.Linear, nn.LSTM or nn.GRU layer to import .*4-D weight"):
        load_torch_layers(state_dict=str(convs))
    orphan = tmp_path / "orphan.pt"
    torch.save({"fc.weight_mask": torch.ones(2, 2)}, orphan)
    with pytest.raises(EieError, match="fc.weight_mask but no fc.weight_orig"):
        load_torch_layers(state_dict=str(orphan))
    nan = tmp_path / "nan.pt"
    torch.save({"fc.weight": torch.full((2, 2), float("nan")), "fc.bias": torch.zeros(2)}, nan)
    with pytest.raises(EieError, match="layer fc has NaN"):
        load_torch_layers(state_dict=str(nan))


def test_modules_without_fc_layers_and_non_modules_fail():
    with pytest.raises(EieError, match="no nn.Linear, nn.LSTM or nn.GRU layer to import .*conv"):
        layers_from_module(nn.Conv2d(1, 1, 3))
    with pytest.raises(EieError, match="expected a torch.nn.Module"):
        layers_from_module("model")


def test_a_wrapped_checkpoint_is_accepted(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": nn.Linear(3, 2).state_dict(), "epoch": torch.tensor(4)}, path)
    (name, w, b), = load_torch_layers(state_dict=str(path)).layers
    assert name == "linear" and w.shape == (2, 4) and b


def test_imported_pruned_layer_encodes_with_its_pattern():
    model = mlp()
    prune.l1_unstructured(model[0], "weight", amount=0.7)
    name, w, has_bias = layers_from_module(model).layers[0]
    layer = compress_layer(w, name=name, has_bias=has_bias)
    assert layer.n_real == np.count_nonzero(w)
    np.testing.assert_array_equal(layer.to_dense() != 0, w != 0)


def test_torch_loads_only_when_used():
    import subprocess
    import sys

    code = ("import sys, eiesim.cli.baseline, eiesim.cli.lenet, workloads.baselines, workloads.lenet, "
            "workloads.torch_import; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_gru_rows_keep_the_n_gates_hidden_bias_apart():
    torch.manual_seed(4)
    gru = nn.GRU(input_size=3, hidden_size=2).double()
    net = layers_from_module(gru)
    (name, w, has_bias), = net.layers
    # 4 H = 8 rows over [x (3) | h (2) | 1]: r, z folded; n's input rows have no h part and
    # n's hidden rows no x part, each with its own bias.
    assert (name, w.shape, has_bias) == ("gru.l0", (8, 6), True)
    np.testing.assert_array_equal(w[4:6, 3:5], 0)
    np.testing.assert_array_equal(w[6:8, :3], 0)
    np.testing.assert_array_equal(w[6:8, 5], gru.bias_hh_l0.detach().numpy()[4:6])
    np.testing.assert_array_equal(w[4:6, 5], gru.bias_ih_l0.detach().numpy()[4:6])
    assert net.stages == ({"kind": "gru", "name": "gru.l0", "input_size": 3, "hidden_size": 2, "proj_size": 0,
                           "directions": [{"gates": "gru.l0", "proj": None, "reverse": False}]},)
    # One step computed from the rows (r * (W_hn h + b_hn): the bias is scaled by r) equals torch's.
    x, h = np.array([0.5, -1.0, 2.0]), np.array([0.3, -0.7])
    g = w @ np.concatenate([x, h, [1.0]])
    r, z = sigmoid(g[0:2]), sigmoid(g[2:4])
    n = np.tanh(g[4:6] + r * g[6:8])
    expect = gru(torch.tensor(x)[None, None], torch.tensor(h)[None, None])[0][0, 0].detach().numpy()
    np.testing.assert_allclose((1 - z) * n + z * h, expect, rtol=1e-12)
    # Folding b_hn into the input rows (the old, wrong import) gives a different answer.
    wrong = np.tanh(g[4:6] + w[6:8, 5] + r * (g[6:8] - w[6:8, 5]))
    assert not np.allclose((1 - z) * wrong + z * h, expect)


def test_lstm_projection_is_its_own_layer():
    torch.manual_seed(5)
    lstm = nn.LSTM(input_size=3, hidden_size=4, proj_size=2).double()
    net = layers_from_module(lstm)
    assert [(n, w.shape, b) for n, w, b in net.layers] == [("lstm.l0", (16, 6), True), ("lstm.l0.proj", (2, 4), False)]
    np.testing.assert_array_equal(net.layers[1].matrix, lstm.weight_hr_l0.detach().numpy())
    assert net.stages[0]["proj_size"] == 2 and net.stages[0]["directions"][0]["proj"] == "lstm.l0.proj"
    # One step: gates over [x | h_proj | 1], c' = f c + i g, h' = W_hr (o tanh c').
    x, h, c = np.array([1.0, -0.5, 0.25]), np.array([0.2, -0.1]), np.array([0.1, 0.0, -0.3, 0.5])
    i, f, g, o = np.split(net.layers[0].matrix @ np.concatenate([x, h, [1.0]]), 4)
    c_new = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    h_new = net.layers[1].matrix @ (sigmoid(o) * np.tanh(c_new))
    out, (h_t, c_t) = lstm(torch.tensor(x)[None, None], (torch.tensor(h)[None, None], torch.tensor(c)[None, None]))
    np.testing.assert_allclose(h_new, h_t[0, 0].detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(c_new, c_t[0, 0].detach().numpy(), rtol=1e-12)


class Zoo(nn.Module):
    """One of every module kind of the import matrix."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(6)
        self.emb = nn.Embedding(10, 4)
        self.conv = nn.Conv1d(1, 2, 3)
        self.lstm = nn.LSTM(4, 6, num_layers=2, proj_size=3, bidirectional=True)
        self.gru = nn.GRU(6, 5)
        self.rnn = nn.RNN(5, 5)
        self.attn = nn.MultiheadAttention(4, 2)
        self.norm = nn.LayerNorm(4)
        self.head = nn.Linear(5, 2)
        self.nobias = nn.Linear(2, 2, bias=False)


def test_both_paths_give_the_same_layers_and_list_what_they_skip(tmp_path):
    zoo = Zoo()
    prune.l1_unstructured(zoo.head, "weight", amount=0.5)
    prune.l1_unstructured(zoo.gru, "weight_hh_l0", amount=0.5)
    path = tmp_path / "zoo.pt"
    torch.save(zoo.state_dict(), path)
    from_module, from_file = layers_from_module(zoo), load_torch_layers(state_dict=str(path))
    supported = ["lstm.l0", "lstm.l0.proj", "lstm.l0_reverse", "lstm.l0_reverse.proj", "lstm.l1", "lstm.l1.proj",
                 "lstm.l1_reverse", "lstm.l1_reverse.proj", "gru.l0", "attn.out_proj", "head"]
    assert [layer.name for layer in from_module.layers] == supported + ["nobias"]
    assert [layer.name for layer in from_file.layers] == supported
    for a, b in zip(from_module.layers, from_file.layers):
        np.testing.assert_array_equal(a.matrix, b.matrix)
        assert a.has_bias == b.has_bias
    assert from_module.stages[:-1] == from_file.stages
    # Layer 1 of the bidirectional projected LSTM reads both directions' projections: 2 x 3 inputs.
    assert from_module.stages[1]["input_size"] == 6 and from_module.layer("lstm.l1").matrix.shape == (24, 6 + 3 + 1)
    skipped_module = [line.split(" (")[0] for line in from_module.skipped]
    skipped_file = [line.split(" (")[0] for line in from_file.skipped]
    assert skipped_module == ["emb", "conv", "rnn", "attn", "norm"]
    assert skipped_file == ["emb", "conv", "rnn", "attn", "norm", "nobias"]
    assert "emb (Embedding): an embedding is a table lookup" in from_module.skipped[0]
    assert "cannot tell nn.Linear(bias=False) from nn.Embedding" in from_file.skipped[0]
    # The unsupported RNN gets the same message on both paths.
    assert from_module.skipped[2] == from_file.skipped[2] and "nn.RNN (vanilla RNN) is not supported" in from_file.skipped[2]
    # The state dict loaded into the module: exactly the module's layers.
    both = load_torch_layers("test_torch_import:Zoo", state_dict=str(path))
    assert [layer.name for layer in both.layers] == supported + ["nobias"]
    np.testing.assert_array_equal(both.layer("head").matrix, from_module.layer("head").matrix)


def test_state_dict_that_does_not_fit_the_module(tmp_path):
    path = tmp_path / "other.pt"
    torch.save(nn.Linear(3, 3).state_dict(), path)
    with pytest.raises(EieError, match="cannot load .*other.pt into Zoo"):
        load_torch_layers("test_torch_import:Zoo", state_dict=str(path))


def test_module_is_found_in_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "cwd_model_xyz.py").write_text("import torch\nnet = torch.nn.Linear(2, 1)\n")
    (tmp_path / "broken_model_xyz.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.chdir(tmp_path)
    import sys

    before = list(sys.path)
    assert load_torch_layers("cwd_model_xyz:net").layers[0].matrix.shape == (1, 3)
    assert sys.path == before  # the directory is searched for this import only
    with pytest.raises(EieError, match="importing 'broken_model_xyz' failed: RuntimeError: boom"):
        load_torch_layers("broken_model_xyz:net")


def test_malformed_recurrent_state_dicts(tmp_path):
    odd = {"r.weight_ih_l0": torch.zeros(10, 3), "r.weight_hh_l0": torch.zeros(10, 5)}
    with pytest.raises(EieError, match=r"r: weight_hh_l0 is \(10, 5\): not an LSTM, GRU or RNN"):
        layers_from_state_dict(odd)
    half_bias = {"r.weight_ih_l0": torch.zeros(8, 3), "r.weight_hh_l0": torch.zeros(8, 2), "r.bias_ih_l0": torch.zeros(8)}
    with pytest.raises(EieError, match="has one of bias_ih_l0 / bias_hh_l0 only"):
        layers_from_state_dict(half_bias)


def test_alexnet_classifier_keeps_table_iii_densities():
    from workloads.alexnet_classifier import pruned_classifier

    net = pruned_classifier(0, widths=(200, 100, 100, 40))
    layers = layers_from_module(net).layers
    assert [(n, w.shape) for n, w, _ in layers] == [("1", (100, 201)), ("4", (100, 101)), ("6", (40, 101))]
    # l1_unstructured prunes round(0.91 x 20000) = 18200 of fc6 and round(0.75 x 4000) = 3000 of fc8.
    assert [int(np.count_nonzero(w[:, :-1])) for _, w, _ in layers] == [1800, 900, 1000]
    assert not net.training  # Dropout off
    assert pruned_classifier(0, widths=(20, 10, 10, 4))[1].weight.shape == (10, 20)
