"""Import the fully connected layers of a PyTorch model as EIE weight matrices.

A layer comes back as ``(name, W, has_bias)``: W has outputs as rows and inputs as columns,
zeros where weights are pruned (a ``weight_mask`` buffer of ``torch.nn.utils.prune`` is
honoured: the weight is ``weight_orig * weight_mask``), and the bias as an extra last
column when present, the way EIE feeds a bias (an input fixed at 1.0).

- ``nn.Linear``: ``[W | b]``, M = out_features, K = in_features (+ 1).
- ``nn.LSTM``: per layer (and direction) the four gates stacked as torch stores them
  (i, f, g, o), ``[W_ih | W_hh | b_ih + b_hh]``: 4 H rows, input + hidden (+ 1) columns,
  as NeuralTalk's LSTM layer in EIE Table III.

Sources: ``module:attr`` (an importable ``nn.Module`` instance, or a zero-argument factory
such as the class itself) or the path of a saved state dict (``torch.save(model.state_dict())``).
In a state dict every 2-D ``<name>.weight`` counts as a linear layer and every
``<name>.weight_ih_l<k>`` group as an LSTM layer. torch is imported only when used.
"""

from __future__ import annotations

import importlib
import os
import re
from typing import Any, Callable

import numpy as np

from eiesim.errors import EieError

TorchLayer = tuple[str, np.ndarray, bool]

_LSTM_KEY = re.compile(r"^(?P<prefix>(.*\.)?)weight_ih_l(?P<layer>\d+)(?P<suffix>(_reverse)?)(_orig)?$")


def require_torch():
    """The ``torch`` module; an :class:`EieError` naming the extra to install when it is missing."""
    try:
        import torch
    except ModuleNotFoundError as exc:  # pragma: no cover - torch is an optional extra
        raise EieError("PyTorch is not installed; install eiesim[torch]") from exc
    return torch


def load_torch_layers(spec: str) -> list[TorchLayer]:
    """The Linear/LSTM layers of ``module:attr`` or of a saved state dict (``.pt``)."""
    if not isinstance(spec, str) or not spec.strip():
        raise EieError("a PyTorch source must be 'module:attr' or a state-dict file path")
    if os.path.isfile(spec) or spec.endswith((".pt", ".pth")):
        return layers_from_state_dict(_load_state_dict(spec), source=spec)
    if ":" not in spec:
        raise EieError(f"PyTorch source {spec!r} is neither a file nor 'module:attr'")
    return layers_from_module(_import_module_attr(spec))


def layers_from_module(module) -> list[TorchLayer]:
    """The Linear and LSTM layers of an ``nn.Module``, in registration order."""
    torch = require_torch()
    if not isinstance(module, torch.nn.Module):
        raise EieError(f"expected a torch.nn.Module, got {type(module).__name__}")
    layers: list[TorchLayer] = []
    for name, sub in module.named_modules():
        params = _module_tensors(sub)
        if isinstance(sub, torch.nn.Linear):
            layers.append(_linear(name or "linear", params))
        elif isinstance(sub, torch.nn.LSTM):
            if sub.proj_size:
                raise EieError(f"LSTM {name or 'lstm'}: proj_size > 0 is not supported")
            directions = ("", "_reverse") if sub.bidirectional else ("",)
            for k in range(sub.num_layers):
                for suffix in directions:
                    layers.append(_lstm(f"{name or 'lstm'}.l{k}{suffix}", params, f"l{k}{suffix}"))
    if not layers:
        raise EieError(f"module {type(module).__name__} has no nn.Linear or nn.LSTM layer")
    return layers


