"""Import a torch model as its ``forward()`` runs it: the graph ``torch.export`` captures.

:func:`capture` runs ``torch.export.export`` on the model with an example input (a batch
of one) and turns the ATen graph into the network description of :mod:`eiesim.graph`:

- ``aten.linear`` with a parameter as weight (``weight_orig * weight_mask`` of torch
  pruning included) runs on the PE array as the layer named by the weight's module path
  (``encoder.fc1``); a module called twice is one layer run twice. Attention's packed
  ``in_proj_weight`` becomes three layers ``<attn>.in_proj.q``, ``.k`` and ``.v``.
- ``aten.lstm`` / ``aten.gru`` run their gate layers on the array (the layers of
  :mod:`workloads.torch_import`), the gate nonlinearities and state update on the host.
- A ``relu`` that is the only user of every call of a layer is fused into that layer's
  activation (EIE's arithmetic unit applies ReLU at write-back).
- Every other operation is a host operation if :data:`eiesim.graph.HOST_OPS` has it; the
  parameters and buffers it reads are stored with the model. Anything else is an error
  naming the operation and the module that called it: nothing is skipped silently.

Why ``torch.export`` and no ``torch.fx`` fallback: export records the ATen operations
forward() really executed (module calls, reuse, residual adds, functional calls and
Python control flow resolved for the example input), with the module path of every
operation; ``torch.fx.symbolic_trace`` stops at data-dependent Python and records
``torch.nn.functional`` calls and module calls whose meaning eiesim would have to
re-derive. A model export cannot capture fails with export's own reason.
"""

from __future__ import annotations

import logging
import math
import operator
import warnings
from typing import Any

import numpy as np

from eiecore.errors import EieError
from eiesim.graph import HOST_OPS
from workloads.torch_import import TorchNetwork, _Builder, _first_line, _masked, _numpy, require_torch

RELU = "aten.relu.default"
# export's own checks of tensor metadata: they compute nothing and are left out
EXPORT_CHECKS = ("aten._assert_tensor_metadata.default", "aten._assert_scalar.default")
_RECURRENT = {"aten.lstm.input": "lstm", "aten.gru.input": "gru"}


def example_from_shape(text: str, seed: int = 0) -> np.ndarray:
    """``"5x16"`` -> one standard-normal float input of that shape, as a batch of one."""
    parts = text.lower().replace(",", "x").split("x")
    if not parts or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise EieError(f"--input-shape must look like 784 or 5x16 (positive sizes), got {text!r}")
    return np.random.default_rng(seed).standard_normal((1, *(int(p) for p in parts)))


def check_example(example: Any) -> np.ndarray:
    """The example inputs (first axis: inputs) as a real float or integer array."""
    x = np.asarray(example)
    if x.ndim < 2 or x.shape[0] < 1 or 0 in x.shape:
        raise EieError(f"the example input must be inputs x (input shape), at least 2-D and non-empty, "
                       f"got shape {x.shape}")
    if x.dtype == np.bool_ or np.iscomplexobj(x) or not np.issubdtype(x.dtype, np.number):
        raise EieError(f"the example input must be real numbers or integer token ids, got dtype {x.dtype}")
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise EieError("the example input contains NaN or infinity")
    return x


def capture(module, example: np.ndarray, origin: dict | None = None) -> TorchNetwork:
    """The network of ``module.forward`` on ``example[:1]`` (see the module docstring)."""
    torch = require_torch()
    if not isinstance(module, torch.nn.Module):
        raise EieError(f"expected a torch.nn.Module, got {type(module).__name__}")
    x = check_example(example)[:1]
    is_int = np.issubdtype(x.dtype, np.integer)
    tensor = torch.from_numpy(x.astype(np.int64 if is_int else np.float32))
    module.eval()
    # torch logs a failed export's traceback on its own stderr handler before raising it; the
    # error below names the cause in one line.
    torch_log = logging.getLogger("torch")
    level = torch_log.level
    torch_log.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():  # export's note on nn.LSTM/GRU's cached flat weights is not the user's concern
            warnings.filterwarnings("ignore", message="The tensor attribute", category=UserWarning)
            warnings.filterwarnings("ignore", message=".*treespec", category=FutureWarning)
            # an empty decomposition table functionalises (relu_ -> relu, x += y -> add) and keeps
            # the high-level operations (linear, layer_norm, scaled_dot_product_attention, lstm)
            program = torch.export.export(module, (tensor,)).run_decompositions({})
    except Exception as exc:  # export raises many kinds (unsupported Python, data-dependent flow, ...)
        raise EieError(f"torch.export could not capture {type(module).__name__}.forward(): {_first_line(exc)}") from None
    finally:
        torch_log.setLevel(level)
    return _Capture(program).run({"name": "", "shape": list(x.shape), "dtype": "int" if is_int else "float"},
                                 origin, type(module).__name__)


