"""Import the fully connected and recurrent layers of a PyTorch model as EIE weight matrices.

Every layer comes back as a :class:`TorchLayer` ``(name, matrix, has_bias)``: the matrix
has outputs as rows and inputs as columns, zeros where weights are pruned (a
``weight_mask`` of ``torch.nn.utils.prune`` is honoured: the weight is ``weight_orig *
weight_mask``), and the bias as an extra last column, the way EIE feeds a bias (an input
fixed at 1.0). Which layers form which module, and in what order the network runs them,
is in :attr:`TorchNetwork.stages` (read by :mod:`eiesim.inference`).

- ``nn.Linear``: ``[W | b]``, M = out_features, K = in_features (+ 1).
- ``nn.LSTM``, per layer and direction: the four gates stacked as torch stores them
  (i, f, g, o), ``[W_ih | W_hh | b_ih + b_hh]``: 4 H rows, input + recurrent (+ 1) columns,
  as NeuralTalk's LSTM in EIE Table III. With ``proj_size`` P the recurrent input is the
  projected state (W_hh is 4H x P) and ``weight_hr`` (P x H, no bias) is its own layer
  ``<name>.proj``.
- ``nn.GRU``, per layer and direction, 4 H rows over ``[x | h | 1]``: r and z gates
  ``[W_i | W_h | b_i + b_h]``; the n gate as two row groups, ``[W_in | 0 | b_in]`` and
  ``[0 | W_hn | b_hn]``, because torch computes n = tanh(W_in x + b_in + r * (W_hn h + b_hn)):
  the hidden term keeps its own bias and is scaled by r, so it cannot be folded.

Everything else is not imported and is listed in :attr:`TorchNetwork.skipped` with the
reason (convolutions, embeddings, vanilla RNNs, attention's packed ``in_proj``, norms, ...).

Sources: ``module:attr`` (an importable ``nn.Module`` instance, or a zero-argument factory
such as the class itself; the module's code is imported and run, and the current directory
is searched first), the path of a saved state dict (``torch.save(model.state_dict())``),
or both (the state dict loaded into the module). A state dict stores no module types, so
its layers are recognised by parameter names and shapes: ``<m>.weight`` (2-D) with
``<m>.bias`` is a linear layer; ``<m>.weight_ih_l<k>`` groups are LSTM (4 gates, or a
``weight_hr``), GRU (3 gates) or RNN (1 gate, not supported); a 2-D weight without a
bias is skipped because ``nn.Linear(bias=False)`` and ``nn.Embedding`` look the same
there (import such a model through ``module:attr``). torch is imported only when used.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np

from eiecore.errors import EieError

_RECURRENT_KEY = re.compile(r"^(weight|bias)_(ih|hh|hr)_l(?P<layer>\d+)(?P<reverse>(_reverse)?)$")
# Gate row groups per kind: LSTM i, f, g, o; GRU r, z, n; RNN one.
_GATES = {"lstm": 4, "gru": 3, "rnn": 1}
RNN_NOT_SUPPORTED = ("nn.RNN (vanilla RNN) is not supported: its nonlinearity (tanh or relu) is not "
                     "stored in a state dict; use nn.LSTM or nn.GRU")


class TorchLayer(NamedTuple):
    """One weight matrix for the PE array: outputs x inputs, bias as the last column."""

    name: str
    matrix: np.ndarray
    has_bias: bool


@dataclass(frozen=True)
class TorchNetwork:
    """The imported layers, how they chain, and what was left out.

    ``stages`` (plain JSON) run in order, each feeding the next: ``{"kind": "linear",
    "layer": NAME}``, or a recurrent layer ``{"kind": "lstm" | "gru", "name", "input_size",
    "hidden_size", "proj_size", "directions": [{"gates": NAME, "proj": NAME | None,
    "reverse": bool}, ...]}`` whose directions' outputs are concatenated.
    ``skipped``: one ``"<name> (<kind>): <reason>"`` line per module not imported.
    A network captured from ``forward()`` (:mod:`workloads.torch_graph`) has no stages but
    a ``graph`` (the description of :mod:`eiesim.graph`), the ``host_arrays`` its host
    operations read, each layer's fused ``activations`` and its ``origin`` (module, state dict).
    """

    layers: tuple[TorchLayer, ...]
    stages: tuple[dict, ...]
    skipped: tuple[str, ...]
    graph: dict | None = None
    host_arrays: dict = field(default_factory=dict)
    activations: dict = field(default_factory=dict)
    origin: dict | None = None

    def layer(self, name: str) -> TorchLayer:
        return next(layer for layer in self.layers if layer.name == name)


def require_torch():
    """The ``torch`` module; an :class:`EieError` naming the extra to install when it is missing."""
    try:
        import torch
    except ModuleNotFoundError as exc:  # pragma: no cover - torch is an optional extra
        raise EieError("PyTorch is not installed; install eiesim[torch]") from exc
    return torch


def load_torch_layers(module_spec: str | None = None, state_dict: str | None = None) -> TorchNetwork:
    """The layers of ``module:attr``, of a saved state dict, or of the module with the
    state dict loaded into it (both given)."""
    if module_spec is None and state_dict is None:
        raise EieError("a PyTorch source needs 'module:attr', a state-dict file, or both")
    if module_spec is None:
        return layers_from_state_dict(_load_state_dict(state_dict), source=state_dict)
    return layers_from_module(import_module_with_state(module_spec, state_dict))


def import_module_with_state(module_spec: str, state_dict: str | None = None):
    """``module:attr`` imported (its code runs), with the state dict loaded into it if given."""
    module = _import_module_attr(module_spec)
    if state_dict is not None:
        _load_into(module, _load_state_dict(state_dict), state_dict)
    return module


def layers_from_module(module) -> TorchNetwork:
    """The Linear, LSTM and GRU layers of an ``nn.Module``, in registration order."""
    torch = require_torch()
    nn = torch.nn
    if not isinstance(module, nn.Module):
        raise EieError(f"expected a torch.nn.Module, got {type(module).__name__}")
    net = _Builder()
    for name, sub in module.named_modules():
        tensors = _module_tensors(sub)
        if isinstance(sub, nn.Linear):
            net.linear(name or "linear", tensors)
        elif isinstance(sub, (nn.LSTM, nn.GRU)):
            kind = "lstm" if isinstance(sub, nn.LSTM) else "gru"
            prefix = name or kind
            for k in range(sub.num_layers):
                net.recurrent(kind, prefix, k, sub.bidirectional, tensors)
        elif isinstance(sub, nn.RNN):
            net.skip(name or "rnn", "RNN", RNN_NOT_SUPPORTED)
        elif _own_tensors(sub):
            net.skip(name or type(sub).__name__, type(sub).__name__, _module_reason(sub, nn))
    return net.done(f"module {type(module).__name__}")


def layers_from_state_dict(state: dict[str, Any], source: str = "state dict") -> TorchNetwork:
    """The linear, LSTM and GRU layers of a state dict, in key order (see the module docstring)."""
    net = _Builder()
    for prefix, params in _group_by_module(state).items():
        tensors = _dict_tensors(params)
        label = prefix or "state dict root"
        recurrent = sorted({int(m["layer"]) for p in params if (m := _RECURRENT_KEY.match(p))})
        if recurrent:
            kind = _recurrent_kind(label, tensors)
            if kind == "rnn":
                net.skip(prefix or "rnn", "RNN", RNN_NOT_SUPPORTED)
                continue
            bidirectional = any(p.endswith("_reverse") for p in params)
            for k in recurrent:
                net.recurrent(kind, prefix or kind, k, bidirectional, tensors)
            continue
        weight = tensors("weight")
        if weight is not None and weight.ndim == 2 and tensors("bias") is not None:
            net.linear(prefix or "linear", tensors)
        else:
            net.skip(label, "state dict", _state_reason(params, tensors))
    return net.done(source)


class _Builder:
    """Collects layers, stages and skipped modules; checks every matrix."""

    def __init__(self) -> None:
        self.layers: list[TorchLayer] = []
        self.stages: list[dict] = []
        self.skipped: list[str] = []

    def linear(self, name: str, tensors: Callable[[str], Any]) -> None:
        weight, bias = tensors("weight"), tensors("bias")
        if weight is None or weight.ndim != 2:
            raise EieError(f"layer {name}: weight must be a 2-D matrix")
        self._add(name, [weight], bias)
        self.stages.append({"kind": "linear", "layer": name})

    def recurrent(self, kind: str, prefix: str, k: int, bidirectional: bool, tensors: Callable[[str], Any]) -> None:
        """Layer k of an LSTM/GRU (both directions when bidirectional): one stage."""
        directions, sizes = [], None
        for suffix in ("", "_reverse") if bidirectional else ("",):
            tag, name = f"l{k}{suffix}", f"{prefix}.l{k}{suffix}"
            w_ih, w_hh = tensors(f"weight_ih_{tag}"), tensors(f"weight_hh_{tag}")
            if w_ih is None or w_hh is None:
                raise EieError(f"{kind.upper()} layer {name}: weight_ih_{tag} and weight_hh_{tag} are both needed")
            b_ih, b_hh, w_hr = tensors(f"bias_ih_{tag}"), tensors(f"bias_hh_{tag}"), tensors(f"weight_hr_{tag}")
            if (b_ih is None) != (b_hh is None):
                raise EieError(f"{kind.upper()} layer {name}: has one of bias_ih_{tag} / bias_hh_{tag} only")
            for key, b in ((f"bias_ih_{tag}", b_ih), (f"bias_hh_{tag}", b_hh)):
                if b is not None and tuple(b.shape) != (w_hh.shape[0],):
                    raise EieError(f"{kind.upper()} layer {name}: {key} has shape {tuple(b.shape)}, expected "
                                   f"({w_hh.shape[0]},)")
            hidden = w_hh.shape[0] // _GATES[kind]
            if w_ih.shape[0] != _GATES[kind] * hidden or w_hh.shape[0] != _GATES[kind] * hidden:
                raise EieError(f"{kind.upper()} layer {name}: weight_ih and weight_hh need {_GATES[kind]} x "
                               f"hidden rows, got {w_ih.shape[0]} and {w_hh.shape[0]}")
            proj = None
            if w_hr is not None:
                if kind != "lstm" or w_hr.ndim != 2 or w_hr.shape[1] != hidden or w_hh.shape[1] != w_hr.shape[0]:
                    raise EieError(f"{kind.upper()} layer {name}: weight_hr_{tag} does not fit an LSTM projection")
                proj = f"{name}.proj"
            elif w_hh.shape[1] != hidden:
                raise EieError(f"{kind.upper()} layer {name}: weight_hh is {tuple(w_hh.shape)}, expected "
                               f"{_GATES[kind] * hidden} x {hidden}")
            if kind == "lstm":
                self._add(name, [w_ih, w_hh], None if b_ih is None else b_ih + b_hh)
            else:
                self._gru(name, w_ih, w_hh, b_ih, b_hh, hidden)
            if proj is not None:
                self._add(proj, [w_hr], None)
            directions.append({"gates": name, "proj": proj, "reverse": bool(suffix)})
            this = (int(w_ih.shape[1]), hidden, 0 if w_hr is None else int(w_hr.shape[0]))
            if sizes is not None and this != sizes:
                raise EieError(f"{kind.upper()} layer {name}: its directions differ in size")
            sizes = this
        self.stages.append({"kind": kind, "name": f"{prefix}.l{k}", "input_size": sizes[0],
                            "hidden_size": sizes[1], "proj_size": sizes[2], "directions": directions})

    def _gru(self, name: str, w_ih, w_hh, b_ih, b_hh, hidden: int) -> None:
        """4 H rows over [x | h | 1]: r, z folded; n's input and hidden terms apart."""
        w_ih, w_hh = _numpy(w_ih, name), _numpy(w_hh, name)
        n_in, h = w_ih.shape[1], hidden
        top = np.zeros((4 * h, n_in + h))
        top[: 2 * h, :n_in], top[: 2 * h, n_in:] = w_ih[: 2 * h], w_hh[: 2 * h]
        top[2 * h : 3 * h, :n_in] = w_ih[2 * h :]
        top[3 * h :, n_in:] = w_hh[2 * h :]
        bias = None
        if b_ih is not None:
            b_ih, b_hh = _numpy(b_ih, name), _numpy(b_hh, name)
            bias = np.concatenate([b_ih[: 2 * h] + b_hh[: 2 * h], b_ih[2 * h :], b_hh[2 * h :]])
        self._add(name, [top], bias)

    def _add(self, name: str, weights: list, bias) -> None:
        """[W_1 | W_2 | ... | b] as float64 numpy, checked (the callers' blocks have equal rows)."""
        blocks = [_numpy(w, name) for w in weights]
        if bias is not None:
            if tuple(bias.shape) != (blocks[0].shape[0],):
                raise EieError(f"layer {name}: bias has shape {tuple(bias.shape)}, expected ({blocks[0].shape[0]},)")
            blocks.append(_numpy(bias, name).reshape(-1, 1))
        matrix = np.concatenate(blocks, axis=1)
        if not np.all(np.isfinite(matrix)):
            raise EieError(f"layer {name} has NaN or infinite weights")
        self.layers.append(TorchLayer(name, matrix, bias is not None))

    def skip(self, name: str, kind: str, reason: str) -> None:
        self.skipped.append(f"{name} ({kind}): {reason}")

    def done(self, source: str) -> TorchNetwork:
        if not self.layers:
            listed = "; ".join(self.skipped) or "it has no parameters"
            raise EieError(f"{source} has no nn.Linear, nn.LSTM or nn.GRU layer to import ({listed})")
        return TorchNetwork(tuple(self.layers), tuple(self.stages), tuple(self.skipped))