def layers_from_state_dict(state: dict[str, Any], source: str = "state dict") -> list[TorchLayer]:
    """The linear (2-D ``.weight``) and LSTM layers of a state dict, in key order."""
    layers: list[TorchLayer] = []
    for key in state:
        if key.endswith("_mask") and key.removesuffix("_mask") + "_orig" not in state:
            raise EieError(f"state dict has {key} but no {key.removesuffix('_mask')}_orig")
        base = key.removesuffix("_orig")
        lstm = _LSTM_KEY.match(key)
        if lstm:
            prefix, tag = lstm["prefix"], f"l{lstm['layer']}{lstm['suffix']}"
            layers.append(_lstm(f"{prefix.rstrip('.') or 'lstm'}.{tag}", _dict_tensors(state, prefix), tag))
        elif (base == "weight" or base.endswith(".weight")) and (key == base or base not in state):
            prefix = base.removesuffix("weight")
            tensors = _dict_tensors(state, prefix)
            if tensors("weight").ndim == 2:
                layers.append(_linear(prefix.rstrip(".") or "linear", tensors))
    if not layers:
        raise EieError(f"{source} holds no linear (2-D weight) or LSTM layer")
    return layers


def _linear(name: str, tensors: Callable[[str], Any]) -> TorchLayer:
    weight = tensors("weight")
    bias = tensors("bias")
    if weight is None or weight.ndim != 2:
        raise EieError(f"layer {name}: weight must be a 2-D matrix")
    return _assemble(name, [weight], [bias] if bias is not None else [])


def _lstm(name: str, tensors: Callable[[str], Any], tag: str) -> TorchLayer:
    w_ih, w_hh = tensors(f"weight_ih_{tag}"), tensors(f"weight_hh_{tag}")
    if w_ih is None or w_hh is None:
        raise EieError(f"LSTM layer {name}: weight_ih_{tag} and weight_hh_{tag} are both needed")
    biases = [b for b in (tensors(f"bias_ih_{tag}"), tensors(f"bias_hh_{tag}")) if b is not None]
    return _assemble(name, [w_ih, w_hh], [sum(biases[1:], biases[0])] if biases else [])


def _assemble(name: str, weights: list, bias: list) -> TorchLayer:
    """[W_1 | W_2 | ... | b] as float64 numpy, checked."""
    blocks = [_numpy(w) for w in weights] + [_numpy(b).reshape(-1, 1) for b in bias]
    rows = {b.shape[0] for b in blocks}
    if len(rows) != 1:
        raise EieError(f"layer {name}: weight and bias row counts differ ({sorted(rows)})")
    matrix = np.concatenate(blocks, axis=1)
    if not np.all(np.isfinite(matrix)):
        raise EieError(f"layer {name} has NaN or infinite weights")
    return name, matrix, bool(bias)


def _numpy(tensor) -> np.ndarray:
    return tensor.detach().to("cpu").double().numpy()


def _module_tensors(module) -> Callable[[str], Any]:
    """Parameter lookup on a module that applies a ``<name>_mask`` from torch pruning."""

    def get(key: str):
        mask = getattr(module, f"{key}_mask", None)
        if mask is not None:
            return getattr(module, f"{key}_orig") * mask
        value = getattr(module, key, None)
        return value if value is not None and hasattr(value, "detach") else None

    return get


def _dict_tensors(state: dict[str, Any], prefix: str) -> Callable[[str], Any]:
    """Lookup of ``prefix + key`` in a state dict, applying a saved ``_mask``."""

    def get(key: str):
        full = prefix + key
        if full + "_mask" in state:
            return state[full + "_orig"] * state[full + "_mask"]
        return state.get(full)

    return get


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


def _import_module_attr(spec: str):
    torch = require_torch()
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise EieError(f"PyTorch source {spec!r} must be 'module:attr'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EieError(f"cannot import module {module_name!r}: {_first_line(exc)}") from exc
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
    except Exception as exc:  # a factory's own failure, reported as one line
        raise EieError(f"calling {spec}() failed: {_first_line(exc)}") from exc
    if not isinstance(built, torch.nn.Module):
        raise EieError(f"{spec}() returned {type(built).__name__}, not an nn.Module")
    return built


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
