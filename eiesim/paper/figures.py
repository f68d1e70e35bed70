"""The evaluation's figures, EIE-paper style, each drawn from one DataFrame.

Each function takes the table that :mod:`eiesim.paper.sweeps` or :mod:`eiesim.paper.stages`
produced (and that is saved as Parquet beside the figure) and returns nothing: it saves
``<stem>.png`` and ``<stem>.svg`` through :func:`eiesim.paper.style.save`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, MaxNLocator

from eiesim.paper.style import figure, legend_outside, log2_axis, number, save, series_style, tick

LOAD_EFFICIENCY = "load efficiency (busy / N x cycles)"


def _per_layer_lines(ax, df: pd.DataFrame, x: str, y: str) -> None:
    """One line per layer, each with its own marker and dash so coinciding curves show."""
    groups = list(df.groupby("layer", sort=False))
    for i, (layer, group) in enumerate(groups):
        ax.plot(group[x], group[y], label=layer, **series_style(i, len(groups)))


def _fraction_lines(df: pd.DataFrame, stem, x: str, y: str, xlabel: str, ylabel: str, title: str) -> list:
    """Per-layer lines of a fraction (0..1) against a power-of-two swept axis."""
    with figure() as (fig, ax):
        _per_layer_lines(ax, df, x, y)
        log2_axis(ax, df[x])
        ax.set(xlabel=xlabel, ylabel=ylabel, title=title, ylim=(0, 1.02))
        legend_outside(ax, title="layer")
        return save(fig, stem)


def queue_depth(df: pd.DataFrame, stem) -> list:
    """EIE Fig 8: load efficiency against activation-queue depth."""
    return _fraction_lines(df, stem, "queue_depth", "load_efficiency", "activation queue depth D", LOAD_EFFICIENCY,
                           f"Load efficiency vs queue depth ({int(df['n_pe'].iloc[0])} PEs)")


def sram_width(df: pd.DataFrame, stem) -> list:
    """EIE Fig 9: sparse-matrix SRAM reads and read energy against SRAM row width."""
    total = df.groupby("spmat_width_bits", as_index=False)[["spmat_row_reads", "read_energy_pj"]].sum()
    widths = [str(w) for w in total["spmat_width_bits"]]
    with figure(ncols=2) as (fig, (ax_reads, ax_energy)):
        ax_reads.bar(widths, total["spmat_row_reads"] / 1e3, color="#7f7f7f")
        ax_reads.set(xlabel="SRAM width (bits)", ylabel="sparse-matrix row reads (thousands)", title="reads")
        ax_energy.bar(widths, total["read_energy_pj"] / 1e6)
        best = total.loc[total["read_energy_pj"].idxmin(), "spmat_width_bits"]
        ax_energy.set(xlabel="SRAM width (bits)", ylabel="read energy (µJ)", title=f"read energy (lowest at {best} bits)")
        fig.suptitle(f"Sparse-matrix SRAM width, all {df['layer'].nunique()} layers")
        return save(fig, stem)


def precision(energy: pd.DataFrame, errors: pd.DataFrame, stem) -> list:
    """EIE Fig 10: arithmetic energy per number format and output error against float32."""
    with figure(ncols=2, width=9.0) as (fig, (ax_energy, ax_error)):
        ax_energy.bar(energy["format"], energy["mac_pj"])
        ax_energy.set(ylabel="MULT + ADD energy (pJ)", title="arithmetic energy per MAC (45 nm)")
        ax_energy.tick_params(axis="x", rotation=30)
        pivot = errors.pivot(index="layer", columns="format", values="relative_error")
        pivot = pivot.reindex(index=errors["layer"].unique(), columns=errors["format"].unique())
        width = 0.8 / max(1, pivot.shape[1])
        x = np.arange(pivot.shape[0])
        for i, fmt in enumerate(pivot.columns):
            ax_error.bar(x + i * width, pivot[fmt].clip(lower=1e-12), width, label=fmt)
        ax_error.set_xticks(x + width * (pivot.shape[1] - 1) / 2, pivot.index, rotation=30)
        ax_error.set_yscale("log")
        ax_error.set(ylabel="relative L2 error vs float32", title="output error")
        legend_outside(ax_error, title="format")
        return save(fig, stem)


def pe_speedup(df: pd.DataFrame, stem) -> list:
    """EIE Fig 11: speedup over the smallest PE count, with the linear ideal."""
    with figure() as (fig, ax):
        _per_layer_lines(ax, df, "n_pe", "speedup")
        base = df["speedup_base_n_pe"].min()
        ns = np.array(sorted(df["n_pe"].unique()))
        ax.plot(ns, ns / base, color="black", linestyle="--", linewidth=1, label="linear")
        log2_axis(ax, ns)
        ax.set_yscale("log", base=2)
        ax.yaxis.set_major_formatter(FuncFormatter(tick))
        ax.set(xlabel="number of PEs N", ylabel=f"speedup over {base} PE{'s' if base > 1 else ''}",
               title="Scalability (D = %d)" % int(df["queue_depth"].iloc[0]))
        legend_outside(ax, title="layer")
        return save(fig, stem)


def real_work(df: pd.DataFrame, stem) -> list:
    """EIE Fig 12: real work / total work (real + filler entries + empty columns) against N."""
    return _fraction_lines(df, stem, "n_pe", "real_work_fraction", "number of PEs N", "real work / total work",
                           "Padding: real work fraction vs PE count")


def load_balance(df: pd.DataFrame, stem) -> list:
    """EIE Fig 13: load efficiency against N."""
    return _fraction_lines(df, stem, "n_pe", "load_efficiency", "number of PEs N", LOAD_EFFICIENCY,
                           "Load balance vs PE count (D = %d)" % int(df["queue_depth"].iloc[0]))


def pe_queue_map(df: pd.DataFrame, stem) -> list:
    """The full grid: load efficiency (mean over layers) for every PE count and queue depth."""
    grid = df.groupby(["queue_depth", "n_pe"])["load_efficiency"].mean().unstack("n_pe").sort_index()
    with figure() as (fig, ax):
        image = ax.imshow(grid.values, origin="lower", aspect="auto", vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(grid.shape[1]), [str(n) for n in grid.columns])
        ax.set_yticks(range(grid.shape[0]), [str(d) for d in grid.index])
        for (i, j), value in np.ndenumerate(grid.values):
            if not np.isfinite(value):
                continue
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6,
                    color="white" if value < 0.6 else "black")
        ax.grid(False)
        ax.set(xlabel="number of PEs N", ylabel="queue depth D", title="Load efficiency, mean over layers")
        fig.colorbar(image, ax=ax, label="load efficiency (busy / N x cycles)")
        return save(fig, stem)


def per_pe(df: pd.DataFrame, stem) -> list:
    """Busy and starved cycles of every PE for one layer, and their distribution."""
    layer, cycles = df["layer"].iloc[0], int(df["cycles"].iloc[0])
    with figure(ncols=3, width=10.0) as (fig, (ax_pe, ax_busy, ax_starved)):
        ax_pe.bar(df["pe"], df["busy"], width=1.0, label="busy")
        ax_pe.bar(df["pe"], df["starved"], bottom=df["busy"], width=1.0, label="starved")
        ax_pe.axhline(cycles, color="black", linewidth=1, linestyle="--", label="layer cycles")
        ax_pe.set(xlabel="PE", ylabel="cycles", title=f"per-PE cycles ({len(df)} PEs)")
        ax_pe.legend(loc="lower center", bbox_to_anchor=(0.5, 1.12), ncol=3, borderaxespad=0.0)
        for ax, column, colour in ((ax_busy, "busy", "#1f77b4"), (ax_starved, "starved", "#ff7f0e")):
            ax.hist(df[column], bins=20, color=colour)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            mean = df[column].mean()
            ax.set(xlabel=f"{column} cycles per PE", ylabel="PEs",
                   title=f"{column}: mean {number(mean)}, max / mean {number(df[column].max() / max(mean, 1e-9))}")
        fig.suptitle(f"{layer}: load of each PE")
        return save(fig, stem)


def speedup_bars(table: pd.DataFrame, value: str, stem, ylabel: str, title: str) -> list:
    """EIE Figs 6-7: per layer, one bar per platform (log scale), geometric mean last;
    each bar labelled with its value in the figures' one number format. A bar left out of
    its geometric mean (an unstable timing, its own or the reference's: ``stable`` false)
    is hatched and faded; a layer left out entirely (its reference timing unstable) says so
    in its label; the geometric mean's label says how many layers it covers
    (``layers_in_geomean``)."""
    pivot = table.pivot(index="layer", columns="platform", values=value)
    pivot = pivot.reindex(index=table["layer"].unique(), columns=table["platform"].unique())
    stable = table["stable"].astype(bool) if "stable" in table else pd.Series(True, index=table.index)
    kept = (table.assign(kept=stable).pivot(index="layer", columns="platform", values="kept")
            .reindex_like(pivot).fillna(True).astype(bool))
    n_layers = table.loc[table["layer"] != "geomean", "layer"].nunique()
    labels = []
    for layer in pivot.index:
        if layer == "geomean" and "layers_in_geomean" in table:
            counts = sorted(set(table.loc[table["layer"] == "geomean", "layers_in_geomean"].dropna().astype(int)))
            labels.append(f"geomean\n({'/'.join(map(str, counts))} of {n_layers})" if counts else "geomean")
        else:
            labels.append(layer if kept.loc[layer].any() else f"{layer}\n(left out)")
    with figure(width=9.0, height=4.4) as (fig, ax):
        width = 0.8 / max(1, pivot.shape[1])
        x = np.arange(pivot.shape[0])
        for i, platform in enumerate(pivot.columns):
            values = pivot[platform].astype(float)
            bars = ax.bar(x + i * width, values, width, label=platform)
            for bar, v, ok in zip(bars, values, kept[platform]):
                if not ok:
                    bar.set_hatch("///")
                    bar.set_alpha(0.4)
                if np.isfinite(v):
                    ax.annotate(number(v), (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom",
                                fontsize=5.5, rotation=90, xytext=(0, 2), textcoords="offset points")
        ax.set_xticks(x + width * (pivot.shape[1] - 1) / 2, labels, rotation=30)
        ax.set_yscale("log")
        top = np.nanmax(pivot.to_numpy(dtype=float))
        bottom = np.nanmin(pivot.to_numpy(dtype=float))
        ax.set_ylim(min(bottom, 1.0) / 2, top * 20)  # head room for the rotated value labels
        ax.yaxis.set_major_formatter(FuncFormatter(tick))
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set(ylabel=ylabel, title=title + ("; hatched: unstable timing, left out of the geometric mean"
                                             if not kept.to_numpy().all() else ""))
        legend_outside(ax, title="platform")
        return save(fig, stem)