def _module_reason(module, nn) -> str:
    if isinstance(module, nn.Embedding | nn.EmbeddingBag):
        return "an embedding is a table lookup, not a matrix-vector product"
    if isinstance(module, nn.modules.conv._ConvNd):
        return "convolutions are not fully connected layers (EIE runs FC and LSTM layers)"
    if isinstance(module, nn.MultiheadAttention):
        return "attention's packed in_proj is not imported (its out_proj Linear is)"
    return "not a fully connected or recurrent layer"


def _state_reason(params: dict[str, Any], tensors: Callable[[str], Any]) -> str:
    weight = tensors("weight")
    if any(p.startswith("in_proj_") for p in params):
        return "attention's packed in_proj is not imported (its out_proj Linear is)"
    if weight is not None and weight.ndim == 2:
        return ("a 2-D weight without a bias: a state dict cannot tell nn.Linear(bias=False) from "
                "nn.Embedding; import the model with --torch-module (and --state-dict) instead")
    if weight is not None:
        return f"a {weight.ndim}-D weight is not a fully connected layer"
    return "no weight matrix (" + ", ".join(params) + ")"


def _recurrent_kind(label: str, tensors: Callable[[str], Any]) -> str:
    """LSTM, GRU or RNN from the shapes of layer 0 (gate rows / hidden size)."""
    w_hh = tensors("weight_hh_l0")
    if w_hh is None or w_hh.ndim != 2 or w_hh.shape[1] == 0:
        raise EieError(f"{label}: recurrent weights without a 2-D weight_hh_l0")
    if tensors("weight_hr_l0") is not None:
        return "lstm"
    gates, rest = divmod(w_hh.shape[0], w_hh.shape[1])
    kind = {4: "lstm", 3: "gru", 1: "rnn"}.get(gates) if rest == 0 else None
    if kind is None:
        raise EieError(f"{label}: weight_hh_l0 is {tuple(w_hh.shape)}: not an LSTM, GRU or RNN")
    return kind


