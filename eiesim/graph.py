"""A captured network as data: its description's schema and the host operations it runs.

A model imported from its ``forward()`` (:mod:`workloads.torch_graph`) is stored as a
*graph* in the model file's ``metadata["network"]``::

    {"graph": {"inputs": [{"name", "shape": [int, ...], "dtype": "float" | "int"}],
               "nodes": [NODE, ...], "outputs": [VALUE, ...]},
     "skipped": [], "capture": "torch.export" | "onnx",
     "torch": {"module": str | None, "state_dict": str | None}, "onnx": {"file": str}}

(``torch`` / ``onnx``: where the model came from, for ``eiesim infer --reference torch|onnx``.)

Each node is ``{"name", "op", "module", "args": [VALUE, ...], "kwargs": {str: VALUE}}`` and
runs after the nodes before it; ``module`` is the module attribute path that called it
(``""`` for the model itself). A VALUE is JSON (null, bool, int, float, str, a list of
VALUEs), ``{"inf": 1 | -1}`` (JSON has no infinity), ``{"ref": NODE_OR_INPUT}`` (an earlier result), or ``{"array": NAME}`` (a tensor
stored with the model, such as a layer norm's weight or an embedding table). Three
operations run on the PE array:

- ``eie.linear``: ``"layers": [NAME, ...]``; every layer is applied to each vector along
  the last axis of ``args[0]`` (one chip call per vector) and their outputs are
  concatenated (attention's packed ``in_proj`` runs as its q, k and v layers);
- ``eie.lstm`` / ``eie.gru``: ``args = [input, initial state(s)]``, ``"batch_first"``, and
  ``"stages"``: one recurrent stage per layer (the layout of :mod:`eiesim.inference`),
  returning ``(output, h_n[, c_n])`` as torch does.

Every other ``op`` is a host operation of :data:`HOST_OPS` (ATen names), computed in numpy
in float64: the chip does not model them (no cycles, no energy). :func:`check_network`
checks a description field by field and names the first malformed one; nothing is coerced.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Callable

import numpy as np
from eiecore.errors import EieError

ARRAY_OPS = ("eie.linear", "eie.lstm", "eie.gru")
INPUT_DTYPES = ("float", "int")
HOST_ARRAY_DTYPES = (np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_))
_DTYPES = {"float32": np.float64, "float64": np.float64, "float16": np.float64, "bfloat16": np.float64,
           "int64": np.int64, "int32": np.int64, "bool": np.bool_, None: np.float64}


def _axis(dim: int, ndim: int) -> int:
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise EieError(f"dimension {dim} is out of range for a {ndim}-D tensor")
    return dim % max(ndim, 1)


def _softmax(x, dim, dtype=None):
    e = np.exp(x - np.max(x, axis=dim, keepdims=True))
    return e / np.sum(e, axis=dim, keepdims=True)


def _layer_norm(x, shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    y = y if weight is None else y * weight
    return y if bias is None else y + bias


def _erf(x):
    from scipy.special import erf  # imported when a model uses it: model files load without scipy

    return erf(x)


def _gelu(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warnings for large |x|


def _embedding(weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    idx = np.asarray(indices)
    if not np.issubdtype(idx.dtype, np.integer) or idx.size and (idx.min() < 0 or idx.max() >= len(weight)):
        raise EieError(f"embedding indices must be integers in 0..{len(weight) - 1}")
    return weight[idx]


def _sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    scores = (q @ np.swapaxes(k, -1, -2)) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    if is_causal:
        scores = np.where(np.tril(np.ones(scores.shape[-2:], bool)), scores, -np.inf)
    if attn_mask is not None:
        scores = np.where(attn_mask, scores, -np.inf) if attn_mask.dtype == np.bool_ else scores + attn_mask
    return _softmax(scores, -1) @ v


def _slice(x, dim=0, start=None, end=None, step=1):
    index = [slice(None)] * x.ndim
    index[_axis(dim, x.ndim)] = slice(start, end, step)
    return x[tuple(index)]


def _split(x, size, dim=0):
    axis = _axis(dim, x.ndim)
    return [_slice(x, axis, i, i + size) for i in range(0, x.shape[axis], size)]


def _split_sizes(x, sizes, dim=0):
    return np.split(x, np.cumsum(sizes)[:-1], axis=_axis(dim, x.ndim))


def _chunk(x, chunks, dim=0):
    return _split(x, -(-x.shape[_axis(dim, x.ndim)] // chunks), dim)


def _squeeze(x, dims):
    dims = [_axis(d, x.ndim) for d in ([dims] if isinstance(dims, int) else dims)]
    return np.squeeze(x, axis=tuple(d for d in dims if x.shape[d] == 1))


def _unflatten(x, dim, sizes):
    axis = _axis(dim, x.ndim)
    return x.reshape(x.shape[:axis] + tuple(sizes) + x.shape[axis + 1:])


def _flatten(x, start=0, end=-1):
    if x.ndim == 0:
        return x.reshape(1)
    s, e = _axis(start, x.ndim), _axis(end, x.ndim)
    return x.reshape(x.shape[:s] + (-1,) + x.shape[e + 1:])


def _expand(x, size):
    lead = len(size) - x.ndim
    shape = [n if n != -1 else x.shape[i - lead] for i, n in enumerate(size)]
    return np.broadcast_to(x, shape)


def _fill(value):
    def make(size, *args, dtype=None, layout=None, device=None, pin_memory=None, **kwargs):
        fill = args[0] if value is None else value
        return np.full(tuple(size), fill, _DTYPES.get(dtype, np.float64))
    return make


def _arange(*args, dtype=None, layout=None, device=None, pin_memory=None):
    return np.arange(*args, dtype=_DTYPES.get(dtype, np.int64))


def _identity(x, *args, **kwargs):
    return x


# ATen operation name -> numpy implementation (float64), torch's argument order.
HOST_OPS: dict[str, Callable[..., Any]] = {
    "aten.relu.default": lambda x: np.maximum(x, 0.0),
    "aten.gelu.default": _gelu,
    "aten.silu.default": lambda x: x * sigmoid(x),
    "aten.tanh.default": np.tanh,
    "aten.sigmoid.default": sigmoid,
    "aten.exp.default": np.exp,
    "aten.erf.default": _erf,
    "aten.neg.default": np.negative,
    "aten.sqrt.default": np.sqrt,
    "aten.rsqrt.default": lambda x: 1 / np.sqrt(x),
    "aten.pow.Tensor_Scalar": np.power,
    "aten.add.Tensor": lambda a, b, alpha=1: a + alpha * np.asarray(b),
    "aten.sub.Tensor": lambda a, b, alpha=1: a - alpha * np.asarray(b),
    "aten.mul.Tensor": operator.mul,
    "aten.div.Tensor": lambda a, b, rounding_mode=None: a / np.asarray(b, np.float64),
    "aten.mean.dim": lambda x, dims, keepdim=False, dtype=None: np.mean(
        x, axis=tuple(_axis(d, x.ndim) for d in ([dims] if isinstance(dims, int) else dims)), keepdims=keepdim),
    "aten.softmax.int": _softmax,
    "aten.layer_norm.default": _layer_norm,
    "aten.embedding.default": _embedding,
    "aten.matmul.default": np.matmul,
    "aten.bmm.default": np.matmul,
    "aten.scaled_dot_product_attention.default": _sdpa,
    "aten.masked_fill.Scalar": lambda x, mask, value: np.where(mask, value, x),
    "aten.triu.default": lambda x, diagonal=0: np.triu(x, diagonal),
    "aten.tril.default": lambda x, diagonal=0: np.tril(x, diagonal),
    "aten.view.default": lambda x, shape: np.reshape(x, shape),
    "aten.reshape.default": lambda x, shape: np.reshape(x, shape),
    "aten._unsafe_view.default": lambda x, shape: np.reshape(x, shape),
    "aten.flatten.using_ints": _flatten,
    "aten.unflatten.int": _unflatten,
    "aten.transpose.int": lambda x, d0, d1: np.swapaxes(x, _axis(d0, x.ndim), _axis(d1, x.ndim)),
    "aten.t.default": lambda x: x.T,
    "aten.permute.default": lambda x, dims: np.transpose(x, [_axis(d, x.ndim) for d in dims]),
    "aten.unsqueeze.default": lambda x, dim: np.expand_dims(x, _axis(dim, x.ndim + 1)),
    "aten.squeeze.dim": _squeeze,
    "aten.squeeze.dims": _squeeze,
    "aten.squeeze.default": lambda x: np.squeeze(x),
    "aten.expand.default": _expand,
    "aten.select.int": lambda x, dim, index: np.take(x, index, axis=_axis(dim, x.ndim)),
    "aten.slice.Tensor": _slice,
    "aten.split.Tensor": _split,
    "aten.split_with_sizes.default": _split_sizes,
    "aten.chunk.default": _chunk,
    "aten.cat.default": lambda xs, dim=0: np.concatenate(xs, axis=_axis(dim, xs[0].ndim)),
    "aten.stack.default": lambda xs, dim=0: np.stack(xs, axis=_axis(dim, xs[0].ndim + 1)),
    "aten.zeros.default": _fill(0),
    "aten.ones.default": _fill(1),
    "aten.full.default": _fill(None),
    "aten.arange.default": _arange,
    "aten.arange.start": _arange,
    "aten.contiguous.default": _identity,
    "aten.clone.default": _identity,
    "aten.detach.default": _identity,
    "aten.alias.default": _identity,
    "aten.dropout.default": _identity,  # captured in eval mode only (train=False is checked at import)
    "getitem": operator.getitem,
}


def short_name(op: str) -> str:
    """``aten.softmax.int`` -> ``softmax``: how reports name a host operation."""
    parts = op.split(".")
    return parts[1] if parts[0] == "aten" and len(parts) > 1 else op


def resolve(value: Any, env: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    """A described argument with its references replaced by values."""
    if isinstance(value, dict):
        if "inf" in value:
            return value["inf"] * math.inf
        return env[value["ref"]] if "ref" in value else arrays[value["array"]]
    if isinstance(value, list):
        return [resolve(v, env, arrays) for v in value]
    return value


def run_host_op(node: dict, env: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    """One host operation in numpy; an :class:`EieError` naming it and its module if it fails."""
    args = [resolve(a, env, arrays) for a in node["args"]]
    kwargs = {k: resolve(v, env, arrays) for k, v in node["kwargs"].items()}
    try:
        with np.errstate(over="ignore", under="ignore"):
            out = HOST_OPS[node["op"]](*args, **kwargs)
    except EieError as exc:
        raise EieError(f"host operation {node['op']} of {module_label(node)}: {exc}") from None
    except (ValueError, TypeError, IndexError) as exc:
        raise EieError(f"host operation {node['op']} of {module_label(node)} failed: {exc}") from None
    if isinstance(out, (list, tuple)):
        return [np.asarray(o) for o in out]
    return np.asarray(out)


def module_label(node: dict) -> str:
    return f"module {node['module']}" if node["module"] else "the model itself"


# ----- the schema -------------------------------------------------------------------------


class _Checker:
    """Strict, field-by-field checks of a network description (no coercion)."""

    def __init__(self, layers: dict[str, Any], arrays: dict[str, np.ndarray]):
        self.layers, self.arrays = layers, arrays
        self.used: set[str] = set()

    @staticmethod
    def fail(where: str, problem: str):
        raise EieError(f"network description: {where}: {problem}")

    def typed(self, obj: dict, key: str, kind, where: str, optional: bool = False):
        if key not in obj:
            if optional:
                return None
            self.fail(f"{where}.{key}", "missing")
        value = obj[key]
        if optional and value is None:
            return None
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if type(value) not in kinds:  # exact types: no bool for int, no int for str
            names = " or ".join(k.__name__ for k in kinds)
            self.fail(f"{where}.{key}", f"must be {names}, got {type(value).__name__}")
        return value

    def keys(self, obj: Any, where: str, required: set[str], optional: set[str] = frozenset()) -> dict:
        if type(obj) is not dict:
            self.fail(where, f"must be an object, got {type(obj).__name__}")
        missing = sorted(required - obj.keys())
        if missing:
            self.fail(f"{where}.{missing[0]}", "missing")
        extra = sorted(obj.keys() - required - optional)
        if extra:
            self.fail(f"{where}.{extra[0]}", "unknown field")
        return obj

    def name(self, obj: dict, key: str, where: str) -> str:
        value = self.typed(obj, key, str, where)
        if not value:
            self.fail(f"{where}.{key}", "must not be empty")
        return value

    def layer(self, name: Any, where: str):
        if type(name) is not str or name not in self.layers:
            self.fail(where, f"names layer {name!r}, which the file does not hold")
        self.used.add(name)
        return self.layers[name]

    def value(self, value: Any, where: str, known: set[str]) -> None:
        if value is None or type(value) in (bool, int, str):
            return
        if type(value) is float:
            return
        if type(value) is dict and value.keys() == {"inf"}:
            if type(value["inf"]) is not int or value["inf"] not in (1, -1):
                self.fail(where, "an infinity is {\"inf\": 1} or {\"inf\": -1}")
            return
        if type(value) is list:
            for i, v in enumerate(value):
                self.value(v, f"{where}[{i}]", known)
            return
        if type(value) is dict and value.keys() == {"ref"}:
            if value["ref"] not in known:
                self.fail(where, f"refers to {value['ref']!r}, which is not an earlier node or input")
            return
        if type(value) is dict and value.keys() == {"array"}:
            if value["array"] not in self.arrays:
                self.fail(where, f"refers to array {value['array']!r}, which the file does not hold")
            return
        self.fail(where, f"is not a number, string, list, reference or array ({type(value).__name__})")


def check_network(network: Any, layers: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Check a model's network description against its layers and host arrays (see the
    module docstring; the older chain of ``"stages"`` is checked too). Every layer of the
    file must be used and every host array referenced."""
    c = _Checker(layers, arrays)
    if "graph" in (network if type(network) is dict else {}):
        c.keys(network, "network", {"graph", "skipped"}, {"capture", "torch", "onnx"})
        _check_graph(c, network["graph"])
        if network.get("torch") is not None:
            c.keys(network["torch"], "network.torch", {"module", "state_dict"})
            for key in ("module", "state_dict"):
                c.typed(network["torch"], key, str, "network.torch", optional=True)
        c.typed(network, "capture", str, "network", optional=True)
        if network.get("onnx") is not None:
            c.keys(network["onnx"], "network.onnx", {"file"})
            c.typed(network["onnx"], "file", str, "network.onnx")
    else:
        c.keys(network, "network", {"stages", "skipped"}, {"torch"})
        stages = c.typed(network, "stages", list, "network")
        if not stages:
            c.fail("network.stages", "must not be empty")
        for i, stage in enumerate(stages):
            check_stage(c, stage, f"network.stages[{i}]")
    skipped = c.typed(network, "skipped", list, "network")
    for i, line in enumerate(skipped):
        if type(line) is not str:
            c.fail(f"network.skipped[{i}]", "must be str")
    unused = [name for name in layers if name not in c.used]
    if unused:
        c.fail("network", f"leaves out layer(s) {', '.join(unused)}")
    unreferenced = sorted(set(arrays) - _arrays_used(network))
    if unreferenced:
        c.fail("network", f"does not use stored array {unreferenced[0]}")


