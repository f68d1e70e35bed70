"""``eiesim infer``: a whole compressed network over a batch of inputs on the simulated chip.

Layers run in order (or as a captured graph orders them; LSTM/GRU layers over the time steps,
state fed back), each fed the previous layer's written-back output; see :mod:`eiesim.inference`. Prints per-layer and
whole-network latency (p50 / p95 / max), mean energy, and how far the chip's outputs are
from the float model of the compressed weights and, with ``--reference`` (a file, or ``torch``:
the user's own model run again), from the user's model; host operations of a captured graph
are counted (the chip does not model them), and a positive-only broadcast that drops
negative inputs is warned about per layer. ``--json``, ``--outputs`` and ``--plot`` write
files (atomically).
"""

from __future__ import annotations

from pathlib import Path

import click

from eiecore.errors import EieError
from eiesim.cli import config_fields, config_option, warn
from eiesim.engines import engine_names
from eiesim.timing import PROFILES

FRAC = "N|auto"
PLOT_SUFFIXES = (".png", ".pdf", ".svg")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--model", "model_path", required=True, metavar="M.eie", help="Compressed model (from 'eiesim compress').")
@click.option("--inputs", required=True, metavar="X.npy",
              help="Inputs, one per row: inputs x features, or inputs x time steps x features for a model "
                   "that starts with an LSTM/GRU.")
@click.option("--calibration", metavar="C.npy",
              help="Inputs that set the 'auto' activation formats (same layout as --inputs) [default: --inputs].")
@click.option("--reference", metavar="R.npy|torch|onnx",
              help="Outputs of the original model for X (.npy) to compare the chip's against; or 'torch': run the "
                   "torch model the file was captured from (its --torch-module is imported and its code runs, "
                   "with its --state-dict loaded) on the same inputs; or 'onnx': run the ONNX file it was read "
                   "from with ONNX Runtime.")
@click.option("--labels", metavar="Y.npy", help="Class label per input (integers), for accuracy.")
@click.option("--value-bits", type=click.IntRange(2, 32), help="Bits of activations, codebook values and "
              "accumulators [default: the model's, 16].")
@click.option("--act-frac-bits", default="auto", show_default=True, metavar=FRAC,
              help="Activation fraction bits: a number for every layer, or 'auto' (per layer, from the range of "
                   "the layer's inputs and partial sums on the calibration inputs). The paper's Q8.8 is 8.")
@click.option("--weight-frac-bits", default="auto", show_default=True, metavar=FRAC,
              help="Codebook fraction bits: a number for every layer, or 'auto' (per layer, the most that hold "
                   "its largest codebook value). SPEC §4's default is 12.")
@click.option("--precision", type=click.Choice(["fixed", "float32"]), help="Arithmetic [default: fixed].")
@click.option("--queue-depth", type=click.IntRange(min=1), help="Activation queue depth D [default: the model's, 8].")
@click.option("--timing", type=click.Choice(list(PROFILES)),
              help="Timing rules: spec (SPEC §5) or eie-cpp (the EIE authors' simulator, §5.1) [default: the model's, spec].")
@click.option("--engine", type=click.Choice(list(engine_names())), default="fast", show_default=True,
              help="Simulation engine (same cycles and outputs; reference is slow).")
