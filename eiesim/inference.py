"""Whole-network inference on the simulated chip: every layer, every input, every time step.

A model captured from its ``forward()`` (or read from ONNX) runs as its graph
(``metadata["network"]["graph"]``, :mod:`eiesim.graph`): its array operations on the chip,
every other operation on the host in numpy (not modelled: no cycles, no energy; counted per
input), each input as a batch of one, as it was captured. Other models' layers run as a chain
of *stages* (``metadata["network"]["stages"]`` written by ``eiesim compress`` for a torch
model without an example input; otherwise every layer is one linear stage, in file order). Each layer call is one :func:`eiesim.simulate` run on the PE array, whose
written-back output is the next call's input:

- a **linear** stage maps each input vector (or each time step of a sequence) through one
  layer;
- an **LSTM** stage runs its gate layer ``[W_ih | W_hh | b]`` once per time step on
  ``[x_t, h_{t-1}]``; the gate nonlinearities, the cell update ``c = f c + i g`` and
  ``h = o tanh(c)`` are computed *outside* the PE array (as in EIE, whose PEs only do the
  matrix-vector products), in float64, then ``h`` goes through the projection layer if the
  LSTM has one and is fed back at the next step; a **GRU** stage likewise, with
  ``n = tanh(g_in + r * g_hn)`` and ``h = (1 - z) n + z h``. A reverse direction walks the
  sequence backwards; directions' outputs are concatenated.

Between layers the destination register file (or, for layers of more than N R rows, the
activation SRAM) becomes the next layer's source: that swap costs no cycles and no energy
in this model (the write-back cycles of multi-block layers are inside each layer's cycle
count, SPEC §5); cycles and energy of a network are the sums over its layer calls. The work
outside the PE array (nonlinearities, cell update, moving ``x_t`` and ``h_t`` into the
source register file) is not counted: it is reported as not modelled.

Number formats (dynamic fixed point): with ``"auto"`` each layer gets its own fraction bits
from calibration data, see :func:`choose_formats`; the arithmetic given the fraction bits is
SPEC §6 unchanged. A layer's output is converted to the next layer's format on write-back
(round to nearest, saturating), like any input.

The float reference runs the same stages with the same quantized (codebook) weights in
float64: the difference between the two is what the chip's fixed point costs. Compare with
the original model's outputs (e.g. torch's) through ``reference``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import scipy.sparse as sp

from compressor.csc import EncodedLayer
from eiecore.errors import EieError, EieWarning
from eiecore.validate import as_array
from eiesim.config import ArchConfig
from eiesim.graph import resolve, run_host_op, sigmoid
from eiesim.modelfile import CompressedModel
from eiesim.numerics import frac_bits_for
from eiesim.simulation import simulate

AUTO = "auto"


@dataclass(frozen=True)
class Stage:
    """One step of the network: a linear layer, or one recurrent layer (all its directions)."""
    kind: str  # "linear" | "lstm" | "gru"
    name: str
    layers: tuple[tuple[str, str | None, bool], ...]  # (layer, projection layer or None, reverse)
    hidden_size: int = 0
    n_inputs: int = 0
    n_outputs: int = 0


class Network:
    """The stages of a compressed model, checked against its layers' shapes; or, for a model
    captured from its ``forward()``, its graph (:mod:`eiesim.graph`)."""
    def __init__(self, model: CompressedModel):
        self.model = model
        self.layers = {layer.name: layer for layer in model.layers}
        described = model.metadata.get("network") or {}
        self.graph = described.get("graph")
        self.node_stages: dict[str, list[Stage]] = {}
        if self.graph is not None:
            self.stages = []
            for node in self.graph["nodes"]:
                if node["op"] in ("eie.lstm", "eie.gru"):
                    stages = self.node_stages[node["name"]] = [self._stage(s) for s in node["stages"]]
                    self._check_chain(stages)
            return
        raw = described.get("stages") or [{"kind": "linear", "layer": name} for name in model.names]
        self.stages = [self._stage(s) for s in raw]  # (the description uses every layer: checked)
        self._check_chain(self.stages)

    @staticmethod
    def _check_chain(stages: list[Stage]) -> None:
        for before, after in zip(stages, stages[1:]):
            if before.n_outputs != after.n_inputs:
                raise EieError(f"{before.name} has {before.n_outputs} outputs but {after.name} takes "
                               f"{after.n_inputs} inputs: the layers do not form a chain")

    @property
    def recurrent(self) -> bool:
        return self.graph is None and self.stages[0].kind != "linear"

    @property
    def n_inputs(self) -> int:
        return self.stages[0].n_inputs

    def call_order(self) -> list[str]:
        """Layer names in the order they first run (for tables and figures)."""
        if self.graph is None:
            runs = [s.layers for s in self.stages]
        else:  # a recurrent node's stages, or a linear node's layers (no projection)
            runs = [[entry for s in self.node_stages[node["name"]] for entry in s.layers]
                    if node["name"] in self.node_stages else [(n, None) for n in node.get("layers", [])]
                    for node in self.graph["nodes"]]
        names = [name for run in runs for layer, proj, *_ in run for name in (layer, proj) if name]
        return list(dict.fromkeys(names))

    def host_ops_after(self) -> list[tuple[str, list[dict]]]:
        """For a graph: each array operation (its layer names joined) and the host
        operations that follow it until the next one (``""`` first: those before any)."""
        groups: list[tuple[str, list[dict]]] = [("", [])]
        for node in (self.graph or {}).get("nodes", []):
            if node["op"] == "eie.linear":
                groups.append((" + ".join(node["layers"]), []))
            elif node["op"] in ("eie.lstm", "eie.gru"):
                groups.append((" + ".join(d["gates"] for s in node["stages"] for d in s["directions"]), []))
            else:
                groups[-1][1].append(node)
        return groups

    def run(self, x: np.ndarray, call: "LayerCall", counts: dict[str, int] | None = None) -> np.ndarray:
        """One input through the network; ``counts`` collects host operations by name."""
        if self.graph is not None:
            return _run_graph(self, x, call, counts)
        seq = np.atleast_2d(np.asarray(x, np.float64))  # (T, features); T = 1 for a vector
        for stage in self.stages:
            seq = _run_stage(self, stage, seq, call)
        return seq if self.recurrent else seq[0]

    def _stage(self, spec: Any) -> Stage:
        """A stage of the description, which :func:`eiesim.graph.check_network` checked field
        by field (every layer it names is in the file) when the model was made."""
        if spec["kind"] == "linear":
            layer = self.layers[spec["layer"]]
            return Stage("linear", layer.name, ((layer.name, None, False),), n_inputs=layer.n_inputs,
                         n_outputs=layer.shape[0])
        kind, name, hidden = spec["kind"], spec["name"], spec["hidden_size"]
        gates = 4  # LSTM: i, f, g, o; GRU: r, z, n's input term, n's hidden term
        dirs, widths = [], set()
        for d in spec["directions"]:
            layer, proj = self.layers[d["gates"]], d["proj"]
            out = hidden
            if proj is not None:
                p = self.layers[proj]
                if p.has_bias or p.shape[1] != hidden or p.activation != "none":
                    raise EieError(f"projection layer {proj} must be {hidden} wide, without bias or activation")
                out = p.shape[0]
            n_in = layer.n_inputs - out
            if layer.shape[0] != gates * hidden or n_in < 1 or layer.activation != "none":
                raise EieError(f"{kind.upper()} layer {layer.name} is {layer.shape[0]} x {layer.n_inputs}: "
                               f"not {gates} x {hidden} gate rows over input and state, without activation")
            widths.add((n_in, out))
            dirs.append((layer.name, proj, d["reverse"]))
        if len(widths) != 1:
            raise EieError(f"{kind.upper()} stage {name} needs directions of one size")
        (n_in, out), = widths
        return Stage(kind, name, tuple(dirs), hidden, n_in, out * len(dirs))


# ----- number formats -------------------------------------------------------------------


def parse_frac_bits(value: str | int | None, option: str) -> int | str | None:
    """A fraction-bit setting: an integer >= 0, ``"auto"``, or None (the default)."""
    if value is None or value == AUTO:
        return value
    try:  # a whole number (8, "8"): never 8.7 truncated, nor True taken for 1
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer, str)):
            raise TypeError
        bits = int(value)
    except (TypeError, ValueError):
        raise EieError(f"{option} takes a number of bits or 'auto', got {value!r}") from None
    if bits < 0:
        raise EieError(f"{option} must be at least 0, got {bits}")
    return bits


@dataclass
class _Ranges:
    """Largest magnitudes seen per layer during a float run: inputs (bias 1.0 included) and
    partial sums (the accumulator's contents after every add, in column order)."""
    inputs: dict[str, float] = field(default_factory=dict)
    sums: dict[str, float] = field(default_factory=dict)

    def record(self, name: str, a: np.ndarray, sums_max: float) -> None:
        self.inputs[name] = max(self.inputs.get(name, 0.0), float(np.max(np.abs(a))))  # a layer has inputs
        self.sums[name] = max(self.sums.get(name, 0.0), sums_max)


def choose_formats(network: Network, config: ArchConfig, calibration: np.ndarray | None,
                   act_frac_bits: int | str = AUTO, weight_frac_bits: int | str = AUTO) -> dict[str, dict[str, int]]:
    """Fraction bits per layer (dynamic fixed point).

    ``"auto"`` for weights: the most fraction bits that hold the layer's largest codebook
    magnitude (bias codebook included: both go through the same multiplier). ``"auto"`` for activations: the most that hold, without saturation, every
    value the layer's accumulators and inputs took on the calibration data in a float run
    of the same quantized network (its inputs, the bias input 1.0, and every partial sum
    in SPEC §6's column order, so the outputs too). A number sets every layer alike.
    """
    vb = config.value_bits
    ranges = None
    if act_frac_bits == AUTO and config.precision == "fixed":
        if calibration is None:
            raise EieError("automatic activation fraction bits need calibration inputs")
        ranges = _Ranges()
        forward(network, _check_inputs(network, calibration, "calibration inputs"), ranges=ranges)
    formats = {}
    for name, layer in network.layers.items():
        if weight_frac_bits == AUTO:
            tables = [layer.codebook] + ([] if layer.bias_codebook is None else [layer.bias_codebook])
            wf = frac_bits_for(max(float(np.max(np.abs(t))) for t in tables), vb)
        else:
            wf = int(weight_frac_bits)
        if act_frac_bits == AUTO:
            # (every layer runs in the calibration run: the description leaves none out)
            af = vb - 1 if ranges is None else frac_bits_for(max(ranges.inputs[name], ranges.sums[name]), vb)
        else:
            af = int(act_frac_bits)
        formats[name] = {"act_frac_bits": af, "weight_frac_bits": wf}
    return formats


# ----- running the stages ---------------------------------------------------------------

LayerCall = Callable[[EncodedLayer, np.ndarray], np.ndarray]


def forward(network: Network, inputs: np.ndarray, call: LayerCall | None = None,
            ranges: _Ranges | None = None, progress: Iterable | None = None,
            counts: dict[str, int] | None = None) -> np.ndarray:
    """Outputs of every input run through the network; ``call`` runs one layer on one
    activation vector (default: exact float64 with the layer's codebook values)."""
    run = call or _FloatCall(ranges)
    return np.stack([network.run(x, run, counts) for x in (progress if progress is not None else inputs)])


def _run_graph(network: Network, x: np.ndarray, call: LayerCall, counts: dict[str, int] | None) -> np.ndarray:
    """A captured graph on one input (a batch of one, as it was captured)."""
    graph, arrays = network.graph, network.model.host_arrays
    env: dict[str, Any] = {graph["inputs"][0]["name"]: np.asarray(x)[None]}
    for node in graph["nodes"]:
        op = node["op"]
        if op == "eie.linear":
            a = np.asarray(env[node["args"][0]["ref"]], np.float64)  # one reference: checked
            layers = [network.layers[name] for name in node["layers"]]
            if a.ndim == 0 or a.shape[-1] != layers[0].n_inputs:
                raise EieError(f"layer {layers[0].name} takes {layers[0].n_inputs} inputs, but module "
                               f"{node['module'] or '(model)'} gives it shape {a.shape}")
            rows = a.reshape(-1, a.shape[-1])
            out = np.concatenate([np.stack([call(layer, v) for v in rows]) for layer in layers], axis=-1)
            env[node["name"]] = out.reshape(a.shape[:-1] + (-1,))
        elif op in ("eie.lstm", "eie.gru"):
            env[node["name"]] = _run_recurrent(network, node, env, call)
        else:
            env[node["name"]] = run_host_op(node, env, arrays)
            if counts is not None:
                counts[op] = counts.get(op, 0) + 1
    out = np.asarray(env[graph["outputs"][0]["ref"]], np.float64)  # one reference: checked
    return out[0] if out.ndim and out.shape[0] == 1 else out


def _run_recurrent(network: Network, node: dict, env: dict, call: LayerCall) -> list[np.ndarray]:
    """torch's ``lstm``/``gru`` over a batch: ``[output, h_n(, c_n)]`` in torch's layouts."""
    arrays = network.model.host_arrays
    seq = np.asarray(resolve(node["args"][0], env, arrays), np.float64)
    state = resolve(node["args"][1], env, arrays)
    h0, c0 = (state[0], state[1]) if node["op"] == "eie.lstm" else (state, None)
    stages = network.node_stages[node["name"]]
    if seq.ndim != 3 or seq.shape[-1] != stages[0].n_inputs:
        raise EieError(f"{stages[0].kind.upper()} {stages[0].name} takes (batch, time, {stages[0].n_inputs}) "
                       f"inputs, got shape {seq.shape}")
    if not node["batch_first"]:
        seq = seq.transpose(1, 0, 2)
    outs, hs, cs = [], [], []
    for b, x in enumerate(seq):
        h_b, c_b, i = [], [], 0
        for stage in stages:
            initial = []
            for _ in stage.layers:
                initial.append((np.asarray(h0[i, b], np.float64), None if c0 is None else np.asarray(c0[i, b], np.float64)))
                i += 1
            x, finals = _run_recurrent_stage(network, stage, x, call, initial)
            h_b += [h for h, _ in finals]
            c_b += [c for _, c in finals]
        outs.append(x)
        hs.append(h_b)
        cs.append(c_b)
    out = np.stack(outs)
    result = [out if node["batch_first"] else out.transpose(1, 0, 2), np.stack(hs, axis=1)]
    return result + ([np.stack(cs, axis=1)] if node["op"] == "eie.lstm" else [])


def _run_stage(network: Network, stage: Stage, seq: np.ndarray, call: LayerCall) -> np.ndarray:
    if stage.kind == "linear":
        layer = network.layers[stage.layers[0][0]]
        return np.stack([call(layer, x) for x in seq])
    return _run_recurrent_stage(network, stage, seq, call)[0]


def _run_recurrent_stage(network: Network, stage: Stage, seq: np.ndarray, call: LayerCall,
                         initial: list | None = None) -> tuple[np.ndarray, list]:
    """One recurrent layer (all directions) over ``seq`` (T x features) from the ``initial``
    (h, c) of each direction (zeros when None); returns its outputs and final states."""
    outs, finals = [], []
    for d, (gates_name, proj_name, reverse) in enumerate(stage.layers):
        gates, proj = network.layers[gates_name], network.layers.get(proj_name)  # None: no projection
        h_width = proj.shape[0] if proj is not None else stage.hidden_size
        # (a GRU's initial c is None: it has no cell state)
        h, c = (np.zeros(h_width), np.zeros(stage.hidden_size)) if initial is None else initial[d]
        steps = range(len(seq) - 1, -1, -1) if reverse else range(len(seq))
        out = np.zeros((len(seq), h_width))
        for t in steps:
            g = call(gates, np.concatenate([seq[t], h]))
            if stage.kind == "lstm":
                i, f, gg, o = np.split(g, 4)
                c = sigmoid(f) * c + sigmoid(i) * np.tanh(gg)
                h = sigmoid(o) * np.tanh(c)
                if proj is not None:
                    h = call(proj, h)
            else:
                r, z, n_in, n_h = np.split(g, 4)
                r, z = sigmoid(r), sigmoid(z)
                h = (1 - z) * np.tanh(n_in + r * n_h) + z * h
            out[t] = h
        outs.append(out)
        finals.append((h, c))
    return np.concatenate(outs, axis=1), finals


class _FloatCall:
    """One layer in float64 with its codebook values; optionally records ranges."""
    def __init__(self, ranges: _Ranges | None):
        self.ranges = ranges
        self.csr: dict[str, sp.csr_matrix] = {}

    def __call__(self, layer: EncodedLayer, a: np.ndarray) -> np.ndarray:
        w = self.csr.get(layer.name)
        if w is None:
            w = self.csr[layer.name] = layer.to_coo().tocsr()
            w.sort_indices()
        x = np.append(a, 1.0) if layer.has_bias else np.asarray(a, np.float64)
        y = w @ x
        if self.ranges is not None:
            products = w.data * x[w.indices]
            running = np.cumsum(products)
            row_start = np.concatenate(([0.0], running))[w.indptr[:-1]]
            partial = running - np.repeat(row_start, np.diff(w.indptr))
            self.ranges.record(layer.name, x, float(np.max(np.abs(partial), initial=0.0)))
        return np.maximum(y, 0.0) if layer.activation == "relu" else y


# ----- the simulated run ----------------------------------------------------------------


@dataclass
class InferenceResult:
    """Per input and layer: cycles and energy (summed over a layer's calls); the chip's and
    the float reference's outputs; the number formats; agreement statistics."""
    layer_names: list[str]
    cycles: np.ndarray  # (B, L) int64
    energy_pj: np.ndarray  # (B, L) float64
    calls: np.ndarray  # (B, L) layer runs per input (time steps x directions for recurrent layers)
    input_density: np.ndarray  # (B, L) mean fraction of non-zero inputs (bias excluded) over the calls
    outputs: np.ndarray
    float_outputs: np.ndarray
    formats: dict[str, dict[str, int]]
    config: ArchConfig
    engine: str
    reference: np.ndarray | None = None
    labels: np.ndarray | None = None
    reference_name: str = "the reference outputs"
    host_ops: dict[str, float] = field(default_factory=dict)  # host operation -> runs per input
    dropped_negative: dict[str, float] = field(default_factory=dict)  # layer -> fraction of inputs < 0 dropped

    @property
    def clock_mhz(self) -> float:
        return self.config.clock_mhz

    @property
    def total_cycles(self) -> np.ndarray:
        return self.cycles.sum(axis=1)

    @property
    def latency_us(self) -> np.ndarray:
        return self.total_cycles / self.clock_mhz

    def summary(self) -> dict[str, Any]:
        """The batch statistics: latency percentiles, energy, agreement, accuracy."""
        lat = self.latency_us
        out = {
            "inputs": int(self.cycles.shape[0]),
            "latency_us": _percentiles(lat),
            "energy_pj": {"mean": float(self.energy_pj.sum(axis=1).mean()),
                          "max": float(self.energy_pj.sum(axis=1).max())},
            "layers": {name: {"latency_us": _percentiles(self.cycles[:, i] / self.clock_mhz),
                              "mean_cycles": float(self.cycles[:, i].mean()),
                              "mean_energy_pj": float(self.energy_pj[:, i].mean()),
                              "calls_per_input": float(self.calls[:, i].mean()),
                              "input_density": float(self.input_density[:, i].mean()),
                              **self.formats[name]}
                       for i, name in enumerate(self.layer_names)},
            "vs_float": agreement(self.outputs, self.float_outputs),
            "host_ops_per_input": dict(self.host_ops),
            "dropped_negative_inputs": dict(self.dropped_negative),
        }
        if self.reference is not None:
            out["reference"] = self.reference_name
            out["vs_reference"] = agreement(self.outputs, self.reference)
            out["float_vs_reference"] = agreement(self.float_outputs, self.reference)
        if self.labels is not None:
            out["accuracy"] = {"chip": _accuracy(self.outputs, self.labels),
                               "float": _accuracy(self.float_outputs, self.labels)}
            if self.reference is not None:
                out["accuracy"]["reference"] = _accuracy(self.reference, self.labels)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine, "n_pe": self.config.n_pe, "queue_depth": self.config.queue_depth,
            "timing": self.config.timing, "settings": self.config.settings(),
            "clock_mhz": self.clock_mhz, "precision": self.config.precision, "value_bits": self.config.value_bits,
            "layer_names": self.layer_names,
            **self.summary(),
            "per_input": {"cycles": self.cycles.tolist(), "energy_pj": self.energy_pj.tolist(),
                          "latency_us": self.latency_us.tolist()},
            "not_modelled": "work outside the PE array (host operations: LSTM/GRU gate nonlinearities and "
                            "state update, and every operation of host_ops_per_input; moving x_t and h_t into "
                            "the source register file); the register-file swap between layers costs 0 cycles",
        }


