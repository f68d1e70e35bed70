"""The evaluation's stages that are not simulator sweeps: baselines, precision, LeNet, storage.

Each stage calls the module that owns the work (``workloads.baselines``,
``eiesim.paper.studies``, ``workloads.lenet``, ``compressor.report``) and turns its result
into DataFrames (saved as Parquet) and Markdown. The EIE side of the baseline comparison
is the sweep's own row at the paper's chip, so the figures and tables agree.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import pandas as pd

from compressor.report import StorageReport, layer_storage
from eiesim.config import ArchConfig
from eiesim.paper.report import markdown_table
from eiesim.paper.settings import PaperSettings
from eiesim.paper.studies import precision_energy, precision_error_study
from eiesim.sweep.layers import cache_folder, encode, shared_layer
from workloads.baselines import EieRow, run_baselines
from workloads.lenet import LeNetSettings, run_lenet


@dataclasses.dataclass
class StageResult:
    """Tables (saved as Parquet under these names), Markdown for the report, notes."""

    tables: dict[str, pd.DataFrame] = dataclasses.field(default_factory=dict)
    markdown: str = ""
    notes: list[str] = dataclasses.field(default_factory=list)
    headline: str = ""


def measure_baselines(s: PaperSettings, names: list[str]):
    """The baseline timings, in a fresh process of their own (spawned, one torch thread),
    started after the sweeps' workers are gone: nothing of this run competes with them
    for the CPU, and torch's threads never live in the process that forks sweep workers."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    kwargs = dict(batches=s.baseline_batches, repeats=s.baseline_repeats, warmup=s.baseline_warmup, seed=s.seed,
                  eie=None, threads=1)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run_baselines, names, **kwargs).result()


def baselines(s: PaperSettings, per_layer: pd.DataFrame, engine: str) -> StageResult:
    """CPU (and GPU) PyTorch dense/CSR timings against simulated EIE (EIE Figs 6-7)."""
    names = [n for n in s.baseline_layers if n in set(per_layer["layer"])]
    report = measure_baselines(s, names)
    report.eie = [
        EieRow(row.layer, int(row.n_pe), engine, int(row.cycles), row.time_us * 1e-6, row.energy_event_uj * 1e-6,
               "modelled (event model)")
        for row in per_layer.itertuples() if row.layer in names
    ]
    report.eie_note = (f"EIE columns: this evaluation's simulation at N = {s.n_pe}, D = {s.queue_depth}, "
                       f"time = cycles / clock, energy from the event model (batch 1).")
    comp = report.comparison()
    long = pd.DataFrame([
        {"layer": row["layer"], "platform": col, "seconds": row["seconds"][col], "joules": row["joules"][col],
         "speedup": row["speedup"][col], "energy_efficiency": row["energy_efficiency"][col],
         "stable": row["stable"][col]}
        for row in comp["rows"] for col in comp["columns"] if col in row["seconds"]
    ])
    geo = pd.DataFrame([{"layer": "geomean", "platform": col, "speedup": comp["geomean"]["speedup"][col],
                         "energy_efficiency": comp["geomean"]["energy_efficiency"][col],
                         "stable": True, "layers_in_geomean": len(comp["geomean_layers"][col])}
                        for col in comp["columns"]])
    measurements = pd.DataFrame([
        {"layer": m.layer, "device": m.device, "kind": m.kind, "batch": m.batch, "label": m.label,
         "clock": m.clock, **{f"seconds_{k}": v for k, v in m.call.to_dict().items()},
         "wall_seconds_median": (m.wall or m.call).median, "stable": m.stable,
         "seconds_per_frame": m.seconds_per_frame, "joules_per_frame": m.joules_per_frame,
         "energy_note": m.energy_note}
        for m in report.measurements
    ])
    env = pd.DataFrame([{k: str(v) for k, v in report.environment.items()}])
    result = StageResult({"baselines": pd.concat([long, geo], ignore_index=True),
                          "baseline_measurements": measurements, "baseline_environment": env},
                         report.to_markdown(with_headline=False))
    spread = measurements["seconds_spread"]
    unstable = measurements[~measurements["stable"]]
    result.notes.append(
        f"Timing spread (interquartile range / median) over the {len(measurements)} timings: median "
        f"{spread.median():.3f}, largest {spread.max():.3f}; {len(unstable)} above the {report.max_spread():g} "
        f"threshold" + (f" ({', '.join(unstable['layer'] + ' ' + unstable['label'])})" if len(unstable) else "")
        + ". The CPU columns are this machine's measurements at the load average shown, not a calibrated "
          "CPU benchmark.")
    result.headline = report.headline()
    return result


def precision(s: PaperSettings, engine: str) -> StageResult:
    """EIE Fig 10: MAC energy per format (table) and output error against float32 (functional model)."""
    energy = precision_energy()
    errors = precision_error_study(list(s.precision_layers), ArchConfig(n_pe=s.n_pe), s.seed)
    md = markdown_table(energy[["format", "bits", "mult_pj", "add_pj", "mac_pj"]]) + "\n\n" + markdown_table(
        errors[["layer", "format", "value_bits", "act_frac_bits", "weight_frac_bits", "relative_error",
                "max_abs_error"]])
    return StageResult({"fig10_precision_energy": energy, "fig10_precision_error": errors}, md)


def lenet(s: PaperSettings, engine: str, progress: Callable[[str], None]) -> StageResult:
    """LeNet-300-100 trained on the digits, Deep-Compressed and run layer by layer on EIE."""
    settings = dataclasses.replace(getattr(LeNetSettings, s.lenet)(), n_pe=s.n_pe, **s.lenet_overrides)
    result = run_lenet(settings, seed=s.seed, engine=engine, progress=progress)
    d = result.to_dict()
    stages = pd.DataFrame(d["stages"])
    layers = pd.DataFrame([{k: v for k, v in layer.items() if not isinstance(v, (dict, list))}
                           | {"shape": str(layer["shape"])} for layer in d["layers"]])
    summary = pd.DataFrame([{"latency_us": d["eie"]["latency_us"], "energy_pj": d["eie"]["energy_pj"],
                             "images": d["eie"]["images"], "engine": d["engine"],
                             "engine_matches_functional": d["eie"]["engine_matches_functional"],
                             "settings": s.lenet, "seed": s.seed}])
    return StageResult({"lenet_stages": stages, "lenet_layers": layers, "lenet_summary": summary},
                       result.to_markdown())


def storage(s: PaperSettings, cache_dir) -> StageResult:
    """The nine layers' storage at the paper's chip (fixed-width and Huffman), DC-table style."""
    config = ArchConfig(n_pe=s.n_pe)
    cache = str(cache_folder(cache_dir)) if cache_dir is not None else None
    layers = tuple(layer_storage(encode(shared_layer(name, s.seed, config.weight_bits, cache), config),
                                 config.ptr_bits, config.value_bits) for name in s.layers)
    report = StorageReport(layers, config.weight_bits, config.index_bits, config.ptr_bits, config.value_bits)
    table = pd.DataFrame([{k: (str(v) if k == "shape" else v) for k, v in layer.to_dict().items()}
                          for layer in (*report.layers, report.total)])
    return StageResult({"storage": table}, "```\n" + report.format_table() + "\n```")
