"""``eiesim lenet``: train, Deep-Compress and run LeNet-300-100 (digits) on simulated EIE."""

from __future__ import annotations

import click

from eiesim.cli import SEED, config_fields, config_option
from eiesim.engines import engine_names


@click.command()
@click.option("--full", is_flag=True, help="The full setting (longer training, all test images on EIE).")
@click.option("--seed", default=0, show_default=True, type=SEED, help="Seed of the data split, training and sampling.")
@click.option("--pes", type=click.IntRange(min=1), help="PEs of the simulated EIE [default: 64].")
@click.option("--engine", type=click.Choice(list(engine_names())), default="fast", show_default=True,
              help="Simulator engine.")
@click.option("--json", "json_out", metavar="OUT", default=None,
              help="Write the full result here (atomically).")
@click.option("--export", "export_dir", metavar="DIR", default=None,
              help="Write lenet.eie (the compressed network), test_x.npy, test_y.npy and train_x.npy (digits) "
                   "into this folder (created if missing), for 'eiesim infer'.")
@config_option
def lenet(full, seed, pes, engine, json_out, export_dir, settings):
    """LeNet-300-100 end to end: accuracy per stage, storage, EIE cycles and energy."""
    from dataclasses import replace

    from eiecore.atomic import check_output_folder, check_outputs, filled_folder, json_text, text_writer
    from eiesim.config import ArchConfig
    from workloads.lenet import LeNetSettings, export_lenet, run_lenet

    outputs = check_outputs({"--json": json_out})
    folder = None if export_dir is None else check_output_folder("--export", export_dir)
    base = LeNetSettings.full() if full else LeNetSettings.reduced()
    fields = config_fields(settings, n_pe=pes)
    machine = ArchConfig.make(**{"weight_bits": base.weight_bits, **fields})  # checked before any training
    others = tuple(sorted((k, v) for k, v in fields.items() if k not in ("n_pe", "weight_bits")))
    chosen = replace(base, n_pe=machine.n_pe, weight_bits=machine.weight_bits, eie_settings=others)
    result = run_lenet(chosen, seed, engine, progress=lambda msg: click.echo(msg, err=True))
    click.echo(result.to_markdown())
    if json_out is not None:
        outputs.publish({"--json": text_writer(json_text(result.to_dict()))})
        click.echo(f"wrote {json_out}")
    if folder is not None:
        with filled_folder(folder):
            for path in export_lenet(result, folder):
                click.echo(f"wrote {path}")
