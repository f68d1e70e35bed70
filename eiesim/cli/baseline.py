"""``eiesim baseline``: time PyTorch dense and CSR layers on this machine against simulated EIE."""

from __future__ import annotations

import click

from eiesim.atomic import check_outputs, json_text, text_writer
from eiesim.cli import SEED, FiniteFloatRange
from eiesim.engines import engine_names


@click.command()
@click.option("--benchmark", "benchmark", default="all", show_default=True,
              help="One of the nine layers (e.g. VGG-6), or all.")
@click.option("--device", "devices", multiple=True, type=click.Choice(["cpu", "cuda"]),
              help="Repeatable. Default: cpu, plus cuda when torch sees a GPU.")
@click.option("--batch", "batches", multiple=True, type=click.IntRange(min=1), default=(1, 64),
              show_default=True, help="Repeatable; >1 is matrix-matrix, reported per frame.")
@click.option("--repeats", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--warmup", default=3, show_default=True, type=click.IntRange(min=0))
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch.set_num_threads (default: torch's choice).")
@click.option("--seed", default=0, show_default=True, type=SEED, help="Seed of the benchmark weights and activations.")
@click.option("--pes", default=64, show_default=True, type=click.IntRange(min=0),
              help="PEs of the simulated EIE column (0: do not simulate).")
@click.option("--engine", type=click.Choice(list(engine_names())), default="fast", show_default=True,
              help="Simulator engine.")
@click.option("--energy-seconds", default=0.5, show_default=True, type=FiniteFloatRange(min=0, min_open=True),
              help="Minimum run per energy reading (RAPL/NVML, where readable).")
@click.option("--json", "json_out", metavar="OUT", default=None,
              help="Write the full report here (atomically).")
def baseline(benchmark, devices, batches, repeats, warmup, threads, seed, pes, engine, energy_seconds, json_out):
    """Time W @ a (dense and CSR, PyTorch) per layer and compare with simulated EIE."""
    from workloads.baselines import run_baselines

    outputs = check_outputs({"--json": json_out})
    names = None if benchmark.lower() == "all" else [benchmark]
    report = run_baselines(
        names, list(devices) or None, batches, repeats, warmup, threads, seed,
        eie_pes=pes or None, engine=engine, energy_seconds=energy_seconds,
        progress=lambda msg: click.echo(msg, err=True),
    )
    click.echo(report.to_markdown())
    if json_out is not None:
        outputs.publish({"--json": text_writer(json_text(report.to_dict()))})
        click.echo(f"wrote {json_out}")