@click.option("--json", "json_out", metavar="OUT", help="Write the summary and per-input cycles and energy as JSON.")
@click.option("--outputs", "outputs_out", metavar="Y.npy", help="Write the chip's outputs (float64 .npy).")
@click.option("--plot", metavar="FIG.png", help="Draw the latency distribution per layer (box plots; .png, .pdf or .svg).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar over the inputs.")
@config_option
def infer(model_path, inputs, calibration, reference, labels, value_bits, act_frac_bits, weight_frac_bits, precision,
          queue_depth, timing, engine, json_out, outputs_out, plot, progress, settings) -> None:
    """Run a whole compressed network over a batch of inputs on the simulated chip."""
    import numpy as np

    from eiesim.modelfile import load_model
    from eiecore.atomic import check_outputs, json_text, text_writer
    from eiesim.cli.simulate import _load_npy
    from eiesim.inference import infer as run_inference
    from eiesim.inference import parse_frac_bits, plot_latency

    outputs = check_outputs({"--json": json_out, "--outputs": outputs_out, "--plot": plot},
                            inputs={"--model": model_path, "--inputs": inputs, "--calibration": calibration,
                                    "--reference": None if reference in ("torch", "onnx") else reference,
                                    "--labels": labels})
    if plot is not None and Path(plot).suffix.lower() not in PLOT_SUFFIXES:
        raise EieError(f"--plot {plot}: give a file ending in {', '.join(PLOT_SUFFIXES)}")
    fields = config_fields(settings, precision=precision, value_bits=value_bits, queue_depth=queue_depth,
                           timing=timing)
    act = parse_frac_bits(act_frac_bits, "--act-frac-bits")
    weight = parse_frac_bits(weight_frac_bits, "--weight-frac-bits")
    model = load_model(model_path)
    x = _load_npy(inputs, "inputs")
    run_model = reference in ("torch", "onnx")
    extra = {name: None if path is None else _load_npy(path, what)
             for name, path, what in (("calibration", calibration, "calibration inputs"),
                                      ("reference", None if run_model else reference, "reference outputs"),
                                      ("labels", labels, "labels"))}
    extra["reference_name"] = f"--reference {reference}"
    if reference == "torch":
        from workloads.torch_graph import torch_reference

        extra["reference"], extra["reference_name"] = torch_reference(model, x)
    elif reference == "onnx":
        from workloads.onnx_import import onnx_reference

        extra["reference"], extra["reference_name"] = onnx_reference(model, x)
    result = run_inference(model, x, engine=engine, act_frac_bits=act, weight_frac_bits=weight, config=fields,
                           progress=progress, **extra)
    for layer, fraction in result.dropped_negative.items():
        warn(f"layer {layer}: {100 * fraction:.1f}% of its inputs are negative and are dropped (treated as 0) by "
             f"the {result.config.timing} timing profile, which broadcasts only a > 0; its outputs differ from the "
             "float model's")
    _print(result, model_path)

    def write_outputs(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # np.save given a name would append .npy to any other suffix
            np.save(f, result.outputs)

    writers = {"--outputs": write_outputs, "--json": text_writer(json_text(result.to_dict())),
               "--plot": lambda tmp: plot_latency(result, tmp)}
    outputs.publish({label: write for label, write in writers.items() if label in outputs})
    for path in (outputs_out, json_out, plot):
        if path:
            click.echo(f"wrote {path}")


def _print(result, model_path: str) -> None:
    s = result.summary()
    cfg = result.config
    click.echo(f"{model_path}: {s['inputs']} input(s), N = {cfg.n_pe} PEs, D = {cfg.queue_depth}, "
               f"{cfg.clock_mhz:g} MHz, {cfg.precision}"
               + (f" {cfg.value_bits}-bit" if cfg.precision == "fixed" else "") + f", engine {result.engine}")
    click.echo(f"{'layer':<22}{'Q(act)':>7}{'Q(w)':>6}{'calls':>7}{'p50 us':>10}{'p95 us':>10}{'max us':>10}"
               f"{'energy nJ':>11}")
    for name, layer in s["layers"].items():
        lat = layer["latency_us"]
        click.echo(f"{name:<22}{layer['act_frac_bits']:>7}{layer['weight_frac_bits']:>6}"
                   f"{layer['calls_per_input']:>7.0f}{lat['p50']:>10.3f}{lat['p95']:>10.3f}{lat['max']:>10.3f}"
                   f"{layer['mean_energy_pj'] / 1e3:>11.2f}")
    lat = s["latency_us"]
    click.echo(f"{'network':<35}{lat['p50']:>10.3f}{lat['p95']:>10.3f}{lat['max']:>10.3f}"
               f"{s['energy_pj']['mean'] / 1e3:>11.2f}")
    click.echo("(Q: fraction bits per layer; energy: mean per input; work outside the PE array is not modelled)")
    if s["host_ops_per_input"]:
        from eiesim.graph import short_name

        ops = ", ".join(f"{short_name(op)} {n:g}" for op, n in s["host_ops_per_input"].items())
        click.echo(f"host operations per input (numpy; the chip does not model them: no cycles, no energy): {ops}")
    ref = s.get("reference")
    for key, label in (("vs_reference", f"chip vs {ref}"),
                       ("vs_float", "chip vs float model of the compressed weights"),
                       ("float_vs_reference", f"float model of the compressed weights vs {ref}")):
        if key in s:
            a = s[key]
            parts = [] if a["max_abs_error"] is None else [f"max |error| {a['max_abs_error']:.4g}"]
            if a["max_rel_error"] is not None:
                parts.append(f"({100 * a['max_rel_error']:.2f}% of max |y|)")
            if a["correlation"] is not None:
                parts.append(f"correlation {a['correlation']:.5f}")
            if a["top1_agreement"] is not None:
                parts.append(f"top-1 agreement {100 * a['top1_agreement']:.1f}%")
            click.echo(f"{label}: " + (", ".join(parts) or "no finite output to compare"))
    if "accuracy" in s:
        click.echo("accuracy: " + ", ".join(f"{k} {100 * v:.2f}%" for k, v in s["accuracy"].items()))