def _group_by_module(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Parameters per module prefix, in key order, with pruning's ``_orig * _mask`` applied."""
    groups: dict[str, dict[str, Any]] = {}
    for key in state:
        prefix, _, param = key.rpartition(".")
        groups.setdefault(prefix, {})[param] = state[key]
    for prefix, params in groups.items():
        for param in [p for p in params if p.endswith("_mask")]:
            base = param.removesuffix("_mask")
            full = f"{prefix}.{base}" if prefix else base
            if base + "_orig" not in params:
                raise EieError(f"state dict has {full}_mask but no {full}_orig")
            params[base] = _masked(params.pop(base + "_orig"), params.pop(param), full)
    return groups


def _numpy(tensor, name: str | None = None) -> np.ndarray:
    """A real, dense, floating-point tensor as float64 numpy; complex, boolean, integer,
    sparse, quantized and meta tensors are refused, not cast."""
    what = "weights" if name is None else f"layer {name}: weights"
    if isinstance(tensor, np.ndarray):
        if np.iscomplexobj(tensor):
            raise EieError(f"{what} must be real numbers, got {tensor.dtype}")
        if not np.issubdtype(tensor.dtype, np.floating):
            raise EieError(f"{what} must be floating-point numbers, got {tensor.dtype}")
        return tensor.astype(np.float64)
    if tensor.is_meta:
        raise EieError(f"{what} are on the meta device (no values): load real weights first")
    if tensor.is_quantized:
        raise EieError(f"{what} are a quantized tensor ({tensor.dtype}): import the float model")
    if tensor.layout != require_torch().strided:
        raise EieError(f"{what}: a sparse tensor ({tensor.layout}) is not imported; save the dense weight and a weight_mask")
    if tensor.is_complex():
        raise EieError(f"{what} must be real numbers, got {tensor.dtype}")
    if not tensor.is_floating_point():
        raise EieError(f"{what} must be floating-point numbers, got {tensor.dtype}")
    return tensor.detach().to("cpu").double().numpy()


def _masked(orig, mask, name: str):
    """``orig * mask`` of torch pruning, with the shapes checked (broadcasting would hide a mismatch)."""
    if tuple(orig.shape) != tuple(mask.shape):
        raise EieError(f"{name}_mask has shape {tuple(mask.shape)} but {name}_orig has {tuple(orig.shape)}")
    if mask.is_meta or ((mask != 0) & (mask != 1)).any():
        raise EieError(f"{name}_mask must hold only 0 and 1 (a pruning mask)")
    return orig * mask


def _own_tensors(module) -> bool:
    return any(True for _ in module.parameters(recurse=False)) or any(True for _ in module.buffers(recurse=False))


def _module_tensors(module) -> Callable[[str], Any]:
    """Parameter lookup on a module that applies a ``<name>_mask`` from torch pruning."""

    def get(key: str):
        mask = getattr(module, f"{key}_mask", None)
        if mask is not None:
            return _masked(getattr(module, f"{key}_orig"), mask, key)
        value = getattr(module, key, None)
        return value if value is not None and hasattr(value, "detach") else None

    return get


def _dict_tensors(params: dict[str, Any]) -> Callable[[str], Any]:
    return params.get


def _load_state_dict(path: str) -> dict[str, Any]:
    torch = require_torch()
    if not os.path.isfile(path):
        raise EieError(f"no such state-dict file: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is not a checkpoint
        raise EieError(f"cannot read {path} as a PyTorch state dict: {_first_line(exc)}") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # a checkpoint that wraps the state dict
    if not isinstance(state, dict) or not all(hasattr(v, "detach") for v in state.values()):
        raise EieError(f"{path} does not hold a state dict of tensors")
    return state


def _load_into(module, state: dict[str, Any], path: str) -> None:
    """Load ``state`` (pruned ``_orig``/``_mask`` pairs multiplied out) into ``module``."""
    plain = {}
    for prefix, params in _group_by_module(state).items():
        for param, value in params.items():
            plain[f"{prefix}.{param}" if prefix else param] = value
    try:
        module.load_state_dict(plain, strict=True)
    except Exception as exc:  # torch lists missing/unexpected keys and shape mismatches
        raise EieError(f"cannot load {path} into {type(module).__name__}: {_first_line(exc)}") from exc


def _import_module_attr(spec: str):
    """``module:attr`` imported (the current directory searched first) and, if a factory, called."""
    torch = require_torch()
    if not isinstance(spec, str) or ":" not in spec:
        raise EieError(f"PyTorch module {spec!r} must be 'module:attr'")
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise EieError(f"PyTorch module {spec!r} must be 'module:attr'")
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EieError(f"cannot import module {module_name!r}: {_first_line(exc)}") from exc
    except (Exception, SystemExit) as exc:  # the module's own code failed (or exited) while importing
        raise EieError(f"importing {module_name!r} failed: {_first_line(exc)}") from exc
    finally:
        if added:
            sys.path.remove(cwd)
    target = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise EieError(f"module {module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if isinstance(target, torch.nn.Module):
        return target
    if not callable(target):
        raise EieError(f"{spec} is neither an nn.Module nor a factory returning one")
    try:
        built = target()
    except (Exception, SystemExit) as exc:  # a factory's own failure (even sys.exit), reported as one line
        raise EieError(f"calling {spec}() failed: {_first_line(exc)}") from exc
    if not isinstance(built, torch.nn.Module):
        raise EieError(f"{spec}() returned {type(built).__name__}, not an nn.Module")
    return built


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