def _percentiles(values: np.ndarray) -> dict[str, float]:
    return {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95)),
            "max": float(np.max(values)), "mean": float(np.mean(values))}


def agreement(chip: np.ndarray, ref: np.ndarray) -> dict[str, float | int | None]:
    """Max absolute error, the same relative to max |ref|, Pearson correlation over all
    output values, and top-1 agreement (argmax over the last axis) when outputs have more
    than one value. Outputs that are not finite (float32 arithmetic that overflowed) are
    counted in ``not_finite`` and left out (top-1: the inputs with all outputs finite);
    None where nothing is left."""
    chip, ref = np.asarray(chip, np.float64), np.asarray(ref, np.float64)
    finite = np.isfinite(chip) & np.isfinite(ref)
    a, b = chip[finite], ref[finite]
    out: dict[str, float | int | None] = {"max_abs_error": None, "max_rel_error": None, "correlation": None,
                                          "top1_agreement": None, "not_finite": int(finite.size - finite.sum())}
    if a.size:
        # Computed on values scaled to at most 1, so large finite outputs cannot overflow.
        unit = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))), np.finfo(np.float64).tiny)
        a, b = a / unit, b / unit
        err = float(np.max(np.abs(a - b))) * unit  # a Python float: past the top it is inf, silently
        scale = float(np.max(np.abs(ref[finite])))
        out["max_abs_error"], out["max_rel_error"] = err, (err / scale if scale > 0 else None)
        out["correlation"] = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else None  # (one value: 0)
    rows = finite.all(axis=-1)
    if chip.shape[-1] > 1 and rows.any():
        out["top1_agreement"] = float(np.mean(chip[rows].argmax(axis=-1) == ref[rows].argmax(axis=-1)))
    return out


