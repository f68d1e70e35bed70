"""``eiesim compress`` / ``decompress`` / ``info``: the Deep Compression front-end (SPEC §3).

``compress`` takes the layers of exactly one source: a dense ``.npy`` matrix (``--weights``),
EIE benchmark layers (``--benchmark NAME|all``), a PyTorch model (``--torch-module
module:attr``, ``--state-dict FILE`` or both; with ``--example-input``/``--input-shape`` its
forward() is captured by ``workloads.torch_graph``, else its layers are read in
registration order by ``workloads.torch_import``), or an ONNX graph (``--onnx``,
``workloads.onnx_import``); the network description goes into the file's metadata. It optionally
prunes each layer to ``--density`` (magnitude, load-balanced per PE, or structured), shares weights by k-means,
encodes the interleaved CSC for the PE array, writes one model file and prints the
storage report (``--json`` writes it as JSON). ``decompress`` writes a layer's quantized
dense matrix back to ``.npy``; ``info`` describes a model file. Outputs are written
atomically: a failed command leaves no partial file.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from eiecore.atomic import check_outputs, json_text, text_writer
from eiecore.errors import EieError
from eiesim.cli import SEED, config_fields, config_option, warn

PRUNE_METHODS = ("magnitude", "balanced", "row", "column", "block")  # compressor.prune.SCHEMES
SETTINGS = {"help_option_names": ["-h", "--help"]}


@click.command(context_settings=SETTINGS)
@click.option("--weights", metavar="W.npy", help="Dense weight matrix M x K (.npy); zeros are pruned weights.")
@click.option("--benchmark", metavar="NAME|all", help="An EIE Table III layer (Alex-6 ... NT-LSTM), or all nine in one file.")
@click.option("--torch-module", metavar="MODULE:ATTR",
              help="A torch nn.Module (or a factory returning one): its forward() captured with --example-input "
                   "or --input-shape, else its Linear/LSTM/GRU layers in registration order (with a warning). "
                   "This imports and runs the module's code; the current directory is searched first.")
@click.option("--state-dict", metavar="FILE",
              help="The Linear/LSTM/GRU layers of a saved torch state dict (.pt), recognised by parameter names; "
                   "with --torch-module, loaded into that module instead.")
@click.option("--onnx", "onnx_path", metavar="MODEL.onnx",
              help="An ONNX model (the onnx package): Gemm/MatMul with constant weights on the PE array, a ReLU "
                   "after them fused, the other operations on the host, as for a captured torch model.")
@click.option("--example-input", metavar="X.npy",
              help="With --torch-module: inputs (first axis: inputs; the first one is used) to capture forward() "
                   "with torch.export: the graph sets the layer order, module reuse, residual adds and fused ReLUs, "
                   "and the other operations run on the host. Integer arrays are token ids.")
@click.option("--input-shape", metavar="SHAPE",
              help="With --torch-module: capture forward() on a random float input of this shape (one input, "
                   "no batch axis), e.g. 784 or 16x256, instead of --example-input.")
@click.option("--seed", type=SEED, help="Seed of the --benchmark weights [default: 0].")
@click.option("--density", type=float, help="Prune every layer to this fraction of kept weights (0..1) first. Without it nothing "
                   "is pruned: the zeros already in the weights (or a state dict) are the pruned ones.")
@click.option("--prune", "method", type=click.Choice(PRUNE_METHODS),
              help="How --density prunes: largest magnitudes; balanced = the same number of largest "
                   "magnitudes in every PE's share of the layer (ESE's load-balance-aware pruning, over --pes); "
                   "or whole rows / columns / blocks by L2 norm [default: magnitude].")
@click.option("--block", metavar="RxC", help="Block shape for --prune block [default: 4x4].")
@click.option("--group", type=int, metavar="G",
              help="--prune balanced: balance every group of G consecutive columns (G divides K) "
                   "[default: the whole layer].")
@click.option("--pes", type=int, help="Number of PEs N the layers are interleaved over [default: 64].")
@click.option("--accumulators", type=int, help="Accumulators per PE R (a row block has N x R rows) [default: 64].")
@click.option("--index-bits", type=int, help="Bits x of a relative row index [default: 4].")
@click.option("--weight-bits", type=int,
              help="Bits b of a weight code: 2^b - 1 shared weights plus code 0 for zero [default: 4].")
@click.option("--name", metavar="NAME", help="Layer name for --weights [default: the file name without suffix].")
@click.option("--bias", "has_bias", is_flag=True, default=None,
              help="--weights: the last column is a bias (an input fixed at 1.0).")
@click.option("--activation", metavar="relu|none[,...]",
              help="Output non-linearity on write-back: one for every layer, or a comma list with one per layer "
                   "in file order (e.g. relu,relu,none) [default: relu for --weights, the table's for "
                   "--benchmark, for a captured graph or ONNX relu where a ReLU follows the layer, else none; "
                   "LSTM/GRU gate layers must stay none].")
@click.option("--out", required=True, metavar="FILE", help="Compressed model file to write (.eie by convention).")
@click.option("--json", "json_out", metavar="REPORT", help="Also write the storage report as JSON to REPORT.")
@click.option("--prune-bias", is_flag=True,
              help="--density also prunes bias columns, like weights [default: biases are kept whole, and the "
                   "density counts the weights alone].")
@config_option
def compress(weights, benchmark, torch_module, state_dict, onnx_path, example_input, input_shape, seed, density, method,
             block, group, pes, accumulators, index_bits, weight_bits, name, has_bias, activation, out, json_out,
             prune_bias, settings) -> None:
    """Prune, weight-share and encode layers for EIE; write a model file and a storage report."""
    from compressor.csc import compress_layer
    from eiesim.modelfile import CompressedModel
    from eiesim.config import ArchConfig
    from eiesim.progress import over_layers

    source = _one_source(weights=weights, benchmark=benchmark, torch=torch_module or state_dict, onnx=onnx_path)
    if source != "weights" and (name is not None or has_bias is not None):
        raise EieError("--name and --bias describe a --weights matrix")
    if seed is not None and source != "benchmark":
        raise EieError("--seed is for --benchmark layers")
    if density is None and (method is not None or block is not None or prune_bias):
        raise EieError("--prune, --block and --prune-bias need --density")
    if block is not None and method != "block":
        raise EieError("--block goes with --prune block")
    if group is not None and method != "balanced":
        raise EieError("--group goes with --prune balanced")
    if (example_input is not None or input_shape is not None) and torch_module is None:
        raise EieError("--example-input and --input-shape capture forward(): they need --torch-module")
    if example_input is not None and input_shape is not None:
        raise EieError("give --example-input or --input-shape, not both")
    outputs = check_outputs({"--out": out, "--json": json_out},
                            inputs={"--weights": weights, "--state-dict": state_dict, "--example-input": example_input,
                                    "--onnx": onnx_path})
    config = ArchConfig.make(**config_fields(settings, n_pe=pes, accumulators_per_pe=accumulators,
                                             index_bits=index_bits, weight_bits=weight_bits))
    pruning = None if density is None else _pruner(density, method or "magnitude", block or "4x4", config.n_pe, group)

    if source == "weights":
        raw = [(name or Path(weights).stem, _load_matrix(weights), bool(has_bias), "relu")]
        origin = str(weights)
    elif source == "benchmark":
        raw, origin = _benchmark_layers(benchmark, seed or 0), f"benchmark {benchmark} seed {seed or 0}"
    network = None
    if source == "torch":
        network = _torch_network(torch_module, state_dict, example_input, input_shape, activation)
        raw = [(n, w, b, network.activations.get(n, "none")) for n, w, b in network.layers]
        origin = f"torch {_torch_origin(torch_module, state_dict)}"
        for line in network.skipped:
            warn(f"not imported: {line}")
    elif source == "onnx":
        from workloads.onnx_import import load_onnx

        network = load_onnx(onnx_path)
        raw = [(n, w, b, network.activations.get(n, "none")) for n, w, b in network.layers]
        origin = f"onnx {onnx_path}"

    acts = _activations(activation, [r[0] for r in raw], network)
    layers = []
    for (layer_name, w, bias, default), act in over_layers(zip(raw, acts), len(raw), "compressing"):
        if pruning is not None:
            w = _prune_layer(pruning, w, bias and not prune_bias)
        layers.append(compress_layer(w, config, name=layer_name, has_bias=bias, activation=act or default))
    metadata: dict = {"pruning": None}
    if network is not None and network.graph is not None:
        metadata["network"] = {"graph": network.graph, "skipped": [],
                               "capture": "onnx" if source == "onnx" else "torch.export"}
        if source == "torch":
            metadata["network"]["torch"] = network.origin
        else:
            metadata["network"]["onnx"] = {"file": str(onnx_path)}
    elif network is not None:
        metadata["network"] = {"stages": list(network.stages), "skipped": list(network.skipped)}
    if density is not None:
        metadata["pruning"] = {"density": density, "method": method or "magnitude", "bias_pruned": prune_bias,
                               "block": (block or "4x4") if method == "block" else None,
                               "group": group if method == "balanced" else None}
    if source == "benchmark":
        metadata["seed"] = seed or 0
    model = CompressedModel(layers, config, source=origin, metadata=metadata,
                            host_arrays={} if network is None else network.host_arrays)
    _write_outputs(model, outputs, out, json_out)


def _torch_network(module: str | None, state_dict: str | None, example_input: str | None, input_shape: str | None,
                   activation: str | None):
    """The torch model's network: captured from forward() when an example input is given;
    otherwise its layers in registration order, with a warning saying what is assumed."""
    from workloads.torch_import import load_torch_layers

    if example_input is None and input_shape is None:
        network = load_torch_layers(module, state_dict)
        source = "--state-dict alone has no forward()" if module is None else "without an example input"
        fixes = ("--torch-module MODULE:ATTR with --example-input X.npy or --input-shape SHAPE" if module is None
                 else "--example-input X.npy or --input-shape SHAPE")
        order = ", ".join(layer.name for layer in network.layers)
        acts = ("" if activation is not None else " with no activation (ReLU and every other operation between "
                "them dropped; --activation sets them)")
        warn(f"{source}: layers are assumed to run one after another in registration order ({order}){acts}; "
             f"give {fixes} to capture the network as forward() runs it")
        return network
    from eiesim.cli.simulate import _load_npy
    from workloads.torch_graph import capture, example_from_shape
    from workloads.torch_import import import_module_with_state

    example = example_from_shape(input_shape) if input_shape is not None else _load_npy(example_input, "example input")
    return capture(import_module_with_state(module, state_dict), example,
                   origin={"module": module, "state_dict": state_dict})


@click.command(context_settings=SETTINGS)
@click.option("--model", "model_path", required=True, metavar="FILE", help="Compressed model file (from 'eiesim compress').")
@click.option("--out", required=True, metavar="W.npy", help="Where to write the quantized dense matrix (float64 .npy).")
@click.option("--layer", "layer_name", metavar="NAME", help="Layer to write (needed when the model has several).")
def decompress(model_path, out, layer_name) -> None:
    """Write one layer's quantized weights as a dense matrix (bias column last, if it has one)."""
    from eiesim.modelfile import load_model

    outputs = check_outputs({"--out": out}, inputs={"--model": model_path})
    model = load_model(model_path)
    if layer_name is None:
        if len(model.layers) != 1:
            raise EieError(f"model {model_path} has {len(model.layers)} layers; pick one with --layer "
                           f"({', '.join(model.names)})")
        layer_name = model.names[0]
    layer = model.layer(layer_name)
    dense = layer.to_dense()

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # np.save given a name would append .npy to any other suffix
            np.save(f, dense)

    outputs.publish({"--out": write})
    m, k = layer.shape
    bias = ", last column is the bias" if layer.has_bias else ""
    click.echo(f"wrote {out}: layer {layer.name}, {m} x {k}, {layer.n_real} non-zeros{bias}")


