"""One look for every figure of the evaluation: Agg backend, sizes, colours, PNG + SVG output.

Every figure is drawn by a function that takes a DataFrame and returns a matplotlib
figure; :func:`save` writes it as PNG and SVG, each atomically (:mod:`eiesim.atomic`).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from eiesim.atomic import write_atomic  # noqa: E402

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


@contextmanager
def figure(ncols: int = 1, nrows: int = 1, width: float | None = None, height: float | None = None):
    """A figure in the shared style; yields (fig, axes)."""
    with plt.rc_context(RC):
        w = width or RC["figure.figsize"][0] * (1 if ncols == 1 else 0.8 * ncols)
        h = height or RC["figure.figsize"][1] * nrows
        fig, axes = plt.subplots(nrows, ncols, figsize=(w, h), squeeze=True)
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


def save(fig, stem: str | os.PathLike) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg`` atomically; returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    with plt.rc_context(RC):
        fig.tight_layout()
        for fmt in FORMATS:
            final = stem.with_suffix(f".{fmt}")
            metadata = {"Date": None} if fmt == "svg" else {"Software": None}
            paths.append(write_atomic(final, lambda tmp: fig.savefig(tmp, format=fmt, metadata=metadata)))
    return paths