def _accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(outputs.argmax(axis=-1) == labels))


def _check_inputs(network: Network, inputs, what: str = "inputs") -> np.ndarray:
    if network.graph is not None:
        return _check_graph_inputs(network.graph["inputs"][0], inputs, what)
    x = as_array(inputs, what, np.float64)
    want = 3 if network.recurrent else 2
    shape = "inputs x time steps x features" if network.recurrent else "inputs x features"
    if x.ndim != want:
        raise EieError(f"{what} must be a {want}-D array ({shape}), got shape {x.shape}")
    if x.shape[0] == 0 or (network.recurrent and x.shape[1] == 0):
        raise EieError(f"{what} are empty (shape {x.shape})")
    if x.shape[-1] != network.n_inputs:
        raise EieError(f"{what} have {x.shape[-1]} features but the first layer "
                       f"({network.stages[0].name}) takes {network.n_inputs}")
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if bad.any():
        raise EieError(f"{what} contain NaN or infinity (input {int(np.flatnonzero(bad)[0])})")
    return x


def _check_graph_inputs(spec: dict, inputs, what: str) -> np.ndarray:
    """Inputs of a captured graph: inputs x (the captured input's shape less its batch axis)."""
    ids = spec["dtype"] == "int"
    x = as_array(inputs, f"{what} (token ids, like the example input)" if ids else what, np.int64 if ids else np.float64)
    want = tuple(spec["shape"][1:])
    if x.ndim != 1 + len(want) or x.shape[1:] != want or x.shape[0] == 0:
        raise EieError(f"{what} must have shape (inputs, {', '.join(map(str, want))}) like the example input "
                       f"the model was captured with, got {x.shape}")
    if ids:  # as_array refused floats and out-of-range values
        return x
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if bad.any():
        raise EieError(f"{what} contain NaN or infinity (input {int(np.flatnonzero(bad)[0])})")
    return x