@click.command(context_settings=SETTINGS)
@click.argument("model_path", metavar="FILE")
@click.option("--json", "json_out", metavar="OUT", help="Also write the description and storage report as JSON.")
def info(model_path, json_out) -> None:
    """Describe a compressed model file: array, layers, codebooks and storage."""
    from eiesim.modelfile import load_model
    from compressor.report import storage_report

    outputs = check_outputs({"--json": json_out}, inputs={"FILE": model_path})
    model = load_model(model_path)
    cfg = model.config
    click.echo(f"{model_path}: eiesim compressed model, format version {model.format_version}")
    click.echo(f"  source: {model.source or '-'}")
    click.echo(f"  array: N = {cfg.n_pe} PEs, R = {cfg.accumulators_per_pe} accumulators, "
               f"b = {cfg.weight_bits} weight bits, x = {cfg.index_bits} index bits")
    network = model.metadata.get("network")
    rest = {k: v for k, v in model.metadata.items() if k != "network"}
    if rest:
        click.echo(f"  metadata: {json.dumps(rest)}")
    if network and "graph" in network:
        _print_graph(model)
    elif network:
        click.echo("  network: " + " -> ".join(_stage_text(s) for s in network["stages"]))
        for line in network["skipped"]:
            click.echo(f"  not imported: {line}")
    layers = []
    for layer in model.layers:
        m, k = layer.shape
        used = layer.codebook[1 : 1 + int(layer.code.max(initial=0))]
        click.echo(f"  layer {layer.name}: {m} x {k}, {layer.n_blocks} row block(s), {layer.n_real} real + "
                   f"{layer.n_fillers} filler entries, bias {'yes' if layer.has_bias else 'no'}, "
                   f"activation {layer.activation}")
        click.echo("    codebook: " + " ".join(f"{v:.6g}" for v in used))
        if layer.bias_codebook is not None:
            click.echo("    bias codebook: " + " ".join(f"{v:.6g}" for v in layer.bias_codebook[1:] if v != 0))
        layers.append({"name": layer.name, "shape": [m, k], "n_blocks": layer.n_blocks, "real": layer.n_real,
                       "fillers": layer.n_fillers, "has_bias": layer.has_bias, "activation": layer.activation,
                       "codebook": layer.codebook.tolist(),
                       "bias_codebook": None if layer.bias_codebook is None else layer.bias_codebook.tolist()})
    report = storage_report(model)
    click.echo("")
    click.echo(report.format_table())
    click.echo("")
    click.echo(_fit_table(model))
    if json_out is not None:
        outputs.publish({"--json": text_writer(json_text({
            "format_version": model.format_version, "source": model.source, "config": cfg.model_dump(),
            "metadata": model.metadata, "layers": layers, "storage": report.to_dict(),
        }))})


