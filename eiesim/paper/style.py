"""One look for every figure of the evaluation: Agg backend, sizes, colours, PNG + SVG output.

Every figure is drawn by a function that takes a DataFrame and returns a matplotlib
figure; :func:`save` writes it as PNG and SVG, each atomically (:mod:`eiecore.atomic`).
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.text  # noqa: E402
from matplotlib.ticker import FuncFormatter, ScalarFormatter  # noqa: E402

from eiecore.atomic import write_atomic  # noqa: E402

RC = {
    "figure.figsize": (6.4, 3.8),
    "figure.dpi": 110,
    "savefig.dpi": 130,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "axes.prop_cycle": matplotlib.cycler(color=[
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
        "#17becf"]),
    "svg.hashsalt": "eiesim",  # stable SVG ids: the same data gives the same file
}
FORMATS = ("png", "svg")


# One marker, line style and size per series: curves that coincide stay distinguishable
# (hollow markers of decreasing size nest inside each other).
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "h", "<")
LINESTYLES = ("-", "--", "-.", ":")


def series_style(i: int, n: int) -> dict:
    """Line style of series ``i`` of ``n``: its own marker and dash, hollow, larger first."""
    return {"marker": MARKERS[i % len(MARKERS)], "linestyle": LINESTYLES[i % len(LINESTYLES)],
            "markersize": 3.5 + 4.0 * (n - 1 - i) / max(1, n - 1), "markerfacecolor": "none", "linewidth": 1.1}


def number(value: float) -> str:
    """The one number format of figure labels: three significant digits below 100, whole
    numbers with thousands separators from 100 up, never an exponent (0.762, 35.4, 988, 1,170)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    if abs(value) >= 99.95:
        return f"{value:,.0f}"
    decimals = 2 - math.floor(math.log10(abs(value)))
    if abs(round(value, decimals)) >= 10 ** (3 - decimals):  # 9.996 rounds up to 10.0
        decimals -= 1
    return f"{value:,.{max(decimals, 0)}f}"


def tick(value: float, _pos=None) -> str:
    """Tick labels of linear axes: whole numbers as such with thousands separators (256,
    35,000, never 256.0), others with the digits they need (0.25)."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:.6g}"


def _plain_ticks(fig) -> None:
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if type(axis.get_major_formatter()) is ScalarFormatter:  # not categorical or log axes
                axis.set_major_formatter(FuncFormatter(tick))


def legend_outside(ax, **kwargs) -> None:
    """The legend to the right of the axes, never over the data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)


@contextmanager
def figure(ncols: int = 1, nrows: int = 1, width: float | None = None, height: float | None = None):
    """A figure in the shared style with the constrained layout engine; yields (fig, axes)."""
    with plt.rc_context(RC):
        w = width or RC["figure.figsize"][0] * (1 if ncols == 1 else 0.8 * ncols)
        h = height or RC["figure.figsize"][1] * nrows
        fig, axes = plt.subplots(nrows, ncols, figsize=(w, h), squeeze=True, layout="constrained")
        try:
            yield fig, axes
        finally:
            plt.close(fig)


def log2_axis(ax, values) -> None:
    """A base-2 log x axis labelled with exactly the swept values."""
    values = sorted(set(int(v) for v in values))
    ax.set_xscale("log", base=2)
    ax.set_xticks(values, [str(v) for v in values])
    ax.minorticks_off()


def text_collisions(fig) -> list[tuple[str, str]]:
    """Pairs of visible texts (titles, labels, tick labels, annotations, legend entries)
    whose drawn boxes overlap, after the layout engine has run; empty when none do."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = [axis for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)]
    tick_texts = {id(t) for axis in axes for tick in axis.majorTicks + axis.minorTicks
                  for t in (tick.label1, tick.label2)}
    drawn_ticks = []
    for axis in axes:
        low, high = sorted(axis.get_view_interval())
        tolerance = 1e-9 * max(abs(low), abs(high), 1.0)
        for ticks, locs in ((axis.majorTicks, axis.get_majorticklocs()), (axis.minorTicks, axis.get_minorticklocs())):
            drawn_ticks += [t for tick, loc in zip(ticks, locs) if low - tolerance <= loc <= high + tolerance
                            for t in (tick.label1, tick.label2)]
    texts = []
    candidates = [a for a in fig.findobj(matplotlib.text.Text) if id(a) not in tick_texts] + drawn_ticks
    for artist in candidates:  # tick labels only of ticks in view: the others are not drawn
        if artist.get_visible() and artist.get_text().strip() and artist.get_figure() is fig:
            box = artist.get_window_extent(renderer)
            if box.width > 0 and box.height > 0:
                texts.append((artist.get_text(), box))
    hits = []
    for i, (a, box_a) in enumerate(texts):
        for b, box_b in texts[i + 1:]:
            if box_a.overlaps(box_b) and box_a.intersection(box_a, box_b).width > 0.5 and \
                    box_a.intersection(box_a, box_b).height > 0.5:
                hits.append((a, b))
    return hits


def save(fig, stem: str | os.PathLike) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg`` atomically (everything drawn, an outside legend
    included); returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    _plain_ticks(fig)
    with plt.rc_context(RC):
        for fmt in FORMATS:
            final = stem.with_suffix(f".{fmt}")
            metadata = {"Date": None} if fmt == "svg" else {"Software": None}
            paths.append(write_atomic(final, lambda tmp: fig.savefig(tmp, format=fmt, metadata=metadata,
                                                                     bbox_inches="tight")))
    return paths
