"""Import an ONNX model as the same network description a captured torch model gets.

:func:`load_onnx` reads a ``.onnx`` file (the ``onnx`` package; shapes from its shape
inference) and translates its graph into :mod:`eiesim.graph`'s description:

- ``Gemm`` (alpha = beta = 1, no transposed A) and ``MatMul`` with a constant weight run
  on the PE array; a ``MatMul`` whose only consumer adds a constant vector of its width
  takes that vector as its bias. A layer is named after its weight initializer less
  ``.weight`` (torch's parameter path, so a torch model exported to ONNX keeps its layer
  names), else after the node's scope (``/encoder/fc1/MatMul`` -> ``encoder.fc1``). A
  weight used by two nodes is one layer run twice.
- A ``Relu`` that is the only consumer of every call of a layer is fused into it.
- The other operations of :data:`ONNX_HOST` run on the host, as the ATen operations of
  :data:`eiesim.graph.HOST_OPS` with the same meaning; their constant inputs are stored
  with the model. Any other operation is an error naming it and its node.

The model must have one input (a leading batch axis of any size, the others fixed) and one
output. Recurrent ONNX operations (``LSTM``, ``GRU``) are not imported.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from eiecore.errors import EieError
from workloads.torch_graph import RELU, fused_layers
from workloads.torch_import import TorchNetwork, _Builder, _first_line

# ONNX operation -> (ATen host operation, how its ONNX attributes and inputs become arguments)
_UNARY = {"Relu": "aten.relu.default", "Tanh": "aten.tanh.default", "Sigmoid": "aten.sigmoid.default",
          "Exp": "aten.exp.default", "Neg": "aten.neg.default", "Sqrt": "aten.sqrt.default",
          "Erf": "aten.erf.default", "Identity": "aten.clone.default", "Dropout": "aten.clone.default"}
_BINARY = {"Add": "aten.add.Tensor", "Sub": "aten.sub.Tensor", "Mul": "aten.mul.Tensor", "Div": "aten.div.Tensor",
           "MatMul": "aten.matmul.default", "Pow": "aten.pow.Tensor_Scalar"}
ONNX_HOST = (*_UNARY, *_BINARY, "Softmax", "LayerNormalization", "Gather", "Transpose", "Reshape", "Flatten",
             "Concat", "Unsqueeze", "Squeeze", "Gelu", "Split")


def require_onnx():
    try:
        import onnx
    except ModuleNotFoundError as exc:  # pragma: no cover - onnx is an optional extra
        raise EieError("the onnx package is not installed; install eiesim[onnx]") from exc
    return onnx


def load_onnx(path: str) -> TorchNetwork:
    """The network of an ONNX file (see the module docstring)."""
    onnx = require_onnx()
    if not os.path.isfile(path):
        raise EieError(f"no such ONNX file: {path}")
    try:
        model = onnx.load(path)
        onnx.checker.check_model(model)
        model = onnx.shape_inference.infer_shapes(model)
    except Exception as exc:  # onnx raises DecodeError, ValidationError, ...
        raise EieError(f"cannot read {path} as an ONNX model: {_first_line(exc)}") from None
    return _Translate(model, onnx).run()


class _Translate:
    def __init__(self, model, onnx):
        from onnx import numpy_helper

        self.onnx, self.graph = onnx, model.graph
        self.consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in self.graph.initializer}
        for node in self.graph.node:  # constants, and copies of constants (torch's exporter shares equal ones)
            if node.op_type == "Constant":
                self.consts[node.output[0]] = numpy_helper.to_array(onnx.helper.get_attribute_value(node.attribute[0]))
            elif node.op_type == "Identity" and node.input[0] in self.consts:
                self.consts[node.output[0]] = self.consts[node.input[0]]
        self.shapes = {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
                       for v in (*self.graph.value_info, *self.graph.input, *self.graph.output)}
        self.users: dict[str, list] = {}
        for node in self.graph.node:
            for name in node.input:
                self.users.setdefault(name, []).append(node)
        self.builder = _Builder()
        self.layer_weights: dict[str, np.ndarray] = {}
        self.host_arrays: dict[str, np.ndarray] = {}
        self.nodes: list[dict] = []
        self.rename: dict[str, str] = {}
        self.skip: set[str] = set()

    # -- names and values -----------------------------------------------------------------

    def ref(self, name: str) -> dict:
        if name in self.consts:
            value = self.consts[name]
            if np.iscomplexobj(value) or value.dtype.kind not in "fiub":
                raise EieError(f"constant {name}: a {value.dtype} tensor cannot run on the host")
            kind = np.float64 if value.dtype.kind == "f" else np.bool_ if value.dtype.kind == "b" else np.int64
            self.host_arrays[name] = value.astype(kind)
            return {"array": name}
        return {"ref": _node_name(self.rename.get(name, name))}

    def const_list(self, node, i: int) -> list[int]:
        if len(node.input) <= i or node.input[i] not in self.consts:
            raise EieError(f"{_where(node)}: input {i} must be a constant")
        return [int(v) for v in self.consts[node.input[i]].ravel()]

    def attr(self, node, name: str, default=None):
        for a in node.attribute:
            if a.name == name:
                return self.onnx.helper.get_attribute_value(a)
        return default

    def layer_name(self, node, weight: str) -> str:
        if weight.endswith(".weight"):
            return weight.removesuffix(".weight")
        return ".".join(node.name.strip("/").split("/")[:-1]) or node.name or "linear"

    # -- the walk -------------------------------------------------------------------------

    def run(self) -> TorchNetwork:
        inputs = [v for v in self.graph.input if v.name not in self.consts]
        if len(inputs) != 1 or len(self.graph.output) != 1:
            raise EieError(f"an ONNX model must have one input and one output, it has {len(inputs)} and "
                           f"{len(self.graph.output)}")
        spec = self.input_spec(inputs[0])
        linear = {n.name: self.linear_of(n) for n in self.graph.node if self.linear_of(n) is not None}
        fused = self.fusable(linear)
        for node in self.graph.node:
            if node.output[0] in self.consts or node.name in self.skip:
                continue
            if node.name in linear:
                self.add_linear(node, *linear[node.name])
            elif node.op_type == "Relu" and self.rename.get(node.input[0], node.input[0]) in fused:
                self.rename[node.output[0]] = self.rename.get(node.input[0], node.input[0])
            elif node.op_type in ONNX_HOST:
                self.host(node)
            else:
                raise EieError(f"{_where(node)}: neither the PE array nor the host can run it")
        fused_names = {_node_name(out) for out in fused}
        activations = {name: "relu" for name in fused_layers(self.nodes, fused_names)}
        graph = {"inputs": [spec], "nodes": self.nodes, "outputs": [self.ref(self.graph.output[0].name)]}
        network = self.builder.done("the ONNX model")
        return TorchNetwork(network.layers, (), (), graph=graph, host_arrays=self.host_arrays,
                            activations=activations)

    def input_spec(self, value) -> dict:
        t = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        if not dims or any(d is None or d < 1 for d in dims[1:]):
            raise EieError(f"ONNX input {value.name} must have a batch axis and fixed sizes after it, got {dims}")
        elem = self.onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)
        if elem.kind not in "fi":
            raise EieError(f"ONNX input {value.name} must be float or integer, got {elem}")
        return {"name": _node_name(value.name), "shape": [1, *dims[1:]], "dtype": "float" if elem.kind == "f" else "int"}

    def linear_of(self, node) -> tuple | None:
        """(weight M x K, bias or None, input, output) of a Gemm / MatMul with a constant weight."""
        if node.op_type == "Gemm" and node.input[1] in self.consts:
            if self.attr(node, "alpha", 1.0) != 1.0 or self.attr(node, "beta", 1.0) != 1.0 or self.attr(node, "transA", 0):
                raise EieError(f"{_where(node)}: only Gemm with alpha = beta = 1 and no transposed A is supported")
            w = self.consts[node.input[1]]
            w = w if self.attr(node, "transB", 0) else w.T
            bias = self.consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            if len(node.input) > 2 and node.input[2] and bias is None:
                raise EieError(f"{_where(node)}: its bias is not a constant")
            return w, bias, node.input[0], node.output[0]
        if node.op_type == "MatMul" and node.input[1] in self.consts and self.consts[node.input[1]].ndim == 2:
            w = self.consts[node.input[1]].T
            users = self.users.get(node.output[0], [])
            if len(users) == 1 and users[0].op_type == "Add" and node.output[0] in users[0].input:
                add = users[0]
                other = add.input[1] if add.input[0] == node.output[0] else add.input[0]
                if other in self.consts and self.consts[other].shape == (w.shape[0],):
                    self.skip.add(add.name)
                    return w, self.consts[other], node.input[0], add.output[0]
            return w, None, node.input[0], node.output[0]
        return None

    def fusable(self, linear: dict) -> set[str]:
        calls: dict[str, list] = {}
        for name, (_, _, _, out) in linear.items():
            node = next(n for n in self.graph.node if n.name == name)
            calls.setdefault(self.layer_name(node, node.input[1]), []).append(out)
        fused = set()
        for outs in calls.values():
            if all(len(self.users.get(o, [])) == 1 and self.users[o][0].op_type == "Relu"
                   and o not in {v.name for v in self.graph.output} for o in outs):
                fused |= set(outs)
        return fused

    def add_linear(self, node, w, bias, x: str, out: str) -> None:
        name = self.layer_name(node, node.input[1])
        if name in self.layer_weights:
            if not np.array_equal(self.layer_weights[name], np.hstack([w, np.zeros((len(w), 1)) if bias is None
                                                                        else np.reshape(bias, (-1, 1))])):
                raise EieError(f"{_where(node)}: two different weights would both be layer {name}")
        else:
            self.layer_weights[name] = np.hstack([w, np.zeros((len(w), 1)) if bias is None else np.reshape(bias, (-1, 1))])
            self.builder.linear(name, {"weight": w, "bias": bias}.get)
        self.nodes.append({"name": _node_name(out), "op": "eie.linear", "module": _scope(node),
                           "args": [self.ref(x)], "kwargs": {}, "layers": [name]})

    def host(self, node) -> None:
        if node.op_type == "Split":
            return self.split(node)
        op, args, kwargs = self.translate(node)
        if len(node.output) != 1:
            raise EieError(f"{_where(node)}: only operations with one output are supported")
        self.nodes.append({"name": _node_name(node.output[0]), "op": op, "module": _scope(node), "args": args,
                           "kwargs": kwargs})

    def split(self, node) -> None:
        """One host split, then one ``getitem`` per output."""
        axis = self.attr(node, "axis", 0)
        if len(node.input) > 1 and node.input[1]:
            sizes = self.const_list(node, 1)
        elif self.attr(node, "split") is not None:
            sizes = list(self.attr(node, "split"))
        else:
            sizes = [(self.shapes.get(out) or [None] * (axis + 1))[axis] for out in node.output]
            if None in sizes:
                raise EieError(f"{_where(node)}: its output sizes are not known after shape inference")
        whole = _node_name(f"{node.name}:split")
        self.nodes.append({"name": whole, "op": "aten.split_with_sizes.default", "module": _scope(node),
                           "args": [self.ref(node.input[0]), sizes, axis], "kwargs": {}})
        for i, out in enumerate(node.output):
            self.nodes.append({"name": _node_name(out), "op": "getitem", "module": _scope(node),
                               "args": [{"ref": whole}, i], "kwargs": {}})

    def translate(self, node) -> tuple[str, list, dict]:
        t, ins = node.op_type, list(node.input)

        def r(i: int):
            return self.ref(ins[i]) if len(ins) > i and ins[i] else None

        if t in _UNARY:
            return _UNARY[t], [r(0)], {}
        if t in _BINARY:
            return _BINARY[t], [r(0), r(1)], {}
        if t == "Softmax":
            return "aten.softmax.int", [r(0), self.attr(node, "axis", -1)], {}
        if t == "Gelu":
            return "aten.gelu.default", [r(0)], {"approximate": self.attr(node, "approximate", b"none").decode()}
        if t == "LayerNormalization":
            rank, axis = len(self.shapes.get(ins[0]) or []), self.attr(node, "axis", -1)
            if len(ins) < 2 or ins[1] not in self.consts or axis not in (-self.consts[ins[1]].ndim,
                                                                         rank - self.consts[ins[1]].ndim):
                raise EieError(f"{_where(node)}: only a layer norm over the last axis with a constant scale is supported")
            return ("aten.layer_norm.default",
                    [r(0), list(self.consts[ins[1]].shape), r(1), r(2), float(self.attr(node, "epsilon", 1e-5))], {})
        if t == "Gather":
            axis = self.attr(node, "axis", 0)
            if ins[0] in self.consts and axis == 0:
                return "aten.embedding.default", [r(0), r(1)], {}
            if ins[1] in self.consts and self.consts[ins[1]].ndim == 0:
                return "aten.select.int", [r(0), axis, int(self.consts[ins[1]])], {}
            raise EieError(f"{_where(node)}: only a lookup in a constant table (axis 0) or at a constant index "
                           "is supported")
        if t == "Transpose":
            perm = self.attr(node, "perm")
            if perm is None:
                raise EieError(f"{_where(node)}: a Transpose needs its perm attribute")
            return "aten.permute.default", [r(0), list(perm)], {}
        if t in ("Reshape", "Flatten", "Unsqueeze", "Squeeze"):
            return "aten.reshape.default", [r(0), self.out_shape(node)], {}
        if t == "Concat":
            return "aten.cat.default", [[self.ref(name) for name in ins], self.attr(node, "axis")], {}
        raise AssertionError(t)  # pragma: no cover - ONNX_HOST lists exactly the cases above

    def out_shape(self, node) -> list[int]:
        """A reshape's target with the batch axis kept free (-1): from ONNX shape inference."""
        shape = self.shapes.get(node.output[0])
        if not shape or any(d is None for d in shape[1:]):
            raise EieError(f"{_where(node)}: its output shape is not known after shape inference")
        return [-1, *shape[1:]]


