"""``eiesim study``: measured studies that answer one question each (application layer:
``eiesim.paper``). ``heterogeneity`` re-measures the heterogeneous workload's parameters."""

from __future__ import annotations

import click

from eiesim.cli import SEED

SETTINGS = {"help_option_names": ["-h", "--help"]}


@click.group(context_settings=SETTINGS)
def study() -> None:
    """Measured studies: workload heterogeneity, balanced pruning, pruning-to-performance ratio."""


@study.command(context_settings=SETTINGS)
@click.option("--seed", type=SEED, default=0, show_default=True, help="seed of LeNet-300-100's training")
@click.option("--reduced", is_flag=True, help="LeNet with the short test settings (seconds, not a minute)")
@click.option("--json", "json_out", metavar="OUT", help="write the measurements as JSON to OUT")
def heterogeneity(seed, reduced, json_out) -> None:
    """Spread of non-zeros per row / column and of the input density over inputs, measured on
    the EIE authors' AlexNet fc8 (when its data is present) and on a pruned LeNet-300-100."""
    from eiesim.atomic import check_outputs, json_text, text_writer
    from eiesim.errors import EieError
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