class _Capture:
    def __init__(self, program):
        self.program = program
        self.graph = program.graph_module.graph
        sig = program.graph_signature
        self.targets = {spec.arg.name: spec.target for spec in sig.input_specs if spec.target is not None}
        self.user_inputs = [spec.arg.name for spec in sig.input_specs if spec.kind.name == "USER_INPUT"]
        self.tensors = {**program.state_dict, **program.constants}
        self.builder = _Builder()
        self.layer_weights: dict[str, tuple] = {}  # layer name -> (weight, bias) tensors
        self.host_arrays: dict[str, np.ndarray] = {}
        self.nodes: list[dict] = []
        self.rename: dict[str, str] = {}
        self.folded: dict[str, Any] = {}

    # -- tensors --------------------------------------------------------------------------

    def tensor(self, node, where: str):
        """A weight or bias: a parameter, buffer or constant, or a value computed from them
        alone (folded at capture, e.g. ``weight_orig * weight_mask``)."""
        if node.op == "placeholder" and node.name in self.targets:
            return self.tensors[self.targets[node.name]]
        if node.name in self.folded:
            return self.folded[node.name]
        raise EieError(f"{where}: its weight depends on the input, it is not a parameter: it cannot be placed "
                       "on the PE array")

    def fold(self, node) -> bool:
        """Compute ``node`` now if it reads only parameters, buffers, constants and folded
        values (and is no random operation); True when folded."""
        torch = require_torch()
        inputs = node.all_input_nodes
        if node.op != "call_function" or any(n.name not in self.folded and n.name not in self.targets for n in inputs):
            return False
        if _op_name(node) in ("aten.dropout.default",) or "rand" in _op_name(node):
            return False
        values = {n.name: self.folded.get(n.name, self.tensors.get(self.targets.get(n.name))) for n in inputs}
        for n in inputs:
            target = self.targets.get(n.name, "")
            if target.endswith("_mask") and ((values[n.name] != 0) & (values[n.name] != 1)).any():
                raise EieError(f"{target} must hold only 0 and 1 (a pruning mask)")
        args, kwargs = torch.fx.node.map_arg((node.args, node.kwargs), lambda n: values[n.name])
        with torch.no_grad():
            self.folded[node.name] = node.target(*args, **kwargs)
        return True

    def host_array(self, target: str) -> dict:
        if target not in self.host_arrays:
            value = self.tensors[target] if target in self.tensors else self.folded[target.removeprefix("folded.")]
            if not hasattr(value, "is_meta"):
                raise EieError(f"{target}: a {type(value).__name__} computed from parameters cannot be stored")
            torch = require_torch()
            if value.is_meta or value.is_quantized or value.is_complex() or value.layout != torch.strided:
                raise EieError(f"tensor {target}: a meta, quantized, complex or sparse tensor cannot run on the host")
            if value.dtype == torch.bool:
                array = value.detach().cpu().numpy().astype(np.bool_)
            elif value.is_floating_point():
                array = _numpy(value, target)
            else:
                array = value.detach().cpu().numpy().astype(np.int64)
            self.host_arrays[target] = array
        return {"array": target}

    # -- arguments ------------------------------------------------------------------------

    def value(self, arg, where: str):
        torch = require_torch()
        if hasattr(arg, "op"):  # an fx node
            if arg.op == "placeholder" and arg.name in self.targets:
                return self.host_array(self.targets[arg.name])
            if arg.name in self.folded:
                return self.host_array(f"folded.{arg.name}")
            return {"ref": self.rename.get(arg.name, arg.name)}
        if isinstance(arg, (list, tuple)):
            return [self.value(a, where) for a in arg]
        if isinstance(arg, bool) or arg is None or isinstance(arg, (int, str)):
            return arg
        if isinstance(arg, float):
            if math.isnan(arg):
                raise EieError(f"{where}: a NaN argument cannot be stored")
            return {"inf": 1 if arg > 0 else -1} if math.isinf(arg) else arg
        if isinstance(arg, torch.dtype):
            if arg.is_complex:
                raise EieError(f"{where}: complex tensors are not supported")
            return str(arg).removeprefix("torch.")
        if isinstance(arg, (torch.device, torch.layout, torch.memory_format)):
            return None
        raise EieError(f"{where}: an argument of type {type(arg).__name__} cannot be stored")

    # -- the walk -------------------------------------------------------------------------

    def run(self, input_spec: dict, origin: dict | None, model_name: str) -> TorchNetwork:
        if len(self.user_inputs) != 1:
            raise EieError(f"forward() must take exactly one tensor input, it takes {len(self.user_inputs)}")
        input_spec["name"] = self.user_inputs[0]
        fused = self.fusable()
        outputs = None
        for node in self.graph.nodes:
            module = _module_path(node)
            where = f"operation {_op_name(node)} of {'module ' + module if module else 'the model itself'}"
            if node.op == "placeholder":
                continue
            if node.op == "output":
                outputs = node.args[0]
                continue
            if node.op != "call_function":
                raise EieError(f"{where}: a {node.op} node (control flow or a submodule call export kept) "
                               "cannot be placed")
            op = _op_name(node)
            if op in EXPORT_CHECKS or self.fold(node):
                continue
            if op == "aten.linear.default":
                self.linear(node, module, where)
            elif op in _RECURRENT:
                self.recurrent(node, _RECURRENT[op], module, where)
            elif op == RELU and node.args[0].name in fused:
                self.rename[node.name] = self.rename.get(node.args[0].name, node.args[0].name)
            elif op in HOST_OPS:
                if op == "aten.dropout.default" and len(node.args) > 2 and node.args[2]:
                    raise EieError(f"{where}: dropout in training mode")
                self.nodes.append({"name": node.name, "op": op, "module": module,
                                   "args": [self.value(a, where) for a in node.args],
                                   "kwargs": {k: self.value(v, where) for k, v in node.kwargs.items()}})
            else:
                raise EieError(f"{where}: neither the PE array nor the host can run it")
        if not isinstance(outputs, (list, tuple)) or len(outputs) != 1 or not hasattr(outputs[0], "op"):
            raise EieError("forward() must return exactly one tensor")
        activations = {name: "relu" for name in fused_layers(self.nodes, fused)}
        graph = {"inputs": [input_spec], "nodes": self.nodes, "outputs": [self.value(outputs[0], "output")]}
        network = self.builder.done(f"module {model_name}")
        return TorchNetwork(network.layers, (), (), graph=graph, host_arrays=self.host_arrays,
                            activations=activations, origin=origin)

    def fusable(self) -> set[str]:
        """Linear nodes whose ReLU can be fused: every call of their layer feeds only a ReLU."""
        calls: dict[str, list] = {}
        for node in self.graph.nodes:
            if _op_name(node) == "aten.linear.default" and not _is_in_proj(self, node):
                calls.setdefault(self.layer_name(node), []).append(node)
        fused = set()
        for nodes in calls.values():
            if all(len(n.users) == 1 and _op_name(next(iter(n.users))) == RELU for n in nodes):
                fused |= {n.name for n in nodes}
        return fused

    def layer_name(self, node) -> str:
        """A linear node's layer: its weight's parameter path less ``.weight``, or (a weight
        computed from parameters, such as a pruned one) the path of the calling module."""
        target = self.targets.get(node.args[1].name)
        if target is not None:
            return target.removesuffix("_orig").removesuffix(".weight").removesuffix("_weight") or "linear"
        return _module_path(node) or "linear"

    def linear(self, node, module: str, where: str) -> None:
        x, weight_node, *rest = node.args
        bias_node = rest[0] if rest else node.kwargs.get("bias")
        weight = self.tensor(weight_node, where)
        bias = None if bias_node is None else self.tensor(bias_node, where)
        prefix = self.layer_name(node)
        if _is_in_proj(self, node):
            if weight.ndim != 2 or weight.shape[0] % 3:
                raise EieError(f"{where}: {target} is not three stacked q, k, v matrices")
            parts = ("q", "k", "v")
            weights = weight.chunk(3)
            biases = (None,) * 3 if bias is None else bias.chunk(3)
            names = [f"{prefix}.{p}" for p in parts]
        else:
            weights, biases, names = (weight,), (bias,), [prefix]
        for name, w, b in zip(names, weights, biases):
            self.add_layer(name, w, b, where)
        self.nodes.append({"name": node.name, "op": "eie.linear", "module": module,
                           "args": [self.value(x, where)], "kwargs": {}, "layers": names})

    def add_layer(self, name: str, weight, bias, where: str) -> None:
        torch = require_torch()
        if name in self.layer_weights:  # a module called again
            w0, b0 = self.layer_weights[name]
            if not (torch.equal(w0, weight) and (b0 is None) == (bias is None) and (bias is None or torch.equal(b0, bias))):
                raise EieError(f"{where}: two different weights would both be layer {name}")
            return
        self.layer_weights[name] = (weight, bias)
        self.builder.linear(name, {"weight": weight, "bias": bias}.get)

    def recurrent(self, node, kind: str, module: str, where: str) -> None:
        x, hx, params, has_biases, num_layers, _dropout, train, bidirectional, batch_first = node.args
        if train:
            raise EieError(f"{where}: a recurrent layer in training mode")
        targets = [self.targets.get(p.name) for p in params]
        if None in targets:
            raise EieError(f"{where}: its weights are computed in forward(), not parameters")
        prefix = targets[0].rpartition(".")[0]
        state = {t.rpartition(".")[2]: self.tensors[t] for t in targets}
        before = len(self.builder.stages)
        for k in range(num_layers):
            self.builder.recurrent(kind, prefix or kind, k, bool(bidirectional), state.get)
        stages = self.builder.stages[before:]
        del self.builder.stages[before:]
        self.nodes.append({"name": node.name, "op": f"eie.{kind}", "module": module,
                           "args": [self.value(x, where), self.value(hx, where)], "kwargs": {},
                           "stages": stages, "batch_first": bool(batch_first)})