def _one_source(**sources) -> str:
    given = [key for key, value in sources.items() if value is not None]
    if len(given) != 1:
        options = "--weights, --benchmark, --onnx, or --torch-module and/or --state-dict"
        got = ", ".join("--torch-module/--state-dict" if key == "torch" else "--" + key for key in given)
        raise EieError(f"give exactly one source: {options}" + (f"; got {got}" if given else ""))
    return given[0]


def _stage_text(stage: dict) -> str:
    if stage["kind"] == "linear":
        return stage["layer"]
    proj = f", proj {stage['proj_size']}" if stage.get("proj_size") else ""
    return (f"{stage['name']} ({stage['kind'].upper()} {stage['input_size']} -> {stage['hidden_size']}{proj}, "
            f"{len(stage['directions'])} direction(s))")


def _print_graph(model) -> None:
    """A captured network: each array operation in graph order, with the host operations
    (and the modules that call them) that run after it."""
    from collections import Counter

    from eiesim.graph import short_name
    from eiesim.inference import Network

    groups = Network(model).host_ops_after()
    n_host = sum(len(ops) for _, ops in groups)
    how = {"torch.export": "captured from forward() by torch.export", "onnx": "read from an ONNX graph"}
    click.echo(f"  network: {how.get(model.metadata['network'].get('capture'), 'a graph')}: "
               f"{len(groups) - 1} operation(s) on the PE array, {n_host} on the host (the chip does not model "
               "host operations: no cycles, no energy)")
    for layers, ops in groups:
        if not layers and not ops:
            continue
        counted = Counter(f"{short_name(op['op'])} ({op['module'] or 'model'})" for op in ops)
        host = ", ".join(f"{text}" + (f" x{n}" if n > 1 else "") for text, n in counted.items()) or "-"
        click.echo(f"    {'array ' + layers if layers else 'input'}; then host: {host}")