def infer(
    model: CompressedModel,
    inputs,
    *,
    engine: str = "fast",
    precision: str | None = None,
    value_bits: int | None = None,
    act_frac_bits: int | str = AUTO,
    weight_frac_bits: int | str = AUTO,
    calibration=None,
    reference=None,
    reference_name: str = "the reference outputs",
    labels=None,
    queue_depth: int | None = None,
    timing: str | None = None,
    config: dict | None = None,
    energy_table=None,
    progress: bool = False,
) -> InferenceResult:
    """Run every input through the whole network on the simulated chip (see the module
    docstring). ``calibration`` (default: ``inputs``) sets the ``"auto"`` activation formats;
    ``reference`` (outputs of the original model, same shape as the chip's; ``reference_name``
    says what it is) and ``labels`` (class per input) add agreement and accuracy statistics.
    Host operations are counted per input; under a timing profile that broadcasts only
    positive activations, the fraction of each layer's inputs that are negative (and so
    dropped) is reported in ``dropped_negative``. ``config``: further ArchConfig fields to
    set on the model's configuration (``eiesim infer --set``)."""
    if not isinstance(model, CompressedModel):
        raise EieError(f"model must be a CompressedModel (load a file with eiesim.modelfile.load_model), "
                       f"got {type(model).__name__}")
    network = Network(model)
    x = _check_inputs(network, inputs)
    fields = {k: v for k, v in dict(precision=precision, value_bits=value_bits, queue_depth=queue_depth,
                                    timing=timing).items() if v is not None} | dict(config or {})
    act_frac_bits = parse_frac_bits(act_frac_bits, "act_frac_bits")
    weight_frac_bits = parse_frac_bits(weight_frac_bits, "weight_frac_bits")
    base = model.config
    if "value_bits" in fields:  # the model's own fraction bits may not fit a narrower word
        base = base.replace(act_frac_bits=0, weight_frac_bits=0)
    base = base.replace(**fields)
    if calibration is not None:  # checked even where no 'auto' format reads it
        calibration = _check_inputs(network, calibration, "calibration inputs")
    formats = choose_formats(network, base, x if calibration is None else calibration, act_frac_bits,
                             weight_frac_bits)
    configs = {name: base.replace(**f) for name, f in formats.items()}
    names = network.call_order()
    column = {name: i for i, name in enumerate(names)}
    cycles = np.zeros((len(x), len(names)), np.int64)
    energy = np.zeros((len(x), len(names)))
    calls = np.zeros((len(x), len(names)), np.int64)
    density = np.zeros((len(x), len(names)))
    negative = np.zeros((2, len(names)))  # inputs < 0, all inputs (positive-only broadcast only)
    index: dict[str, int] = {}  # the input being run (set by numbered)

    def on_chip(layer: EncodedLayer, a: np.ndarray) -> np.ndarray:
        result = simulate(layer, a, configs[layer.name], engine=engine, energy_table=energy_table)
        i, j = index["i"], column[layer.name]
        cycles[i, j] += result.cycles
        energy[i, j] += result.energy.total
        calls[i, j] += 1
        density[i, j] += np.count_nonzero(a) / a.size
        if configs[layer.name].rules.broadcast == "positive":
            negative[:, j] += np.count_nonzero(a < 0), a.size
        return np.asarray(result.output, np.float64)

    def numbered(rows):
        for i, row in enumerate(rows):
            index["i"] = i
            yield row

    bar = None
    rows: Iterable = x
    if progress:
        from tqdm import tqdm

        rows = bar = tqdm(x, desc="inputs", unit="input", leave=False, disable=None)
    counts: dict[str, int] = {}
    try:
        outputs = forward(network, x, call=on_chip, progress=numbered(rows), counts=counts)
    finally:
        if bar is not None:
            bar.close()
    float_outputs = forward(network, x)
    overflowed = int(np.count_nonzero(~np.isfinite(outputs)))
    if overflowed:  # a result of the chip's arithmetic, not bad input: say so, and go on
        warnings.warn(EieWarning(f"{base.precision} arithmetic overflowed: {overflowed} of the chip's "
                                 f"{outputs.size} outputs are infinite or NaN; the statistics leave them out"),
                      stacklevel=2)
    ref = None
    if reference is not None:
        ref = as_array(reference, "reference outputs", np.float64)
        if ref.shape != outputs.shape:
            raise EieError(f"reference outputs have shape {ref.shape}, the chip's have {outputs.shape}")
        if not np.all(np.isfinite(ref)):
            raise EieError("reference outputs contain NaN or infinity")
    lab = None
    if labels is not None:
        lab = as_array(labels, "labels", np.int64)
        if lab.shape != outputs.shape[:-1]:
            raise EieError(f"labels must be integers of shape {outputs.shape[:-1]}, got {lab.dtype} {lab.shape}")
        classes = outputs.shape[-1]
        if classes < 2:
            raise EieError("labels need a network with at least 2 outputs (a class is the largest output)")
        if lab.min() < 0 or lab.max() >= classes:
            raise EieError(f"labels must be classes 0..{classes - 1} (the network has {classes} outputs), "
                           f"got {int(lab.min())}..{int(lab.max())}")
    dropped = {name: float(negative[0, j] / negative[1, j]) for j, name in enumerate(names) if negative[0, j]}
    return InferenceResult(names, cycles, energy, calls, density / np.maximum(calls, 1), outputs, float_outputs,
                           formats, base, engine, ref, lab, reference_name,
                           {op: n / len(x) for op, n in counts.items()}, dropped)


