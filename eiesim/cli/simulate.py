"""``eiesim simulate``: run one layer (or the nine benchmarks) on the PE array (SPEC §9).

The layer comes from exactly one source: a dense weight matrix and an activation vector
(``--weights``/``--acts``, quantised and encoded per SPEC §3), a compressed model file
(``--model``, with ``--layer`` and ``--acts``), or a benchmark layer of EIE Table III
(``--benchmark NAME|all`` with ``--seed`` and ``--workload``; ``--inputs N`` runs N inputs
and reports the latency distribution). Prints a human summary; ``--json`` writes
``SimResult.to_dict()`` (with ``--inputs`` > 1: per-input cycles, time and energy and the
distribution's p50 / p95 / max per layer); ``--trace`` prints a per-cycle line trace and ``--perfetto``
writes a Chrome/Perfetto trace (both from the schedule of the engine that ran).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import click
import numpy as np

from eiecore.atomic import check_outputs, json_text, text_writer
from eiecore.errors import EieError
from eiesim.cli import INPUTS, SEED, config_fields, config_option
from eiesim.engines import engine_names
from eiesim.timing import PROFILES

AUTO_REFERENCE_MAX_ENTRIES = 20_000  # --engine auto: the reference engine up to this size
TRACE_MAX_PES = 64
TRACE_MAX_SIZE = 20_000  # row blocks x K + entries: above it --trace shows a window of cycles by default
PERFETTO_MAX_SLICES = 2_000_000  # row blocks x broadcast columns x N


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--weights", metavar="W.npy", help="Dense weight matrix M x K (.npy); zeros are pruned weights.")
@click.option("--acts", metavar="a.npy", help="Input activation vector of length K (.npy), for --weights or --model.")
@click.option("--model", metavar="FILE", help="Compressed model file (written by 'eiesim compress').")
@click.option("--layer", "layer_name", metavar="NAME", help="Layer of --model to simulate (needed when it has several).")
@click.option("--benchmark", metavar="NAME|all", help="An EIE benchmark layer (Alex-6 ... NT-LSTM), or all nine.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the --benchmark weights and activations.")
@click.option("--workload", type=click.Choice(["uniform", "heterogeneous"]), default="uniform", show_default=True,
              help="--benchmark: uniformly random non-zeros at Table III's densities, or rows / columns / "
                   "per-input densities that spread like measured layers (docs/workloads.md).")
@click.option("--row-cv", type=float, help="--workload heterogeneous: CV of non-zeros per row [default: 0.133, AlexNet fc8].")
@click.option("--col-cv", type=float, help="--workload heterogeneous: CV of non-zeros per column [default: 0.098, AlexNet fc8].")
@click.option("--act-cv", type=float,
              help="--workload heterogeneous: CV of the input activation density over inputs [default: 0.044, LeNet-300-100].")
@click.option("--inputs", "n_inputs", type=INPUTS, default=1, show_default=True,
              help="--benchmark: run this many inputs (seeded frames) and report latency p50 / p95 / max.")
@click.option("--pes", type=int, help="Number of PEs N [default: 64, or the --model's].")
@click.option("--queue-depth", type=int, help="Activation queue depth D [default: 8].")
@click.option("--timing", type=click.Choice(list(PROFILES)),
              help="Timing rules: spec (SPEC §5) or eie-cpp (the EIE authors' simulator, §5.1; "
                   "queue depth B >= 2 ring slots, B - 1 usable) [default: spec, or the --model's].")
@click.option("--accumulators", type=int, help="Accumulators per PE R [default: 64, or the --model's].")
@click.option("--precision", type=click.Choice(["fixed", "float32"]), help="Arithmetic number format [default: fixed].")
@click.option("--engine", type=click.Choice([*engine_names(), "auto"]), default="auto", show_default=True,
              help=f"Simulation engine; auto = reference up to {AUTO_REFERENCE_MAX_ENTRIES} entries, else fast.")
@click.option("--json", "json_out", metavar="OUT", help="Write the result as JSON to OUT (atomically; - for standard output).")
@click.option("--trace", "line_trace", is_flag=True,
              help=f"Print a per-cycle line trace: what every block of the reference engine did, or the fast engine's "
                   f"schedule (N <= {TRACE_MAX_PES}; see --trace-pes and --trace-cycles).")
@click.option("--trace-pes", metavar="LIST",
              help="--trace: the PEs to show, e.g. 0-7 or 0,5,63, or all [default: all up to 16 PEs, else 0-7].")
@click.option("--trace-cycles", metavar="FIRST:STOP",
              help=f"--trace: the cycles to show of each row block, FIRST up to STOP [default: all, or 0:1000 "
                   f"when row blocks x K + entries > {TRACE_MAX_SIZE}].")
@click.option("--perfetto", metavar="OUT.json", help="Write a Chrome/Perfetto trace (open at ui.perfetto.dev).")
@click.option("--strict-fit", is_flag=True, help="Make a layer that does not fit the PE SRAMs an error.")
@config_option
def simulate(weights, acts, model, layer_name, benchmark, seed, workload, row_cv, col_cv, act_cv, n_inputs, pes,
             queue_depth, timing, accumulators, precision, engine, json_out, line_trace, trace_pes, trace_cycles,
             perfetto, strict_fit, settings) -> None:
    """Simulate a layer cycle by cycle on the EIE PE array and summarise the run."""
    from eiesim.config import ArchConfig
    from eiesim.simulation import one_pass
    from eiesim.simulation import simulate as run_simulation

    _check_sources(weights, acts, model, layer_name, benchmark)
    load = _workload(benchmark, workload, row_cv, col_cv, act_cv, n_inputs)
    if n_inputs > 1 and (line_trace or perfetto):
        raise EieError("--trace and --perfetto record one input; drop --inputs")
    outputs = check_outputs({"--json": json_out, "--perfetto": perfetto},
                            inputs={"--weights": weights, "--acts": acts, "--model": model})
    if benchmark is not None and benchmark.lower() == "all" and (line_trace or perfetto):
        raise EieError("--trace and --perfetto take a single layer, not --benchmark all")
    if (trace_pes or trace_cycles) and not line_trace:
        raise EieError("--trace-pes and --trace-cycles go with --trace")
    fields = config_fields(settings, n_pe=pes, queue_depth=queue_depth, accumulators_per_pe=accumulators,
                           precision=precision, timing=timing, strict_fit=strict_fit or None)

    if weights is not None:
        config = ArchConfig.make(**fields)
        jobs = [_weights_job(weights, acts, config)]
    elif model is not None:
        layer, model_config = _model_layer(model, layer_name)
        config = model_config.replace(**fields)  # the array the model was encoded for
        jobs = [(layer, _load_npy(acts, "activations"), config)]
    else:
        config = ArchConfig.make(**fields)
        if n_inputs > 1:
            _latency_distribution(benchmark, seed, load, n_inputs, config, engine, outputs, json_out)
            return
        jobs = _benchmark_jobs(benchmark, seed, config, load)

    traced = line_trace or perfetto
    recorder = None
    results = []
    from eiesim.progress import over_layers

    for layer, a, cfg in over_layers(jobs, len(jobs), "simulating"):
        chosen = _resolve_engine(engine, layer, cfg)
        if traced:
            view = _check_trace_size(layer, a, cfg, line_trace, trace_pes, trace_cycles)
            recorder = _recorder(chosen)
        results.append((layer, run_simulation(layer, a, cfg, engine=chosen, observer=recorder), cfg))

    writers = {}
    if traced:
        layer, a, cfg = jobs[0]
        if line_trace:
            from eiesim.trace import line_trace as render
            from eiesim.trace import window

            # The reference engine's blocks describe every cycle themselves; the fast
            # engine's schedule is drawn (for the PEs shown only).
            lines = getattr(recorder, "lines", None) or render(recorder, *one_pass(layer, cfg), pes=view[0])
            for line in window(lines, *view):
                click.echo(line)
        if perfetto:
            from eiesim.trace import perfetto_trace

            writers["--perfetto"] = text_writer(json.dumps(perfetto_trace(recorder, cfg, layer.name), allow_nan=False))
    dropped = [_dropped_fraction(a, cfg) for _, a, cfg in jobs]
    if len(results) == 1:
        _summary(*results[0], dropped[0])
    else:
        _table(results, dropped)
    if json_out is not None:
        docs = [r.to_dict() for _, r, _ in results]
        writers["--json"] = text_writer(json_text(docs[0] if len(docs) == 1 else docs))
    outputs.publish(writers)


def _check_sources(weights, acts, model, layer_name, benchmark) -> None:
    """Exactly one layer source, with the options it needs."""
    given = [name for name, v in (("--weights", weights), ("--model", model), ("--benchmark", benchmark)) if v]
    if len(given) != 1:
        raise EieError("give exactly one of --weights (with --acts), --model (with --acts) or --benchmark"
                       + (f"; got {', '.join(given)}" if given else ""))
    if (weights or model) and acts is None:
        raise EieError(f"{given[0]} needs --acts (the input activation vector, .npy)")
    if benchmark and acts is not None:
        raise EieError("--benchmark generates its own activations; drop --acts")
    if layer_name is not None and model is None:
        raise EieError("--layer selects a layer of --model")


def _load_npy(path: str, what: str) -> np.ndarray:
    """A plain numeric ``.npy`` array; its header is checked against the file's size first, so
    a header declaring a huge shape is refused before anything is allocated."""
    try:
        with open(path, "rb") as f:
            try:
                version = np.lib.format.read_magic(f)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) \
                    else np.lib.format.read_array_header_2_0
                shape, _, dtype = read_header(f)
            except (ValueError, EOFError, SyntaxError):
                raise EieError(f"{what} file {path} is not a .npy array file") from None
            data_bytes = os.fstat(f.fileno()).st_size - f.tell()
    except FileNotFoundError:
        raise EieError(f"{what} file not found: {path}") from None
    except IsADirectoryError:
        raise EieError(f"{what} file {path} is a folder") from None
    if dtype.hasobject:
        raise EieError(f"{what} file {path} holds Python objects; eiesim loads numeric arrays only")
    expected = math.prod(shape) * dtype.itemsize
    if data_bytes != expected:
        raise EieError(f"{what} file {path} declares a {' x '.join(map(str, shape)) or 'scalar'} {dtype} array "
                       f"({expected} bytes) but holds {data_bytes} bytes of data")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise EieError(f"cannot read {what} from {path}: {' '.join(str(exc).split())}") from None


def _weights_job(weights: str, acts: str, config):
    from compressor.csc import compress_layer

    a, w = _load_npy(acts, "activations"), _load_npy(weights, "weights")
    name = Path(weights).stem
    if a.ndim == 1 and w.ndim == 2 and a.size != w.shape[1]:  # before the encoding, which can take long
        raise EieError(f"activations have length {a.size} but layer {name} has {w.shape[1]} inputs")
    layer = compress_layer(w, config, name=name)
    return layer, a, config


def _model_layer(path: str, name: str | None):
    """The chosen layer of a compressed model file, and the config it was encoded for."""
    from eiesim.modelfile import load_model

    model = load_model(path)
    named = {layer.name: layer for layer in model.layers}
    if name is None:
        if len(named) != 1:
            raise EieError(f"model {path} has {len(named)} layers; pick one with --layer ({', '.join(named)})")
        name = next(iter(named))
    if name not in named:
        raise EieError(f"model {path} has no layer {name!r}; it has {', '.join(named)}")
    return named[name], model.config


def _workload(benchmark, mode, row_cv, col_cv, act_cv, n_inputs):
    """The benchmark workload; its options are errors without --benchmark."""
    from workloads.benchmarks import make_workload

    if benchmark is None:
        if n_inputs > 1 or mode != "uniform" or any(v is not None for v in (row_cv, col_cv, act_cv)):
            raise EieError("--workload, --row-cv, --col-cv, --act-cv and --inputs go with --benchmark")
        return None
    return make_workload(mode, row_cv, col_cv, act_cv)


def _benchmark_names(benchmark: str) -> list[str]:
    from workloads.benchmarks import benchmark_names

    return benchmark_names(benchmark)


def _benchmark_jobs(benchmark: str, seed: int, config, load):
    from eiesim.progress import over_layers
    from workloads.benchmarks import benchmark_layer

    names = _benchmark_names(benchmark)
    return [(*benchmark_layer(name, config, seed, load), config) for name in over_layers(names, len(names), "layers")]


def _latency_distribution(benchmark, seed, load, n_inputs, config, engine, outputs, json_out) -> None:
    """Each layer over ``n_inputs`` seeded inputs: per-input cycles, time and energy, and
    the distribution (p50 / p95 by numpy's linear interpolation, max)."""
    from tqdm.auto import tqdm

    from eiesim.simulation import simulate as run_simulation
    from workloads.benchmarks import benchmark_activation_batch, benchmark_layer

    docs = []
    click.echo(f"workload: {load.label()}; {n_inputs} inputs per layer, seed {seed}, N = {config.n_pe}, "
               f"D = {config.queue_depth}")
    click.echo(f"{'layer':<9}{'act dens':>9}{'p50 us':>9}{'p95 us':>9}{'max us':>9}{'mean us':>9}"
               f"{'energy uJ':>11}  engine")
    for name in _benchmark_names(benchmark):
        layer, _ = benchmark_layer(name, config, seed, load)
        frames = benchmark_activation_batch(name, n_inputs, seed, load)
        chosen = _resolve_engine(engine, layer, config)
        runs = [run_simulation(layer, frames[:, i], config, engine=chosen)
                for i in tqdm(range(n_inputs), desc=name, unit="input", leave=False)]
        cycles = np.array([r.cycles for r in runs])
        time_us = cycles / config.clock_mhz
        energy = np.array([r.energy.total for r in runs])
        density = np.count_nonzero(frames, axis=0) / frames.shape[0]
        stats = {"p50": float(np.percentile(time_us, 50)), "p95": float(np.percentile(time_us, 95)),
                 "max": float(time_us.max()), "mean": float(time_us.mean()), "min": float(time_us.min())}
        click.echo(f"{name:<9}{density.mean():>9.3f}{stats['p50']:>9.2f}{stats['p95']:>9.2f}{stats['max']:>9.2f}"
                   f"{stats['mean']:>9.2f}{energy.mean() / 1e6:>11.3f}  {chosen}")
        docs.append({"layer": name, "workload": load.__dict__ | {"label": load.label()}, "seed": seed,
                     "inputs": n_inputs, "n_pe": config.n_pe, "queue_depth": config.queue_depth,
                     "timing": config.timing, "settings": config.settings(), "engine": chosen,
                     "time_us": stats, "cycles": cycles.tolist(), "act_density": density.tolist(),
                     "energy_pj": energy.tolist(), "energy_pj_mean": float(energy.mean())})
    if json_out is not None:
        outputs.publish({"--json": text_writer(json_text(docs[0] if len(docs) == 1 else docs))})


def _resolve_engine(choice: str, layer, config) -> str:
    """``auto``: the reference engine for a small layer (it implements every timing rule), else the fast one."""
    if choice == "auto":
        return "reference" if layer.n_entries <= AUTO_REFERENCE_MAX_ENTRIES else "fast"
    return choice


def _check_trace_size(layer, acts, config, line_trace: bool, trace_pes, trace_cycles):
    """The PEs and cycles --trace shows (None: all); a note on stderr when the defaults cut it."""
    from eiesim.trace import choose_window

    slices = layer.n_blocks * int(np.count_nonzero(acts)) * config.n_pe
    if slices > PERFETTO_MAX_SLICES:
        raise EieError(f"the trace would hold {slices} column slices, more than {PERFETTO_MAX_SLICES}")
    if not line_trace:
        return None, None
    if config.n_pe > TRACE_MAX_PES and trace_pes is None:
        raise EieError(f"--trace is for small layers (N <= {TRACE_MAX_PES}); {layer.name or 'this layer'} has "
                       f"N = {config.n_pe}: pick PEs with --trace-pes")
    large = layer.n_blocks * layer.shape[1] + layer.n_entries > TRACE_MAX_SIZE
    pes, cycles, note = choose_window(config.n_pe, large, trace_pes, trace_cycles)
    if note:
        click.echo(f"eiesim: {note}", err=True)
    return pes, cycles


def _recorder(engine: str):
    """The observer of a traced run: the reference engine also writes its line trace."""
    from eiesim.engines import ScheduleRecorder

    if engine == "reference":
        from eiesim.engines.reference import LineTrace

        return LineTrace()
    return ScheduleRecorder()


def _dropped_fraction(acts, config) -> float | None:
    """Under eie-cpp, the fraction of non-zero inputs the profile drops (it broadcasts only
    a > 0, SPEC §5.1); None under the other profiles."""
    if config.timing != "eie-cpp":
        return None
    a = np.asarray(acts, np.float64)
    nonzero = np.count_nonzero(a)
    return float(np.count_nonzero(a < 0) / nonzero) if nonzero else 0.0


DROPPED_NOTE = ("eie-cpp broadcasts only positive inputs (SPEC §5.1): 'dropped' is the fraction of the non-zero "
                "inputs it skips, work that the spec profile does")


def _summary(layer, result, config, dropped: float | None = None) -> None:
    m, k = layer.shape
    metrics = result.metrics
    click.echo(
        f"{layer.name or 'layer'}: {m} x {k}, {layer.n_blocks} row block(s), {config.describe()}, "
        f"engine {result.engine}"
    )
    rows = [
        ("cycles", f"{result.cycles}"),
        ("time_us", f"{result.time_us:.3f}"),
        ("load efficiency", f"{metrics['load_efficiency']:.3f}"),
        ("imbalance", f"{metrics['imbalance']:.3f}"),
        ("real work fraction", f"{metrics['real_work_fraction']:.3f}"),
        *[(f"energy ({m.model})", f"{m.total / 1e6:.4g} uJ") for m in result.energy.estimates],
        ("fits SRAM", "yes" if result.fit.fits else "no: " + "; ".join(result.fit.problems())),
        *([("weights", f"streamed from DRAM: {result.counters.dram_bytes} bytes, "
                       f"{result.counters.dram_stall_cycles} PE cycles waiting for data")]
          if result.fit.weights == "streamed" else []),
        ("engine run (s)", f"{result.sim_wall_s:.3g} (the simulation alone: not loading, encoding or compiling)"),
    ]
    if dropped is not None:
        rows.append(("dropped inputs", f"{dropped:.3f} ({DROPPED_NOTE})"))
    for name, value in rows:
        click.echo(f"  {name:<20}{value}")


def _table(results, dropped) -> None:
    show_dropped = any(d is not None for d in dropped)
    extra = f"{'dropped':>9}" if show_dropped else ""
    click.echo(f"{'layer':<9}{'cycles':>9}{'time_us':>10}{'load_eff':>10}{'real_work':>11}{'imbalance':>11}"
               f"{'energy_uJ':>11}{extra}  {'fits':<5}{'engine':<10}{'wall_s':>8}")
    for (layer, r, _), d in zip(results, dropped):
        m = r.metrics
        extra = f"{d:>9.3f}" if show_dropped else ""
        click.echo(
            f"{layer.name:<9}{r.cycles:>9}{r.time_us:>10.2f}{m['load_efficiency']:>10.3f}"
            f"{m['real_work_fraction']:>11.3f}{m['imbalance']:>11.3f}{r.energy.total / 1e6:>11.3f}{extra}  "
            f"{'yes' if r.fit.fits else 'NO':<5}"
            f"{r.engine:<10}{r.sim_wall_s:>8.3f}"
        )
    cycles = sum(r.cycles for _, r, _ in results)
    wall = sum(r.sim_wall_s for _, r, _ in results)
    energy = sum(r.energy.total for _, r, _ in results) / 1e6
    click.echo(f"{'total':<9}{cycles:>9}{sum(r.time_us for _, r, _ in results):>10.2f}{'':>32}{energy:>11.3f}"
               f"{'':>{9 * show_dropped + 17}}{wall:>8.3f}")
    click.echo(f"energy_uJ: event model; fits: the layer fits every PE SRAM (NO: see --json 'fit', or simulate the "
               f"layer alone); wall_s: the engine's run alone" + (f"; {DROPPED_NOTE}" if show_dropped else ""))