def fused_layers(nodes: list[dict], fused: set[str]) -> set[str]:
    return {layer for n in nodes if n["op"] == "eie.linear" and n["name"] in fused for layer in n["layers"]}


def _is_in_proj(capture: _Capture, node) -> bool:
    weight = node.args[1]
    return capture.targets.get(getattr(weight, "name", None), "").endswith("in_proj_weight")


def _op_name(node) -> str:
    if node.target is operator.getitem:
        return "getitem"
    return str(node.target) if node.op == "call_function" else node.op


def _module_path(node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    return list(stack.values())[-1][0] if stack else ""


def torch_reference(model, inputs: np.ndarray) -> tuple[np.ndarray, str]:
    """The outputs of the torch model a compressed model was captured from, one input at a
    time (a batch of one, as captured), and a name for it. Imports (runs) its module."""
    torch = require_torch()
    from workloads.torch_import import import_module_with_state

    origin = (model.metadata.get("network") or {}).get("torch")
    if not origin or not origin.get("module"):
        raise EieError("--reference torch needs a model captured from a torch module (eiesim compress "
                       "--torch-module ... --example-input/--input-shape); for one read from ONNX give --reference onnx, "
                       "else --reference R.npy")
    module = import_module_with_state(origin["module"], origin.get("state_dict"))
    module.eval()
    is_int = np.issubdtype(np.asarray(inputs).dtype, np.integer)
    outs = []
    with torch.no_grad():
        for x in np.asarray(inputs):
            y = module(torch.from_numpy(np.asarray(x)[None].astype(np.int64 if is_int else np.float32)))
            if not isinstance(y, torch.Tensor):
                raise EieError(f"{origin['module']} returned {type(y).__name__}, not one tensor")
            y = y.detach().double().numpy()
            outs.append(y[0] if y.ndim and y.shape[0] == 1 else y)
    name = "your torch model (" + " with ".join(v for v in (origin["module"], origin.get("state_dict")) if v) + ")"
    return np.stack(outs), name
