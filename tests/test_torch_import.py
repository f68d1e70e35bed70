"""Import of PyTorch Linear/LSTM layers: matrices, pruning masks, LSTM gate stacking, errors."""

import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn.utils import prune  # noqa: E402

from compressor.csc import compress_layer  # noqa: E402
from eiesim.errors import EieError  # noqa: E402
from workloads.torch_import import layers_from_module, load_torch_layers  # noqa: E402


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3, bias=False))


def test_linear_layers_are_weight_then_bias_column():
    model = mlp()
    layers = layers_from_module(model)
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
    name, w, has_bias = layers_from_module(model)[0]
    np.testing.assert_array_equal(w[:, :6] != 0, mask.numpy().astype(bool))
    np.testing.assert_array_equal(w[:, :6], (model[0].weight_orig * mask).detach().double().numpy())
    # A stale .weight attribute must not win over weight_orig * weight_mask.
    with torch.no_grad():
        model[0].weight_orig.mul_(2.0)
    np.testing.assert_allclose(layers_from_module(model)[0][1][:, :6], 2 * w[:, :6])


def test_lstm_layers_stack_gates_with_summed_biases():
    torch.manual_seed(1)
    lstm = nn.LSTM(input_size=7, hidden_size=4, num_layers=2)
    layers = layers_from_module(lstm)
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
    layers = layers_from_module(lstm)
    assert [(n, w.shape, b) for n, w, b in layers] == [
        ("lstm.l0", (8, 5), False), ("lstm.l0_reverse", (8, 5), False)]
    # NeuralTalk's LSTM: 600 x + 600 h + 1 bias in, 4 gates x 600 out (EIE Table III).
    (_, w, has_bias), = layers_from_module(nn.LSTM(600, 600))
    assert w.shape == (2400, 1201) and has_bias


def test_lstm_projection_is_refused():
    with pytest.raises(EieError, match="proj_size"):
        layers_from_module(nn.LSTM(4, 4, proj_size=2))


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
    from_file = load_torch_layers(str(path))
    from_module = layers_from_module(net)
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
    (name, w, b), = load_torch_layers("tiny_models:model")
    assert name == "0" and w.shape == (3, 5) and b
    assert load_torch_layers("tiny_models:build")[0][1].shape == (2, 3)
    assert load_torch_layers("tiny_models:Holder.net")[0][1].shape == (1, 4)
    for spec, message in [
        ("tiny_models:not_a_model", "neither an nn.Module nor a factory"),
        ("tiny_models:bad_factory", "returned str, not an nn.Module"),
        ("tiny_models:needs_args", "calling tiny_models:needs_args\\(\\) failed: TypeError"),
        ("tiny_models:missing", "has no attribute 'missing'"),
        ("no_such_module_xyz:model", "cannot import module 'no_such_module_xyz'"),
        ("tiny_models:", "must be 'module:attr'"),
        ("just_a_name", "neither a file nor 'module:attr'"),
        ("", "must be 'module:attr' or a state-dict file"),
    ]:
        with pytest.raises(EieError, match=message):
            load_torch_layers(spec)


def test_bad_state_dict_files(tmp_path):
    with pytest.raises(EieError, match="no such state-dict file"):
        load_torch_layers(str(tmp_path / "absent.pt"))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(EieError, match="cannot read .* as a PyTorch state dict"):
        load_torch_layers(str(garbage))
    listed = tmp_path / "list.pt"
    torch.save([1, 2, 3], listed)
    with pytest.raises(EieError, match="does not hold a state dict of tensors"):
        load_torch_layers(str(listed))
    convs = tmp_path / "conv.pt"
    torch.save(nn.Conv2d(1, 2, 3).state_dict(), convs)
    with pytest.raises(EieError, match="holds no linear"):
        load_torch_layers(str(convs))
    orphan = tmp_path / "orphan.pt"
    torch.save({"fc.weight_mask": torch.ones(2, 2)}, orphan)
    with pytest.raises(EieError, match="fc.weight_mask but no fc.weight_orig"):
        load_torch_layers(str(orphan))
    nan = tmp_path / "nan.pt"
    torch.save({"fc.weight": torch.full((2, 2), float("nan"))}, nan)
    with pytest.raises(EieError, match="layer fc has NaN"):
        load_torch_layers(str(nan))


def test_modules_without_fc_layers_and_non_modules_fail():
    with pytest.raises(EieError, match="no nn.Linear or nn.LSTM"):
        layers_from_module(nn.Conv2d(1, 1, 3))
    with pytest.raises(EieError, match="expected a torch.nn.Module"):
        layers_from_module("model")


def test_a_wrapped_checkpoint_is_accepted(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": nn.Linear(3, 2).state_dict(), "epoch": torch.tensor(4)}, path)
    (name, w, b), = load_torch_layers(str(path))
    assert name == "linear" and w.shape == (2, 4) and b


def test_imported_pruned_layer_encodes_with_its_pattern():
    model = mlp()
    prune.l1_unstructured(model[0], "weight", amount=0.7)
    name, w, has_bias = layers_from_module(model)[0]
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
