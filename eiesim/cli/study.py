"""``eiesim study``: measured studies that answer one question each (application layer:
``eiesim.paper``): ``heterogeneity`` re-measures the heterogeneous workload's parameters; ``balance``
compares balanced with magnitude pruning; ``ppr`` measures the pruning-to-performance ratio;
``table4`` explains EIE Table IV."""

from __future__ import annotations

import click

from eiesim.cli import INPUTS, SEED, config_fields, config_option

SETTINGS = {"help_option_names": ["-h", "--help"]}


@click.group(context_settings=SETTINGS)
def study() -> None:
    """Measured studies: workload heterogeneity, balanced pruning, pruning-to-performance ratio,
    EIE Table IV explained."""


@study.command(context_settings=SETTINGS)
@click.option("--seed", type=SEED, default=0, show_default=True, help="seed of LeNet-300-100's training")
@click.option("--reduced", is_flag=True, help="LeNet with the short test settings (seconds, not a minute)")
@click.option("--json", "json_out", metavar="OUT", help="write the measurements as JSON to OUT")
def heterogeneity(seed, reduced, json_out) -> None:
    """Spread of non-zeros per row / column and of the input density over inputs, measured on
    the EIE authors' AlexNet fc8 (when its data is present) and on a pruned LeNet-300-100."""
    from eiecore.atomic import check_outputs, json_text, text_writer
    from eiecore.errors import EieError
    from eiesim.paper.heterogeneity import measure_fc8, measure_lenet
    from workloads.lenet import LeNetSettings

    outputs = check_outputs({"--json": json_out})
    rows = []
    try:
        rows.append(measure_fc8())
    except EieError as exc:
        click.echo(f"skipped fc8: {exc}", err=True)
    rows += measure_lenet(LeNetSettings.reduced() if reduced else LeNetSettings.full(), seed)
    click.echo(f"{'layer':<34}{'density':>8}{'row CV':>8}{'(unif)':>8}{'col CV':>8}{'(unif)':>8}"
               f"{'rows min..max':>15}{'act dens':>9}{'act CV':>8}")
    for r in rows:
        act_cv = r.get("act_density_cv")
        click.echo(f"{r['layer']:<34}{r['density']:>8.4f}{r['row_cv']:>8.3f}{r['row_cv_uniform']:>8.3f}"
                   f"{r['col_cv']:>8.3f}{r['col_cv_uniform']:>8.3f}{r['row_min']:>7}..{r['row_max']:<6}"
                   f"{r['act_density']:>9.3f}{'' if act_cv is None else f'{act_cv:.3f}':>8}")
    if json_out is not None:
        outputs.publish({"--json": text_writer(json_text(rows))})



def _layers(text: str) -> list[str]:
    from workloads.benchmarks import BENCHMARKS, get_benchmark

    if text.lower() == "all":
        return list(BENCHMARKS)
    if text.lower() == "none":
        return []
    return [get_benchmark(name.strip()).name for name in text.split(",") if name.strip()]


