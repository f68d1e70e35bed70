"""Lab 6 (EIE against CPU and GPU): answer checks on a measured baseline report.

Timings are measurements of this machine, so a check does not re-measure: it recomputes
its answer from the report's raw numbers (medians of the timed repeats and the
simulator's EIE time) and prints ``correct`` or a hint.
"""

from __future__ import annotations

from eiecore.errors import EieError
from eiesim.labs.checking import Verdict, check_choice, check_number


def seconds_per_frame(report, layer: str) -> dict[str, float]:
    """Column label -> seconds per frame for one layer, measured and simulated."""
    cells = {m.label: m.seconds_per_frame for m in report.measurements if m.layer == layer}
    cells.update({r.label: r.seconds for r in report.eie if r.layer == layer})
    if not cells:
        raise EieError(f"the report has no layer {layer!r}; it has {', '.join(report.layers())}")
    return cells


def speedup(answer, report, layer: str, column: str, over: str) -> Verdict:
    """Exercises 1 and 2: how many times faster ``column`` is than ``over`` per frame."""
    cells = seconds_per_frame(report, layer)
    for label in (column, over):
        if label not in cells:
            raise EieError(f"no column {label!r} for {layer}; choose one of {', '.join(cells)}")
    return check_number(
        answer, cells[over] / cells[column],
        "speedup = time per frame of the slower column / time per frame of the faster; batch "
        "timings are per call, so divide them by the batch", name="speedup", rel=1e-3)


def fastest(answer, report, layer: str) -> Verdict:
    """Exercise 3: the column with the least time per frame for ``layer``."""
    cells = seconds_per_frame(report, layer)
    return check_choice(
        answer, min(cells, key=cells.get), tuple(cells),
        "compare every column's seconds per frame (EIE's is its simulated latency)", name="column")