def onnx_reference(model, inputs: np.ndarray) -> tuple[np.ndarray, str]:
    """The outputs of the ONNX file a compressed model was read from, run by ONNX Runtime one
    input at a time (a batch of one), and a name for it."""
    origin = (model.metadata.get("network") or {}).get("onnx")
    if not origin:
        raise EieError("--reference onnx needs a model read from an ONNX file (eiesim compress --onnx)")
    try:
        import onnxruntime
    except ModuleNotFoundError:  # pragma: no cover - an optional extra
        raise EieError("--reference onnx needs onnxruntime; install eiesim[onnx]") from None
    if not os.path.isfile(origin["file"]):
        raise EieError(f"no such ONNX file: {origin['file']} (the model was read from it)")
    try:
        session = onnxruntime.InferenceSession(origin["file"], providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own errors
        raise EieError(f"ONNX Runtime cannot load {origin['file']}: {_first_line(exc)}") from None
    feed = session.get_inputs()[0]
    dtype = np.int64 if "int" in feed.type else np.float32
    outs = []
    for x in np.asarray(inputs):
        y = np.asarray(session.run(None, {feed.name: np.asarray(x)[None].astype(dtype)})[0], np.float64)
        outs.append(y[0] if y.ndim and y.shape[0] == 1 else y)
    return np.stack(outs), f"your ONNX model ({origin['file']}, ONNX Runtime)"


def _node_name(name: str) -> str:
    return f"v:{name}"


def _scope(node) -> str:
    return ".".join(node.name.strip("/").split("/")[:-1])


def _where(node) -> str:
    return f"ONNX operation {node.op_type} of node {node.name or '(unnamed)'}"
