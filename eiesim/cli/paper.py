"""``eiesim paper``: regenerate the evaluation (report, figures, data) into a folder."""

from __future__ import annotations

import click

from eiesim.cli import MAX_JOBS, SEED
from eiesim.engines import engine_names


@click.command()
@click.option("--out", type=click.Path(file_okay=False), default="results", show_default=True,
              help="output folder: report.md, figures/, data/, sweep/")
@click.option("--full", is_flag=True, help="complete grids, every layer in every study, more repeats")
@click.option("--smoke", is_flag=True, help="a seconds-long run on one small layer (tests, CI)")
@click.option("--seed", type=SEED, default=0, show_default=True, help="seed of every generated layer and input")
@click.option("--jobs", "-j", type=int, default=-1, show_default=True, help="sweep worker processes (-1: all cores)")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="weight-shared layer cache [default: $XDG_CACHE_HOME/eiesim/layers]")
@click.option("--engine", type=click.Choice(list(engine_names())), default="fast", show_default=True,
              help="simulation engine")
@click.option("--no-progress", is_flag=True, help="no progress bars")
def paper(out, full, smoke, seed, jobs, cache_dir, engine, no_progress) -> None:
    """Run the whole evaluation (EIE Table IV, Figs 6-13, LeNet, storage) into OUT."""
    import time

    from eiecore.atomic import check_output_folder
    from eiecore.errors import EieError
    from eiesim.paper import PaperSettings, run_paper
    from eiesim.sweep import local_executor

    check_output_folder("--out", out)
    if cache_dir is not None:
        check_output_folder("--cache-dir", cache_dir)
    if full and smoke:
        raise EieError("give either --full or --smoke, not both")
    if jobs == 0 or not -1 <= jobs <= MAX_JOBS:
        raise EieError(f"--jobs must be -1 (all cores) or 1..{MAX_JOBS}, got {jobs}")
    settings = PaperSettings.for_mode("full" if full else "smoke" if smoke else "default", seed)
    t0 = time.perf_counter()
    run = run_paper(out, settings, local_executor(jobs), cache_dir, engine, progress=not no_progress)
    parts = len(list((run.out / "sweep").glob("part-*.parquet")))
    click.echo(f"paper: report, figures and data ({len(run.files)} files) and the sweep store ({parts} parts, "
               f"{run.out / 'sweep'}) in {time.perf_counter() - t0:.0f} s; report: {run.out / 'report.md'}")
