"""``eiesim baseline``: time PyTorch dense and CSR layers on this machine against simulated EIE."""

from __future__ import annotations

import click

from eiecore.atomic import check_outputs, json_text, text_writer
from eiecore.errors import EieError
from eiesim.cli import BATCH, SEED, FiniteFloatRange, config_fields, config_option
from eiesim.engines import engine_names
from workloads.sampling import MAX_REPEATS_FACTOR, MAX_SPREAD, MIN_SAMPLE_S


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--benchmark", "benchmark", default="all", show_default=True,
              help="One of the nine layers (e.g. VGG-6), or all.")
@click.option("--device", "devices", multiple=True, type=click.Choice(["cpu", "cuda"]),
              help="Repeatable. [default: cpu, plus cuda when torch sees a GPU]")
@click.option("--batch", "batches", multiple=True, type=BATCH, default=(1, 64),
              show_default=True, help="Frames per call, repeatable; above 1 a matrix-matrix product, reported per frame.")
@click.option("--repeats", default=10, show_default=True, type=click.IntRange(min=1),
              help=f"Least timed samples per timing (each of enough calls to last {MIN_SAMPLE_S * 1e3:g} ms); up "
                   f"to {MAX_REPEATS_FACTOR}x as many while the spread is above --max-spread.")
@click.option("--warmup", default=3, show_default=True, type=click.IntRange(min=0),
              help="Untimed calls before each timing.")
@click.option("--max-spread", default=MAX_SPREAD, show_default=True, type=FiniteFloatRange(min=0, min_open=True),
              help="Largest accepted interquartile range / median of a timing; above it the timing is marked "
                   "unstable and left out of the geometric means.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch threads (torch.set_num_threads); one keeps a shared machine's noise lowest.")
@click.option("--seed", default=0, show_default=True, type=SEED,
              help="Seed of the generated layer weights and input frames.")
@click.option("--pes", type=click.IntRange(min=0),
              help="PEs of the simulated EIE column (0: do not simulate) [default: 64].")
@click.option("--engine", type=click.Choice(list(engine_names())), default="fast", show_default=True,
              help="Simulator engine.")
@click.option("--energy-seconds", default=0.5, show_default=True, type=FiniteFloatRange(min=0, min_open=True),
              help="Least run time per energy reading (RAPL/NVML, where readable).")
@click.option("--json", "json_out", metavar="OUT", default=None,
              help="Write the full report here (atomically).")
@config_option
def baseline(benchmark, devices, batches, repeats, warmup, max_spread, threads, seed, pes, engine, energy_seconds,
             json_out, settings):
    """Time W @ a (dense and CSR, PyTorch) per layer and compare with simulated EIE.

    The headline is the geometric mean, over the layers with stable timings, of the median
    CPU dense batch-1 time per frame (thread CPU time with one thread) over the simulated
    EIE time; it is printed with the thread count and the machine's load average.
    """
    from eiesim.config import ArchConfig
    from workloads.baselines import run_baselines

    if pes == 0 and settings:
        raise EieError("--set configures the simulated EIE, which --pes 0 turns off")
    eie = None if pes == 0 else ArchConfig.make(**config_fields(settings, n_pe=pes))
    outputs = check_outputs({"--json": json_out})
    names = benchmark  # "all" or one name; run_baselines expands it
    report = run_baselines(
        names, list(devices) or None, batches, repeats, warmup, threads, seed,
        eie=eie, engine=engine, energy_seconds=energy_seconds,
        progress=lambda msg: click.echo(msg, err=True), max_spread=max_spread,
    )
    click.echo(report.to_markdown())
    if json_out is not None:
        outputs.publish({"--json": text_writer(json_text(report.to_dict()))})
        click.echo(f"wrote {json_out}")