def _torch_origin(module: str | None, state_dict: str | None) -> str:
    return " with ".join(x for x in (module, state_dict) if x)


def _activations(text: str | None, names: list[str], network) -> list[str | None]:
    """Per-layer activations from ``--activation`` (None: the source's default)."""
    if text is None:
        return [None] * len(names)
    values = [v.strip() for v in text.split(",")]
    if any(v not in ("relu", "none") for v in values):
        raise EieError(f"--activation takes relu or none (or a comma list of them), got {text!r}")
    if len(values) == 1:
        values *= len(names)
    if len(values) != len(names):
        raise EieError(f"--activation lists {len(values)} values for {len(names)} layers ({', '.join(names)})")
    if network is not None:
        stages = list(network.stages) + [s for node in (network.graph or {}).get("nodes", []) for s in node.get("stages", [])]
        recurrent = {d[key] for s in stages if s["kind"] != "linear" for d in s["directions"]
                     for key in ("gates", "proj") if d[key]}
        for name, value in zip(names, values):
            if name in recurrent and value != "none":
                raise EieError(f"layer {name} belongs to an LSTM/GRU: its activation must be none (the gate "
                               "nonlinearities run outside the PE array)")
    return values


def _load_matrix(path: str) -> np.ndarray:
    from compressor.csc import as_coo
    from eiesim.cli.simulate import _load_npy

    matrix = _load_npy(path, "weights")
    as_coo(matrix)  # validates: 2-D, real, finite, non-empty
    return matrix