def plot_latency(result: InferenceResult, path) -> None:
    """Box plots of the latency per layer and of the whole network over the inputs, on one
    shared y axis so the panels compare at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = [result.cycles[:, i] / result.clock_mhz for i in range(len(result.layer_names))]
    labels = [*result.layer_names, "network"]
    # At least two panels (a layer and the network), so ``axes`` is a row of them.
    fig, axes = plt.subplots(1, len(labels), figsize=(1.6 * len(labels) + 1.0, 3.4), sharey=True)
    for ax, values, label in zip(axes, [*data, result.latency_us], labels):
        ax.boxplot(values, whis=(5, 95), widths=0.6)  # outliers drawn (the default)
        ax.set_xticks([1], [label], rotation=20, ha="right")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("latency per input (us)")
    fig.suptitle(f"{len(result.latency_us)} inputs, {result.config.n_pe} PEs at {result.clock_mhz:g} MHz "
                 "(box: quartiles, whiskers: p5-p95)", fontsize=9)
    fig.tight_layout()
    try:  # the format is the file name's suffix
        fig.savefig(path, dpi=120)
    except ValueError as exc:  # matplotlib names the formats it supports
        raise EieError(f"cannot draw {path}: {' '.join(str(exc).split())}") from None
    finally:
        plt.close(fig)
