"""Import of PyTorch layers at its edges: a GRU without bias laid out by hand, modules and
state dicts at the root (no prefix), every skip reason and error message exactly, and how
state-dict files are read (tensors mapped to the CPU, no arbitrary objects unpickled)."""

import fractions
import io
import sys
import textwrap
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from eiecore.errors import EieError  # noqa: E402
from workloads.torch_import import (  # noqa: E402
    _load_state_dict,
    layers_from_module,
    layers_from_state_dict,
    load_torch_layers,
)

NO_LAYER = "has no nn.Linear, nn.LSTM or nn.GRU layer to import"
RNN = ("rnn (RNN): nn.RNN (vanilla RNN) is not supported: its nonlinearity (tanh or relu) is not stored in a state dict; "
       "use nn.LSTM or nn.GRU")


def tensor(*rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_gru_without_bias_by_hand():
    # H = 1, one input: W_ih = (r, z, n) = (1, 2, 3), W_hh = (4, 5, 6). Rows over [x | h]:
    # r = [1 4], z = [2 5], n's input term [3 0], n's hidden term [0 6]; no bias column.
    state = {"weight_ih_l0": tensor([1.0], [2.0], [3.0]), "weight_hh_l0": tensor([4.0], [5.0], [6.0])}
    (name, matrix, has_bias), = layers_from_state_dict(state).layers
    assert (name, has_bias) == ("gru.l0", False)
    np.testing.assert_array_equal(matrix, [[1, 4], [2, 5], [3, 0], [0, 6]])
    gru = nn.GRU(1, 1, bias=False).double()
    with torch.no_grad():
        gru.weight_ih_l0.copy_(state["weight_ih_l0"])
        gru.weight_hh_l0.copy_(state["weight_hh_l0"])
    np.testing.assert_array_equal(layers_from_module(gru).layers[0].matrix, matrix)


@pytest.mark.parametrize("key", ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"])
def test_gru_weights_of_the_wrong_type_name_the_layer(key):
    state = {"g.weight_ih_l0": torch.ones(3, 2), "g.weight_hh_l0": torch.ones(3, 1),
             "g.bias_ih_l0": torch.ones(3), "g.bias_hh_l0": torch.ones(3)}
    state[f"g.{key}"] = state[f"g.{key}"].long()
    with pytest.raises(EieError) as info:
        layers_from_state_dict(state)
    assert str(info.value) == "layer g.l0: weights must be floating-point numbers, got torch.int64"


def test_an_lstm_of_hidden_size_one_from_a_state_dict():
    state = {"weight_ih_l0": torch.ones(4, 2), "weight_hh_l0": torch.ones(4, 1)}
    (name, matrix, has_bias), = layers_from_state_dict(state).layers
    assert (name, matrix.shape, has_bias) == ("lstm.l0", (4, 3), False)


@pytest.mark.parametrize("state, message", [
    ({"r.weight_ih_l0": torch.ones(4, 2)}, "r: recurrent weights without a 2-D weight_hh_l0"),
    ({"r.weight_ih_l0": torch.ones(4, 2), "r.weight_hh_l0": torch.ones(4)},
     "r: recurrent weights without a 2-D weight_hh_l0"),
    ({"r.weight_ih_l0": torch.ones(4, 2), "r.weight_hh_l0": torch.ones(4, 0)},
     "r: recurrent weights without a 2-D weight_hh_l0"),
    # 9 rows over hidden 2: 4 gates and one row left over, not an LSTM.
    ({"r.weight_ih_l0": torch.ones(9, 2), "r.weight_hh_l0": torch.ones(9, 2)},
     "r: weight_hh_l0 is (9, 2): not an LSTM, GRU or RNN"),
    ({"weight_ih_l0": torch.ones(9, 2), "weight_hh_l0": torch.ones(9, 2)},
     "state dict root: weight_hh_l0 is (9, 2): not an LSTM, GRU or RNN"),
])
def test_recurrent_shapes_that_are_no_known_layer(state, message):
    with pytest.raises(EieError) as info:
        layers_from_state_dict(state)
    assert str(info.value) == message


@pytest.mark.parametrize("state, skipped", [
    ({"bn.running_mean": torch.zeros(3), "bn.num_batches_tracked": torch.tensor(0)},
     "bn (state dict): no weight matrix (running_mean, num_batches_tracked)"),
    ({"weight": torch.ones(3), "bias": torch.ones(3)}, "state dict root (state dict): a 1-D weight is not a fully "
                                                       "connected layer"),
    ({"a.in_proj_weight": torch.ones(6, 2), "a.in_proj_bias": torch.ones(6)},
     "a (state dict): attention's packed in_proj is not imported (its out_proj Linear is)"),
    ({"e.weight": torch.ones(5, 2)}, "e (state dict): a 2-D weight without a bias: a state dict cannot tell "
                                     "nn.Linear(bias=False) from nn.Embedding; import the model with --torch-module "
                                     "(and --state-dict) instead"),
    (nn.RNN(2, 2).state_dict(), RNN),
])
def test_state_dict_skip_reasons_word_for_word(state, skipped):
    with pytest.raises(EieError) as info:
        layers_from_state_dict(state)
    assert str(info.value) == f"state dict {NO_LAYER} ({skipped})"
    assert layers_from_state_dict({**state, "fc.weight": torch.ones(1, 1), "fc.bias": torch.ones(1)}).skipped == (
        skipped,)


@pytest.mark.parametrize("module, skipped", [
    (nn.Conv1d(1, 1, 2), "Conv1d (Conv1d): convolutions are not fully connected layers (EIE runs FC and LSTM layers)"),
    (nn.LayerNorm(2), "LayerNorm (LayerNorm): not a fully connected or recurrent layer"),
    (nn.RNN(2, 2), RNN),
])
def test_module_skip_reasons_word_for_word(module, skipped):
    with pytest.raises(EieError) as info:
        layers_from_module(module)
    assert str(info.value) == f"module {type(module).__name__} {NO_LAYER} ({skipped})"


def test_attention_is_skipped_but_its_out_proj_imported():
    net = layers_from_module(nn.MultiheadAttention(2, 1))
    assert [layer.name for layer in net.layers] == ["out_proj"]
    assert net.skipped == ("MultiheadAttention (MultiheadAttention): attention's packed in_proj is not imported "
                           "(its out_proj Linear is)",)


def save(path, state):
    torch.save(state, path)
    return str(path)


def test_messages_name_the_file_and_the_root_prefix(tmp_path):
    with pytest.raises(EieError) as info:
        load_torch_layers()
    assert str(info.value) == "a PyTorch source needs 'module:attr', a state-dict file, or both"
    path = save(tmp_path / "norm.pt", nn.LayerNorm(2).state_dict())
    with pytest.raises(EieError) as info:
        load_torch_layers(state_dict=path)
    assert str(info.value) == (f"{path} {NO_LAYER} (state dict root (state dict): a 1-D weight is not a fully "
                               "connected layer)")
    # A pruning mask at the root: the names carry no prefix.
    for state, message in [
        ({"weight_mask": torch.ones(2, 2)}, "state dict has weight_mask but no weight_orig"),
        ({"weight_orig": torch.ones(2, 2), "weight_mask": torch.ones(2, 1), "bias": torch.ones(2)},
         "weight_mask has shape (2, 1) but weight_orig has (2, 2)"),
        ({"fc.weight_orig": torch.ones(2, 2), "fc.weight_mask": torch.full((2, 2), 0.5), "fc.bias": torch.ones(2)},
         "fc.weight_mask must hold only 0 and 1 (a pruning mask)"),
    ]:
        with pytest.raises(EieError) as info:
            load_torch_layers(state_dict=save(tmp_path / "mask.pt", state))
        assert str(info.value) == message


def test_a_root_state_dict_loads_into_its_module(tmp_path, monkeypatch):
    (tmp_path / "edge_models_xyz.py").write_text(textwrap.dedent("""
        import torch
        linear = torch.nn.Linear(2, 1)
        def fails_quietly():
            raise RuntimeError()
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    path = save(tmp_path / "lin.pt", {"weight": tensor([1.0, 2.0]), "bias": tensor(3.0)})
    (name, matrix, has_bias), = load_torch_layers("edge_models_xyz:linear", state_dict=path).layers
    assert (name, has_bias) == ("linear", True)
    np.testing.assert_array_equal(matrix, [[1, 2, 3]])
    wrong = save(tmp_path / "wrong.pt", {"weight": torch.ones(3, 3), "bias": torch.ones(3)})
    with pytest.raises(EieError) as info:
        load_torch_layers("edge_models_xyz:linear", state_dict=wrong)
    assert str(info.value) == (f"cannot load {wrong} into Linear: RuntimeError: Error(s) in loading state_dict "
                               "for Linear:")
    # An exception without a message is named by its type alone.
    with pytest.raises(EieError) as info:
        load_torch_layers("edge_models_xyz:fails_quietly")
    assert str(info.value) == "calling edge_models_xyz:fails_quietly() failed: RuntimeError"


@pytest.mark.parametrize("spec, message", [
    ("edge_no_such_module_xyz:net",
     "cannot import module 'edge_no_such_module_xyz': ModuleNotFoundError: No module named 'edge_no_such_module_xyz'"),
    ("edge_a_xyz:b:net", "cannot import module 'edge_a_xyz:b': ModuleNotFoundError: No module named 'edge_a_xyz:b'"),
    (5, "PyTorch module 5 must be 'module:attr'"),
])
def test_module_specs_that_cannot_be_imported(spec, message):
    with pytest.raises(EieError) as info:
        load_torch_layers(spec)
    assert str(info.value) == message


def test_the_current_directory_is_searched_before_the_path(tmp_path, monkeypatch):
    elsewhere, here = tmp_path / "elsewhere", tmp_path / "here"
    for folder, width in ((elsewhere, 5), (here, 2)):
        folder.mkdir()
        (folder / "edge_shadowed_xyz.py").write_text(f"import torch\nnet = torch.nn.Linear({width}, 1)\n")
    monkeypatch.syspath_prepend(str(elsewhere))
    monkeypatch.chdir(here)
    monkeypatch.delitem(sys.modules, "edge_shadowed_xyz", raising=False)
    try:
        assert load_torch_layers("edge_shadowed_xyz:net").layers[0].matrix.shape == (1, 3)
    finally:
        sys.modules.pop("edge_shadowed_xyz", None)


def test_a_state_dict_saved_on_a_gpu_is_read_onto_the_cpu(tmp_path):
    """The storages of a checkpoint written on a GPU are marked 'cuda' in its pickle; written
    here by relabelling a CPU checkpoint's storage location."""
    buffer = io.BytesIO()
    torch.save({"fc.weight": torch.ones(2, 3), "fc.bias": torch.zeros(2)}, buffer)
    path = tmp_path / "gpu.pt"
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name.endswith("data.pkl"):
                assert data.count(b"X\x03\x00\x00\x00cpu") == 1
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x04\x00\x00\x00cuda")
            dst.writestr(name, data)
    state = _load_state_dict(str(path))
    assert [(key, value.device.type) for key, value in state.items()] == [("fc.weight", "cpu"), ("fc.bias", "cpu")]


def test_a_file_with_other_objects_is_not_unpickled(tmp_path):
    path = save(tmp_path / "obj.pt", {"fc.weight": torch.ones(1, 1), "fc.bias": torch.ones(1),
                                      "ratio": fractions.Fraction(1, 2)})
    with pytest.raises(EieError, match=r"cannot read .*obj\.pt as a PyTorch state dict: UnpicklingError: Weights "
                                       r"only load failed"):
        load_torch_layers(state_dict=path)


def lstm(rows=8, hidden=2, inputs=3, tag="l0", **extra):
    return {f"r.weight_ih_{tag}": torch.ones(rows, inputs), f"r.weight_hh_{tag}": torch.ones(rows, hidden), **extra}


@pytest.mark.parametrize("state, message", [
    ({**lstm(), "r.weight_ih_l1": torch.ones(8, 2)}, "LSTM layer r.l1: weight_ih_l1 and weight_hh_l1 are both needed"),
    (lstm(**{"r.bias_ih_l0": torch.ones(8)}), "LSTM layer r.l0: has one of bias_ih_l0 / bias_hh_l0 only"),
    (lstm(**{"r.bias_ih_l0": torch.ones(7), "r.bias_hh_l0": torch.ones(8)}),
     "LSTM layer r.l0: bias_ih_l0 has shape (7,), expected (8,)"),
    ({"r.weight_ih_l0": torch.ones(4, 3), "r.weight_hh_l0": torch.ones(8, 2)},
     "LSTM layer r.l0: weight_ih and weight_hh need 4 x hidden rows, got 4 and 8"),
    (lstm(**{"r.weight_hr_l0": torch.ones(2)}), "LSTM layer r.l0: weight_hr_l0 does not fit an LSTM projection"),
    (lstm(hidden=1, **{"r.weight_hr_l0": torch.ones(1, 3)}),
     "LSTM layer r.l0: weight_hr_l0 does not fit an LSTM projection"),
    (lstm(hidden=3, **{"r.weight_hr_l0": torch.ones(1, 2)}),
     "LSTM layer r.l0: weight_hr_l0 does not fit an LSTM projection"),
    ({"r.weight_ih_l0": torch.ones(6, 3), "r.weight_hh_l0": torch.ones(6, 2), "r.weight_ih_l1": torch.ones(6, 2),
      "r.weight_hh_l1": torch.ones(6, 3)}, "GRU layer r.l1: weight_hh is (6, 3), expected 6 x 2"),
    ({**lstm(), **lstm(inputs=4, tag="l0_reverse")}, "LSTM layer r.l0_reverse: its directions differ in size"),
])
def test_recurrent_layers_that_do_not_fit_word_for_word(state, message):
    with pytest.raises(EieError) as info:
        layers_from_state_dict(state)
    assert str(info.value) == message


def test_stages_word_for_word():
    net = layers_from_state_dict({**lstm(), **lstm(tag="l0_reverse"), "fc.weight": torch.ones(1, 4),
                                  "fc.bias": torch.ones(1)})
    assert net.stages == (
        {"kind": "lstm", "name": "r.l0", "input_size": 3, "hidden_size": 2, "proj_size": 0,
         "directions": [{"gates": "r.l0", "proj": None, "reverse": False},
                        {"gates": "r.l0_reverse", "proj": None, "reverse": True}]},
        {"kind": "linear", "layer": "fc"})


def linear_with(**tensors):
    module = nn.Linear(2, 3)
    for key, value in tensors.items():
        setattr(module, key, nn.Parameter(value, requires_grad=False))
    return module


@pytest.mark.parametrize("module, message", [
    (linear_with(weight=torch.ones(3)), "layer linear: weight must be a 2-D matrix"),
    (linear_with(bias=torch.ones(2)), "layer linear: bias has shape (2,), expected (3,)"),
    (linear_with(weight=torch.ones(3, 2, dtype=torch.long)),
     "layer linear: weights must be floating-point numbers, got torch.int64"),
    (linear_with(bias=torch.ones(3, dtype=torch.long)),
     "layer linear: weights must be floating-point numbers, got torch.int64"),
    (linear_with(weight=torch.ones(3, 2, dtype=torch.complex64)),
     "layer linear: weights must be real numbers, got torch.complex64"),
    (linear_with(weight=torch.ones(3, 2).to_sparse()),
     "layer linear: weights: a sparse tensor (torch.sparse_coo) is not imported; save the dense weight and a "
     "weight_mask"),
    (linear_with(weight=torch.empty(3, 2, device="meta")),
     "layer linear: weights are on the meta device (no values): load real weights first"),
    ("a module", "expected a torch.nn.Module, got str"),
    (nn.ReLU(), f"module ReLU {NO_LAYER} (it has no parameters)"),
    (nn.Sequential(nn.LayerNorm(2), nn.LayerNorm(2)), f"module Sequential {NO_LAYER} (0 (LayerNorm): not a fully "
                                                      "connected or recurrent layer; 1 (LayerNorm): not a fully "
                                                      "connected or recurrent layer)"),
])
def test_module_layers_that_cannot_be_imported_word_for_word(module, message):
    with pytest.raises(EieError) as info:
        layers_from_module(module)
    assert str(info.value) == message


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor")
def test_a_quantized_weight_is_refused():
    quantized = torch.quantize_per_tensor(torch.ones(3, 2), 0.1, 0, torch.qint8)
    module = nn.Linear(2, 3)
    del module.weight
    module.weight = quantized  # a plain attribute: a parameter cannot be quantized
    with pytest.raises(EieError) as info:
        layers_from_module(module)
    assert str(info.value) == "layer linear: weights are a quantized tensor (torch.qint8): import the float model"


def test_numpy_weights_and_modules_with_buffers_only(monkeypatch):
    from workloads.torch_import import _numpy, require_torch

    for array, message in [(np.ones(2, int), "weights must be floating-point numbers, got int64"),
                           (np.ones(2, complex), "weights must be real numbers, got complex128")]:
        with pytest.raises(EieError) as info:
            _numpy(array)
        assert str(info.value) == message
    np.testing.assert_array_equal(_numpy(np.array([0.5, 2.0], np.float32)), [0.5, 2.0])  # float32 is float
    # An attribute under a weight's name that is no tensor is no weight: a Linear without bias.
    odd = nn.Linear(2, 1)
    del odd.bias
    odd.bias = 3.0
    (name, matrix, has_bias), = layers_from_module(odd).layers
    assert matrix.shape == (1, 2) and not has_bias
    # A module holding buffers only (no parameters) is listed as skipped.
    net = layers_from_module(nn.Sequential(nn.BatchNorm1d(2, affine=False), nn.Linear(2, 1)))
    assert net.skipped == ("0 (BatchNorm1d): not a fully connected or recurrent layer",)
    # A pruning mask that is not 0/1, read from the module.
    from torch.nn.utils import prune

    pruned = prune.custom_from_mask(nn.Linear(2, 1), "weight", torch.ones(1, 2))
    pruned.weight_mask.fill_(0.5)
    with pytest.raises(EieError) as info:
        layers_from_module(pruned)
    assert str(info.value) == "weight_mask must hold only 0 and 1 (a pruning mask)"
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(EieError) as info:
        require_torch()
    assert str(info.value) == "PyTorch is not installed; install eiesim[torch]"