def _pruner(density: float, method: str, block: str, n_pe: int, group: int | None):
    """A function pruning one layer's weights to ``density`` with ``method``."""
    from compressor.prune import prune, scheme_mask
    from compressor.synthetic import exact_count

    exact_count(1, density)  # validates the density before any work
    if group is not None and group < 1:
        raise EieError(f"--group must be a positive number of columns, got {group}")
    tile = _block_shape(block) if method == "block" else (4, 4)
    return lambda w: prune(w, scheme_mask(w, method, density, n_pe=n_pe, group=group, block=tile))


def _prune_layer(pruning, w, keep_bias: bool):
    """``w`` pruned; with ``keep_bias`` its last column (the bias) is kept whole and the
    density applies to the weights alone."""
    if not keep_bias:
        return pruning(w)
    if w.shape[1] < 2:
        return w  # the bias alone
    import scipy.sparse as sp

    if sp.issparse(w):
        w = sp.csr_matrix(w)
        return sp.hstack([sp.csr_matrix(pruning(w[:, :-1])), w[:, -1:]], format="csr")
    return np.hstack([pruning(w[:, :-1]), w[:, -1:]])


def _block_shape(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise EieError(f"--block must look like 4x4, got {text!r}")
    return int(parts[0]), int(parts[1])


def _benchmark_layers(benchmark: str, seed: int):
    from eiesim.progress import over_layers
    from workloads.benchmarks import BENCHMARKS, benchmark_names, benchmark_weights

    names = benchmark_names(benchmark)
    return [(n, benchmark_weights(n, seed), BENCHMARKS[n].has_bias, BENCHMARKS[n].activation)
            for n in over_layers(names, len(names), "generating")]


def _fit_table(model) -> str:
    """Per layer, the fullest PE's use of each SRAM and whether the layer fits (eiesim.fit)."""
    from eiesim.fit import check_fit

    cfg = model.config.replace(strict_fit=False)
    lines = [f"SRAM use of the fullest PE (N = {cfg.n_pe}; spmat {cfg.spmat_sram_kb:g} KB, ptr {cfg.ptr_sram_kb:g} KB, "
             f"act {cfg.act_sram_kb:g} KB):", f"{'layer':<16}{'spmat %':>9}{'ptr %':>9}{'act %':>9}  fits"]
    for layer in model.layers:
        fit = check_fit(layer, cfg)
        use = [100 * getattr(fit, f"{s}_bits") / getattr(fit, f"{s}_capacity_bits") for s in ("spmat", "ptr", "act")]
        lines.append(f"{layer.name:<16}" + "".join(f"{u:>9.1f}" for u in use) + "  "
                     + ("yes" if fit.fits else "NO: " + "; ".join(fit.problems())))
    return "\n".join(lines)


def _write_outputs(model, outputs, out: str, json_out: str | None) -> None:
    """Publish the model file and (optionally) the JSON report: both files or neither."""
    from eiesim.modelfile import model_writer
    from compressor.report import storage_report

    report = storage_report(model)
    writers = {"--out": model_writer(model)}
    if json_out is not None:
        writers["--json"] = text_writer(json_text(report.to_dict()))
    outputs.publish(writers)
    cfg = model.config
    click.echo(f"wrote {out}: {len(model.layers)} layer(s) for N = {cfg.n_pe} PEs, R = {cfg.accumulators_per_pe}, "
               f"b = {cfg.weight_bits}, x = {cfg.index_bits}")
    click.echo(report.format_table())
    click.echo("")
    click.echo(_fit_table(model))
    if json_out:
        click.echo(f"wrote {json_out}")
