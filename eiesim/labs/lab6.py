"""Lab 6 (EIE against CPU and GPU): the exercises' answers from a measured baseline report.

Timings are measurements of this machine, so the ``*_of`` functions do not re-measure:
they recompute an answer from the report's raw numbers (medians of the timed repeats and
the simulator's EIE time). The autograder re-runs the notebook, so it measures again:
answers must be computed from ``report`` in code, not typed in.
"""

from __future__ import annotations

from eiecore.errors import EieError
from eiesim.labs.checking import student_params

# What each student's exercises draw from: the CPU column EIE is compared with at batch 1
# and the kind of the batched column.
CHOICES = {"b1_over": ("cpu-dense-b1", "cpu-sparse-b1"), "batched_kind": ("dense", "sparse")}


def params(student_id: str | None):
    """This student's comparison columns."""
    return student_params(student_id, 6, CHOICES)


def seconds_per_frame(report, layer: str) -> dict[str, float]:
    """Column label -> seconds per frame for one layer, measured and simulated."""
    cells = {m.label: m.seconds_per_frame for m in report.measurements if m.layer == layer}
    cells.update({r.label: r.seconds for r in report.eie if r.layer == layer})
    if not cells:
        raise EieError(f"the report has no layer {layer!r}; it has {', '.join(report.layers())}")
    return cells


def speedup_of(report, layer: str, column: str, over: str) -> float:
    """Exercises 1 and 2: how many times faster ``column`` is than ``over`` per frame."""
    cells = seconds_per_frame(report, layer)
    for label in (column, over):
        if label not in cells:
            raise EieError(f"no column {label!r} for {layer}; choose one of {', '.join(cells)}")
    return cells[over] / cells[column]


def fastest_of(report, layer: str) -> str:
    """Exercise 3: the column with the least time per frame for ``layer``."""
    cells = seconds_per_frame(report, layer)
    return min(cells, key=cells.get)