def _floats(text: str, what: str) -> tuple[float, ...]:
    from eiecore.errors import EieError

    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise EieError(f"{what} must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise EieError(f"{what} is empty")
    return values


def _base(settings: tuple[str, ...], varied: tuple[str, ...] = (), **named):
    """The machine a study runs on: its named options and ``--set`` fields over the defaults;
    a field the study varies itself (``varied``) is refused."""
    from eiecore.errors import EieError
    from eiesim.config import ArchConfig

    fields = config_fields(settings, **named)
    for name in varied:
        if name in fields:
            raise EieError(f"--set {name}: eiesim study {click.get_current_context().info_name} varies {name} itself")
    return ArchConfig.make(**fields)


def _out_folder(out):
    from eiecore.atomic import check_output_folder

    if out is None:
        return None
    return check_output_folder("--out", out)  # made by the first _save: a failed study leaves none


def _save(folder, name: str, df) -> None:
    from eiecore.atomic import write_atomic

    if folder is not None:
        folder.mkdir(exist_ok=True)
        write_atomic(folder / f"{name}.parquet", lambda tmp: df.to_parquet(tmp, index=False))


@study.command(context_settings=SETTINGS)
@click.option("--layers", default="all", show_default=True, help="benchmark layers: 'all' or names separated by commas")
@click.option("--workload", "modes", type=click.Choice(["both", "uniform", "heterogeneous"]), default="both",
              show_default=True, help="workload mode(s) of the layers and inputs")
@click.option("--inputs", type=INPUTS, default=3, show_default=True, help="inputs per layer (cycles are their mean)")
@click.option("--group", type=int, default=1, show_default=True,
              help="besides whole-layer balancing, balance every G columns (G divides K; 0: whole layer only)")
@click.option("--pes", type=int, help="number of PEs N (the shares of balanced pruning) [default: 64]")
@click.option("--seed", type=SEED, default=0, show_default=True, help="seed of layers and inputs")
@click.option("--out", metavar="DIR", help="write balance.parquet there")
@click.option("--no-progress", is_flag=True, help="no progress bar")
@config_option
def balance(layers, modes, inputs, group, pes, seed, out, no_progress, settings) -> None:
    """Load-balance-aware (balanced) against magnitude pruning at equal density: load efficiency,
    imbalance and cycles per benchmark layer and workload mode, on the machine --pes and --set give."""
    from eiecore.errors import EieError
    from eiesim.paper.pruning import BALANCE_COLUMNS, balance_study
    from eiesim.paper.report import markdown_table

    if group < 0 or (pes is not None and pes < 1):
        raise EieError("--pes must be at least 1 and --group at least 0")
    base = _base(settings, n_pe=pes)
    names = _layers(layers)
    if not names:
        raise EieError("--layers none leaves nothing to compare")
    folder = _out_folder(out)
    chosen = ("uniform", "heterogeneous") if modes == "both" else (modes,)
    df = balance_study(names, chosen, base.n_pe, inputs, seed, (None, group) if group else (None,),
                       progress=not no_progress, base=base)
    _save(folder, "balance", df)
    click.echo(markdown_table(df[BALANCE_COLUMNS], ".4g"))


@study.command(context_settings=SETTINGS)
@click.option("--layers", default="Alex-7,VGG-7,NT-LSTM", show_default=True,
              help="benchmark layers: 'all', 'none' (LeNet only) or names separated by commas [--full: all]")
@click.option("--densities", default="0.5,0.2,0.1,0.05", show_default=True,
              help="kept fractions to sweep [--full: 0.7,0.5,0.35,0.2,0.1,0.07,0.04,0.02]")
@click.option("--inputs", type=INPUTS, default=2, show_default=True, help="inputs per layer (cycles are their mean)")
@click.option("--lenet/--no-lenet", default=True, show_default=True,
              help="also LeNet-300-100 at equal accuracy (pruned fc1 + fc2, retrained)")
@click.option("--margin", type=float, default=0.01, show_default=True,
              help="equal accuracy = dense test accuracy minus this")
@click.option("--full", is_flag=True, help="all nine layers, eight densities, full LeNet training (tens of minutes)")
@click.option("--pes", type=int, help="number of PEs N [default: 64]")
@click.option("--seed", type=SEED, default=0, show_default=True, help="seed of layers, inputs and training")
@click.option("--out", metavar="DIR", help="write the tables (Parquet) and figures (PNG, SVG) there")
@click.option("--no-progress", is_flag=True, help="no progress bars")
@config_option
def ppr(layers, densities, inputs, lenet, margin, full, pes, seed, out, no_progress, settings) -> None:
    """Pruning-to-performance ratio on EIE: unstructured, balanced, row, column and block pruning
    swept over the pruning rate; cycles, energy, storage, speedup over dense, PPR = rate / speedup;
    on the machine --pes and --set give."""
    from click.core import ParameterSource

    from eiecore.errors import EieError
    from eiesim.paper.pruning import (
        LENET_COLUMNS, PPR_COLUMNS, LeNetPruning, lenet_answer, lenet_study, ppr_study, speedup_figure,
        storage_accuracy_figure,
    )
    from eiesim.paper.report import markdown_table

    ctx = click.get_current_context()
    if full and ctx.get_parameter_source("layers") == ParameterSource.DEFAULT:
        layers = "all"
    if full and ctx.get_parameter_source("densities") == ParameterSource.DEFAULT:
        densities = "0.7,0.5,0.35,0.2,0.1,0.07,0.04,0.02"
    if pes is not None and pes < 1:
        raise EieError("--pes must be at least 1")
    base = _base(settings, n_pe=pes)
    if not 0.0 <= margin < 1.0:
        raise EieError(f"--margin must lie in [0, 1), got {margin}")
    names, rates = _layers(layers), _floats(densities, "--densities")
    if not names and not lenet:
        raise EieError("nothing to run: --layers none with --no-lenet")
    folder = _out_folder(out)
    if names:
        points = ppr_study(names, rates, base.n_pe, inputs, seed, progress=not no_progress, base=base)
        _save(folder, "ppr", points)
        click.echo(markdown_table(points[[c for c in PPR_COLUMNS if c in points]], ".4g"))
        if folder is not None:
            speedup_figure(points, folder / "ppr_speedup")
    if lenet:
        pruning = LeNetPruning(margin=margin, n_pe=base.n_pe) if full else LeNetPruning.quick()
        if not full:
            pruning = LeNetPruning(**{**pruning.__dict__, "margin": margin, "n_pe": base.n_pe})
        lenet_points, chosen = lenet_study(pruning, seed, progress=not no_progress, base=base)
        _save(folder, "ppr_lenet", lenet_points)
        _save(folder, "ppr_lenet_equal_accuracy", chosen)
        click.echo("\nLeNet-300-100 (fc1 + fc2 pruned and retrained, fc3 dense):\n")
        click.echo(markdown_table(lenet_points[[c for c in LENET_COLUMNS if c in lenet_points]], ".4g"))
        click.echo("\nEqual accuracy:\n")
        click.echo(markdown_table(chosen[[c for c in LENET_COLUMNS + ["reaches_target"] if c in chosen]], ".4g"))
        click.echo("\n" + lenet_answer(chosen, pruning, seed))
        if folder is not None:
            storage_accuracy_figure(lenet_points, folder / "ppr_lenet_storage_accuracy")


@study.command(context_settings=SETTINGS)
@click.option("--layers", default="all", show_default=True, help="benchmark layers: 'all' or names separated by commas")
@click.option("--inputs", type=INPUTS, default=100, show_default=True,
              help="inputs per layer (times are their mean, given with its standard error)")
@click.option("--seed", type=SEED, default=0, show_default=True, help="seed of layers and inputs")
@click.option("--out", metavar="DIR", help="write table4_validation.parquet (and table4_real_fc8.parquet) there")
@click.option("--no-progress", is_flag=True, help="no progress bar")
@config_option
def table4(layers, inputs, seed, out, no_progress, settings) -> None:
    """EIE Table IV explained: the paper's theoretical and actual times beside ours under both
    timing profiles and both workload modes, and the gap split into measured causes (the same
    section as in 'eiesim paper'). --set gives the machine, any field but timing (both profiles are
    run); the Parquet table's metadata records the fields set (config)."""
    from eiecore.errors import EieError
    from eiesim.paper.table4 import VARIED, markdown, real_fc8, validation

    base = _base(settings, VARIED)
    names = _layers(layers)
    if not names:
        raise EieError("--layers none leaves nothing to validate")
    folder = _out_folder(out)
    df = validation(names, inputs, seed, progress=not no_progress, base=base)
    real = real_fc8(base=base)
    _save(folder, "table4_validation", df)
    if len(real):
        _save(folder, "table4_real_fc8", real)
    click.echo(markdown(df, real))


@study.command(context_settings=SETTINGS)
@click.option("--model", type=click.Choice(["tinyllama-1.1b", "llama2-7b"]), default="tinyllama-1.1b",
              show_default=True, help="decoder-layer shapes (workloads/llm.py): TinyLlama-1.1B (quick) or LLaMA-2-7B")
@click.option("--methods", default="magnitude,wanda,2:4,balanced", show_default=True,
              help="pruning methods: magnitude, wanda (same count per output row), 2:4 (density 0.5 only), "
                   "balanced (ESE: same count per PE in every column)")
@click.option("--densities", default="0.6,0.4,0.25", show_default=True, help="kept fractions of the weights")
@click.option("--activations", default="dense,teal,relufied", show_default=True,
              help="per-token activations: dense, teal (50 %% zeros), relufied (89 %% zeros into the down projection)")
@click.option("--pes", default="64,256", show_default=True, help="PE counts N")
@click.option("--bandwidths", default="64,1280", show_default=True,
              help="DRAM bytes per cycle (at 800 MHz: 64 = 51.2 GB/s LPDDR5-class, 1280 = 1 TB/s HBM-class)")
@click.option("--measured", is_flag=True,
              help="also time PyTorch dense and CSR products of the same shapes at batch 1, one thread, on this "
                   "CPU (and the GPU when present): llm_measured.parquet")
@click.option("--seed", type=SEED, default=0, show_default=True, help="seed of weights and activations")
@click.option("--json", "json_out", metavar="OUT", help="write the rows and break-even densities as JSON to OUT")
@click.option("--out", metavar="DIR", help="write llm.parquet, llm_break_even.parquet and the figure llm_bytes (PNG, SVG) there")
@click.option("--no-progress", is_flag=True, help="no progress bar")
@config_option
def llm(model, methods, densities, activations, pes, bandwidths, measured, seed, json_out, out, no_progress,
        settings) -> None:
    """LLM decode at batch 1 with weights streamed from DRAM (SPEC §5.2): tokens/s, GB, mJ and load
    efficiency per token against dense INT4 / INT8 streams, with the break-even density. Synthetic
    weights only: no real weights are used. --set gives the machine, any field but n_pe (--pes), weights
    (streamed) and dram_bytes_per_cycle (--bandwidths); the JSON records the fields set (settings)."""
    from eiecore.atomic import check_outputs, json_text, text_writer
    from eiecore.errors import EieError
    from eiesim.paper.llm import (
        LLM_COLUMNS, NOTE, VARIED, break_even, bytes_figure, dense_bytes, llm_study, measured_baseline,
    )
    from eiesim.paper.report import markdown_table
    from workloads.llm import ACTIVATIONS, METHODS

    base = _base(settings, VARIED)
    chosen_methods = [m.strip() for m in methods.split(",") if m.strip()]
    chosen_acts = [a.strip() for a in activations.split(",") if a.strip()]
    for name, values, allowed in (("--methods", chosen_methods, METHODS), ("--activations", chosen_acts, ACTIVATIONS)):
        bad = [v for v in values if v not in allowed]
        if bad or not values:
            raise EieError(f"{name} must name some of {', '.join(allowed)}, got {bad or 'nothing'}")
    rates = _floats(densities, "--densities")
    if any(not 0.0 < d <= 1.0 for d in rates):
        raise EieError(f"--densities must lie in (0, 1], got {densities!r}")
    counts = [int(v) for v in _floats(pes, "--pes")]
    widths = [int(v) for v in _floats(bandwidths, "--bandwidths")]
    if min(counts) < 1 or min(widths) < 1:
        raise EieError("--pes and --bandwidths must be positive integers")
    if "2:4" in chosen_methods and 0.5 not in rates and len(chosen_methods) == 1:
        raise EieError("2:4 runs at density 0.5 only: add 0.5 to --densities")
    outputs = check_outputs({"--json": json_out})
    folder = _out_folder(out)
    df = llm_study(model, chosen_methods, rates, chosen_acts, counts, widths, seed, progress=not no_progress,
                   base=base)
    even = break_even(df, model)
    _save(folder, "llm", df)
    _save(folder, "llm_break_even", even)
    if folder is not None:
        bytes_figure(df, model, folder / "llm_bytes")
    click.echo(NOTE + "\n")
    click.echo(markdown_table(df[LLM_COLUMNS], ".4g"))
    dense = dense_bytes(model)
    click.echo(f"\nDense weight streams: INT4 {dense['int4']:.3g} GB per token, INT8 {dense['int8']:.3g} GB per token.")
    click.echo("Break-even density (EIE's bytes per token = the dense stream's; n/a: outside the densities run):\n")
    click.echo(markdown_table(even, ".4g"))
    doc = {"note": NOTE, "settings": base.settings(), "rows": df.to_dict(orient="records"),
           "break_even": even.astype(object).where(even.notna(), None).to_dict(orient="records")}
    if measured:
        cpu = measured_baseline(model, rates, seed, progress=not no_progress)
        _save(folder, "llm_measured", cpu)
        click.echo("\nMeasured here, PyTorch at batch 1 with one thread (magnitude-pruned weights, dense "
                   "activations):\n")
        click.echo(markdown_table(cpu, ".4g"))
        doc["measured"] = cpu.to_dict(orient="records")
    if json_out is not None:
        outputs.publish({"--json": text_writer(json_text(doc))})
