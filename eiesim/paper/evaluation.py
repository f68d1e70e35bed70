"""``eiesim paper``: every stage of the evaluation, from nothing to ``results/report.md``.

Stages run in order, each with a progress bar: the simulator sweeps (resumable: finished
points are kept in ``OUT/sweep``), the per-layer table and the sweep figures, CPU/GPU
baselines, precision, LeNet-300-100 end to end, the storage report, EIE Table IV's validation
(``eiesim.paper.table4``) and the pruning co-design studies (``eiesim.paper.pruning``). Every figure has
its data as Parquet in ``OUT/data``. An error in any stage stops the run.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from eiecore.atomic import write_atomic, write_text
from eiesim.paper import figures, llm, pruning, report, sweeps, table4
from eiesim.paper.settings import PaperSettings
from eiesim.paper.stages import StageResult, baselines, lenet, precision, storage
from eiesim.sweep import ResultStore, local_executor
from eiesim.sweep.layers import default_cache_dir


@dataclass
class PaperRun:
    out: Path
    settings: PaperSettings
    files: list[Path] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)


def run_paper(out: str | Path, settings: PaperSettings, executor=None, cache_dir: str | Path | None = None,
              engine: str = "fast", progress: bool = True) -> PaperRun:
    """Run the whole evaluation into ``out``; returns what was written."""
    from eiesim.progress import progress_bar as tqdm

    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "data").mkdir(parents=True, exist_ok=True)
    executor = executor or local_executor()
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    run = PaperRun(out, settings)
    sections: dict[str, list[str]] = {}

    def data(name: str, df: pd.DataFrame) -> None:
        run.files.append(write_atomic(out / "data" / f"{name}.parquet", lambda tmp: df.to_parquet(tmp, index=False)))

    def draw(fn: Callable, df, name: str, *extra) -> None:
        data(name, df)
        run.files.extend(fn(df, *extra, out / "figures" / name))

    stages = ["sweeps", "baselines", "precision", "lenet", "storage", "table4", "pruning", "llm"]
    bar = tqdm(total=len(stages), desc="paper", unit="stage", disable=not progress, position=0)

    def stage(name: str):
        bar.set_description(f"paper: {name}")
        bar.set_postfix_str("")  # a stage's last message (LeNet's "running the test images") ends with it
        return time.perf_counter()

    def done(name: str, t0: float) -> None:
        run.stage_seconds[name] = round(time.perf_counter() - t0, 1)
        bar.update(1)

    # 1. Simulator sweeps and the figures drawn from them.
    t0 = stage("sweeps")
    rows = sweeps.run(settings, ResultStore(out / "sweep"), executor, cache_dir, engine, progress)
    data("sweep_points", rows)
    per_layer = sweeps.per_layer(rows, settings)
    data("per_layer", per_layer)
    table, notes = report.per_layer_section(per_layer)
    sections["per_layer"] = [table, *notes]
    fig8, fig_pe, fig9 = (sweeps.queue_depth(rows, settings), sweeps.pe_count(rows, settings),
                          sweeps.sram_width(rows, settings))
    draw(figures.queue_depth, fig8, "fig08_queue_depth")
    sections["fig08"] = report.queue_depth_notes(fig8)
    draw(figures.sram_width, fig9, "fig09_sram_width")
    sections["fig09"] = report.sram_notes(fig9)
    draw(figures.pe_speedup, fig_pe, "fig11_speedup_pe")
    draw(figures.real_work, fig_pe, "fig12_real_work")
    draw(figures.load_balance, fig_pe, "fig13_load_balance")
    sections["pe"] = report.pe_notes(fig_pe)
    if settings.full_grid:
        draw(figures.pe_queue_map, sweeps.pe_x_queue(rows, settings), "pe_x_queue")
    draw(figures.per_pe, sweeps.per_pe(rows, settings), f"per_pe_{settings.detail_layer}")
    done("sweeps", t0)

    # 2-5. The other modules' stages; each saves its tables.
    def run_stage(name: str, fn: Callable[[], StageResult]) -> StageResult:
        t = stage(name)
        result = fn()
        for table_name, df in result.tables.items():
            data(table_name, df)
        done(name, t)
        return result

    say = (lambda msg: bar.set_postfix_str(msg[:60])) if progress else (lambda msg: None)
    base = run_stage("baselines", lambda: baselines(settings, per_layer, engine))
    long = base.tables["baselines"]  # per-layer rows, then the geometric mean (as EIE Figs 6-7)
    run.files.extend(figures.speedup_bars(long, "speedup", out / "figures" / "fig06_speedup",
                                          "speedup over CPU dense (batch 1)", "Speedup (EIE Fig 6 style)"))
    if long["energy_efficiency"].notna().any():
        run.files.extend(figures.speedup_bars(long, "energy_efficiency", out / "figures" / "fig07_energy",
                                              "energy efficiency over CPU dense", "Energy efficiency (Fig 7 style)"))
    sections["baselines"] = [base.headline, base.markdown, *base.notes, *report.baseline_notes(long)]
    prec = run_stage("precision", lambda: precision(settings, engine))
    run.files.extend(figures.precision(prec.tables["fig10_precision_energy"],
                                       prec.tables["fig10_precision_error"], out / "figures" / "fig10_precision"))
    sections["precision"] = [prec.markdown]
    sections["lenet"] = [run_stage("lenet", lambda: lenet(settings, engine, say)).markdown]
    sections["storage"] = [run_stage("storage", lambda: storage(settings, cache_dir)).markdown]
    sections["table4"] = [run_stage("table4", lambda: table4.stage(settings, progress)).markdown]
    prune = run_stage("pruning", lambda: pruning.stage(settings, progress))
    run.files.extend(pruning.speedup_figure(prune.tables["ppr"], out / "figures" / "ppr_speedup"))
    run.files.extend(pruning.storage_accuracy_figure(prune.tables["ppr_lenet"],
                                                     out / "figures" / "ppr_lenet_storage_accuracy"))
    sections["pruning"] = [prune.markdown]
    decode = run_stage("llm", lambda: llm.stage(settings))
    run.files.extend(llm.bytes_figure(decode.tables["llm"], settings.llm_model, out / "figures" / "llm_bytes"))
    sections["llm"] = [decode.markdown]
    bar.close()

    meta = {"settings": asdict(settings), "engine": engine, "stage_seconds": run.stage_seconds,
            "python": platform.python_version(), "machine": platform.platform(), "cpus": os.cpu_count()}
    run.files.append(write_text(out / "run.json", json.dumps(meta, indent=2, default=str)))
    run.files.append(write_text(out / "report.md", report.assemble(settings, engine, sections, run)))
    return run
