"""What every energy estimator shares: its input (Activity) and its answer (ModelEnergy).

An estimator is a small plug-in: an object with a ``name`` and
``estimate(activity) -> ModelEnergy`` (and optionally ``area(config)``). Two ship with
eiesim: :class:`eiesim.energy.events.EventModel` (event counts x per-event energies from
a table of source numbers) and :class:`eiesim.energy.table2.Table2Model` (EIE Table II
power x time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from eiesim.config import ArchConfig
from eiesim.counters import Counters, PerPE


@dataclass(frozen=True)
class Activity:
    """What an estimator sees of a simulation: counters, per-PE arrays, cycles, config."""

    counters: Counters
    per_pe: PerPE
    cycles: int
    config: ArchConfig

    @property
    def time_us(self) -> float:
        return self.cycles / self.config.clock_mhz


@dataclass(frozen=True)
class Line:
    """One priced item of an estimate: an event (count x pJ) or a unit (power x time); ``per_pe``:
    how the PEs share it (equal, real, busy), or none for a unit outside the PEs."""

    name: str
    module: str
    count: float
    pj_each: float
    rule: str
    count_rule: str
    per_pe: str

    @property
    def pj(self) -> float:
        return self.count * self.pj_each


@dataclass
class ModelEnergy:
    """One estimator's answer in pJ: total, per module, per PE and outside the PEs.

    ``per_pe`` holds the energy of the units in every PE, one entry per PE; ``outside_pes``
    the energy of each unit outside the PEs (such as the LNZD or the DRAM fetch unit), by
    unit; together they make ``total``.
    """

    model: str
    source: str
    total: float
    per_module: dict[str, float]
    per_pe: np.ndarray
    outside_pes: dict[str, float]
    time_us: float
    lines: list[Line] = field(default_factory=list)

    @property
    def avg_power_mw(self) -> float:
        """pJ / us = uW; 0 when no time passed."""
        return self.total / self.time_us / 1000 if self.time_us > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "source": self.source,
            "total": self.total,
            "per_module": dict(self.per_module),
            "per_pe": [float(x) for x in self.per_pe],
            "outside_pes": dict(self.outside_pes),
            "avg_power_mw": self.avg_power_mw,
            "lines": {
                ln.name: {"count": ln.count, "pj_each": ln.pj_each, "pj": ln.pj} for ln in self.lines
            },
        }


class Estimator(Protocol):
    name: str

    def estimate(self, activity: Activity) -> ModelEnergy: ...


def share(total: float, weights: np.ndarray) -> np.ndarray:
    """``total`` split in proportion to ``weights``; evenly when they are all zero."""
    w = np.asarray(weights, np.float64)
    s = w.sum()
    return total * w / s if s > 0 else np.full(w.size, total / w.size)