def _arrays_used(value: Any) -> set[str]:
    if isinstance(value, dict):
        if value.keys() == {"array"}:
            return {value["array"]}
        return set().union(*(_arrays_used(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_arrays_used(v) for v in value)) if value else set()
    return set()


def _check_graph(c: _Checker, graph: Any) -> None:
    c.keys(graph, "network.graph", {"inputs", "nodes", "outputs"})
    known: set[str] = set()
    inputs = c.typed(graph, "inputs", list, "network.graph")
    if len(inputs) != 1:
        c.fail("network.graph.inputs", f"must hold exactly one input, got {len(inputs)}")
    for i, spec in enumerate(inputs):
        where = f"network.graph.inputs[{i}]"
        c.keys(spec, where, {"name", "shape", "dtype"})
        known.add(c.name(spec, "name", where))
        shape = c.typed(spec, "shape", list, where)
        if not shape or any(type(n) is not int or n < 1 for n in shape):
            c.fail(f"{where}.shape", "must be a non-empty list of positive ints")
        if spec["dtype"] not in INPUT_DTYPES:
            c.fail(f"{where}.dtype", f"must be one of {', '.join(INPUT_DTYPES)}, got {spec['dtype']!r}")
    nodes = c.typed(graph, "nodes", list, "network.graph")
    for i, node in enumerate(nodes):
        where = f"network.graph.nodes[{i}]"
        op = node.get("op") if type(node) is dict else None
        extra = {"eie.linear": {"layers"}, "eie.lstm": {"stages", "batch_first"},
                 "eie.gru": {"stages", "batch_first"}}.get(op, set())
        c.keys(node, where, {"name", "op", "module", "args", "kwargs"} | extra)
        name = c.name(node, "name", where)
        if name in known:
            c.fail(f"{where}.name", f"{name!r} is used twice")
        if type(op) is not str or (op not in HOST_OPS and op not in ARRAY_OPS):
            c.fail(f"{where}.op", f"unknown operation {op!r}")
        c.typed(node, "module", str, where)
        c.value(c.typed(node, "args", list, where), f"{where}.args", known)
        kwargs = c.typed(node, "kwargs", dict, where)
        for key, v in kwargs.items():
            c.value(v, f"{where}.kwargs.{key}", known)
        if op == "eie.linear":
            _check_linear(c, node, where)
        elif op in ("eie.lstm", "eie.gru"):
            c.typed(node, "batch_first", bool, where)
            if len(node["args"]) != 2 or type(node["args"][0]) is not dict:
                c.fail(f"{where}.args", "must be [input, initial state]")
            stages = c.typed(node, "stages", list, where)
            if not stages:
                c.fail(f"{where}.stages", "must not be empty")
            for k, stage in enumerate(stages):
                if type(stage) is dict and stage.get("kind") != op.removeprefix("eie."):
                    c.fail(f"{where}.stages[{k}].kind", f"must be {op.removeprefix('eie.')!r}")
                check_stage(c, stage, f"{where}.stages[{k}]")
        known.add(name)
    outputs = c.typed(graph, "outputs", list, "network.graph")
    if len(outputs) != 1 or type(outputs[0]) is not dict or "ref" not in outputs[0]:
        c.fail("network.graph.outputs", "must hold exactly one reference")
    c.value(outputs, "network.graph.outputs", known)


def _check_linear(c: _Checker, node: dict, where: str) -> None:
    names = c.typed(node, "layers", list, where)
    if not names:
        c.fail(f"{where}.layers", "must not be empty")
    widths = {c.layer(n, f"{where}.layers[{i}]").n_inputs for i, n in enumerate(names)}
    if len(widths) != 1:
        c.fail(f"{where}.layers", "its layers take inputs of different widths")
    if len(node["args"]) != 1 or type(node["args"][0]) is not dict or "ref" not in node["args"][0]:
        c.fail(f"{where}.args", "must be one reference")
    if node["kwargs"]:
        c.fail(f"{where}.kwargs", "must be empty")


def check_stage(c: _Checker, stage: Any, where: str) -> None:
    """A stage of a layer chain: ``{"kind": "linear", "layer"}`` or a recurrent layer."""
    kind = stage.get("kind") if type(stage) is dict else None
    if kind == "linear":
        c.keys(stage, where, {"kind", "layer"})
        c.layer(stage["layer"], f"{where}.layer")
        return
    if kind not in ("lstm", "gru"):
        c.keys(stage, where, {"kind"})
        c.fail(f"{where}.kind", f"must be linear, lstm or gru, got {kind!r}")
    c.keys(stage, where, {"kind", "name", "input_size", "hidden_size", "proj_size", "directions"})
    c.name(stage, "name", where)
    for key, low in (("input_size", 1), ("hidden_size", 1), ("proj_size", 0)):
        if c.typed(stage, key, int, where) < low:
            c.fail(f"{where}.{key}", f"must be at least {low}, got {stage[key]}")
    directions = c.typed(stage, "directions", list, where)
    if len(directions) not in (1, 2):
        c.fail(f"{where}.directions", f"must hold 1 or 2 directions, got {len(directions)}")
    for i, d in enumerate(directions):
        at = f"{where}.directions[{i}]"
        c.keys(d, at, {"gates", "proj", "reverse"})
        c.layer(d["gates"], f"{at}.gates")
        if c.typed(d, "proj", str, at, optional=True) is not None:
            c.layer(d["proj"], f"{at}.proj")
        c.typed(d, "reverse", bool, at)
