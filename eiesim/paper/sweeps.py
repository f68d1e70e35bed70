"""The simulator sweeps behind the evaluation, and the tables each figure is drawn from.

Two grids run into one resumable store: PE count x queue depth (the full product, or the
two slices through the paper's chip) and the sparse-matrix SRAM width at the chip's N and
D. Every table below is a selection from those rows, so each figure's data is exactly
the simulated points it shows.
"""

from __future__ import annotations

import pandas as pd

from eiesim.paper.settings import PaperSettings
from eiesim.sweep import SweepSpec, run_sweep, sweep_frame
from workloads.benchmarks import get_benchmark  # also registers the benchmark layers with the sweep

EVENT_TOTAL = "energy_event_total_pj"
TABLE2_TOTAL = "energy_table2_total_pj"
SPMAT_READ_PJ = "energy_event_spmat_row_read_pj"
SPMAT_READ_EACH = "energy_event_spmat_row_read_pj_each"


def specs(s: PaperSettings, engine: str) -> dict[str, SweepSpec]:
    """The grids of the evaluation, by name."""
    layers = list(s.layers)
    base = {"spmat_width_bits": s.spmat_width_bits, "seed": s.seed}
    out = {}
    if s.full_grid:
        out["pe_x_queue"] = SweepSpec.build(layers, {"n_pe": list(s.pe_counts), "queue_depth": list(s.queue_depths)},
                                            base, engine)
    else:
        out["pe_count"] = SweepSpec.build(layers, {"n_pe": list(s.pe_counts)}, {**base, "queue_depth": s.queue_depth},
                                          engine)
        out["queue_depth"] = SweepSpec.build(layers, {"queue_depth": list(s.queue_depths)}, {**base, "n_pe": s.n_pe},
                                             engine)
    out["sram_width"] = SweepSpec.build(layers, {"spmat_width_bits": list(s.sram_widths)},
                                        {"seed": s.seed, "n_pe": s.n_pe, "queue_depth": s.queue_depth}, engine)
    return out


def run(s: PaperSettings, store, executor, cache_dir, engine: str, progress: bool) -> pd.DataFrame:
    """Run every grid (finished points are skipped) and return all their rows."""
    frames = []
    for name, spec in specs(s, engine).items():
        run_sweep(spec, store, executor, cache_dir=cache_dir, progress=progress, desc=f"sweep {name}")
        frames.append(sweep_frame(spec, store))
    rows = pd.concat(frames, ignore_index=True).drop_duplicates("point_hash")
    order = {name: i for i, name in enumerate(s.layers)}
    return rows.sort_values(["layer", "n_pe", "queue_depth", "spmat_width_bits"],
                            key=lambda c: c.map(order) if c.name == "layer" else c).reset_index(drop=True)


def _at(rows: pd.DataFrame, s: PaperSettings, **fixed) -> pd.DataFrame:
    want = {"n_pe": s.n_pe, "queue_depth": s.queue_depth, "spmat_width_bits": s.spmat_width_bits,
            "precision": "fixed", **fixed}
    mask = pd.Series(True, index=rows.index)
    for key, value in want.items():
        if value is not None:
            mask &= rows[key] == value
    return rows[mask].reset_index(drop=True)


def per_layer(rows: pd.DataFrame, s: PaperSettings) -> pd.DataFrame:
    """The per-layer table at the paper's chip: theory, simulation, efficiency, energy."""
    at = _at(rows, s)
    return pd.DataFrame({
        "layer": at["layer"],
        "outputs_M": [get_benchmark(n).outputs for n in at["layer"]],
        "inputs_K": [get_benchmark(n).inputs for n in at["layer"]],
        "n_pe": at["n_pe"], "queue_depth": at["queue_depth"],
        "broadcasts": at["broadcasts"], "real_entries": at["real_entries"], "filler_entries": at["filler_entries"],
        "theoretical_ideal_us": at["theoretical_cycles_ideal"] / at["clock_mhz"],
        "theoretical_padded_us": at["theoretical_cycles_padded"] / at["clock_mhz"],
        "cycles": at["cycles"], "time_us": at["time_us"],
        "load_efficiency": at["load_efficiency"], "useful_efficiency": at["useful_efficiency"],
        "real_work_fraction": at["real_work_fraction"], "imbalance": at["imbalance"], "fits": at["fits"],
        **{f"{sram}_sram_used_pct": 100 * at[f"{sram}_sram_used_bits"] / (at[f"{sram}_sram_kb"] * 8192)
           for sram in ("spmat", "ptr", "act")},
        "energy_event_uj": at[EVENT_TOTAL] / 1e6, "energy_table2_uj": at[TABLE2_TOTAL] / 1e6,
    })


def queue_depth(rows: pd.DataFrame, s: PaperSettings) -> pd.DataFrame:
    """EIE Fig 8: load efficiency against queue depth at the chip's N."""
    at = _at(rows, s, queue_depth=None)
    return at[["layer", "n_pe", "queue_depth", "cycles", "load_efficiency", "useful_efficiency",
               "starved_pe_cycles", "queue_full_stall_cycles"]]


def pe_count(rows: pd.DataFrame, s: PaperSettings) -> pd.DataFrame:
    """EIE Figs 11-13: speedup over one PE, real-work fraction and load efficiency against N."""
    at = _at(rows, s, n_pe=None)[["layer", "n_pe", "queue_depth", "cycles", "load_efficiency",
                                  "real_work_fraction", "real_entries", "filler_entries", "empty_columns",
                                  "imbalance"]].copy()
    at["speedup_base_n_pe"] = at.groupby("layer")["n_pe"].transform("min")
    base = at[at["n_pe"] == at["speedup_base_n_pe"]].set_index("layer")["cycles"]
    at["speedup"] = at["layer"].map(base) / at["cycles"]
    return at


def pe_x_queue(rows: pd.DataFrame, s: PaperSettings) -> pd.DataFrame:
    """The whole PE-count x queue-depth grid at the chip's SRAM width (full mode)."""
    at = _at(rows, s, n_pe=None, queue_depth=None)
    return at[["layer", "n_pe", "queue_depth", "cycles", "load_efficiency", "real_work_fraction"]]


def sram_width(rows: pd.DataFrame, s: PaperSettings) -> pd.DataFrame:
    """EIE Fig 9: sparse-matrix SRAM reads and their energy (event model) against row width."""
    at = _at(rows, s, spmat_width_bits=None)
    out = at[["layer", "spmat_width_bits", "spmat_row_reads", "real_entries", "cycles"]].copy()
    out["entries_per_row"] = at["spmat_width_bits"] // (at["weight_bits"] + at["index_bits"])
    out["pj_per_read"] = at[SPMAT_READ_EACH]
    out["read_energy_pj"] = at[SPMAT_READ_PJ]
    out["total_energy_pj"] = at[EVENT_TOTAL]
    return out


def per_pe(rows: pd.DataFrame, s: PaperSettings) -> pd.DataFrame:
    """Busy, starved and real-entry counts of every PE for the detail layer at the chip."""
    at = _at(rows, s)
    row = at[at["layer"] == s.detail_layer].iloc[0]
    return pd.DataFrame({"layer": s.detail_layer, "pe": range(int(row["n_pe"])),
                         "busy": list(row["per_pe_busy"]), "starved": list(row["per_pe_starved"]),
                         "real": list(row["per_pe_real"]), "cycles": int(row["cycles"])})
