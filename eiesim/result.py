"""What a simulation reports: counters, per-PE arrays, derived metrics, energy and fit
(SPEC §5, §9). The derived metrics are normative; the JSON of ``eiesim simulate`` is
:meth:`SimResult.to_dict`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eiesim.counters import Counters, PerPE
from eiesim.energy.report import EnergyReport
from eiesim.fit import FitReport
from eiesim.timing import ISSUE_LANES


def derived_metrics(counters: Counters, busy, n_pe: int, cycles: int, lanes: int = ISSUE_LANES) -> dict[str, float]:
    """Derived metrics of SPEC §5 for N PEs that issue up to ``lanes`` entries per cycle each.

    The array issues at most N x lanes entries per cycle (EIE: one per PE): the theoretical
    cycles and the useful efficiency count that capacity. Busy cycles are cycles a PE holds a
    column, however many entries it issues in them: load efficiency (EIE Fig. 8) and
    imbalance need no lanes. ``busy``: one count per PE, N >= 1.
    """
    c = counters
    padded = c.real_entries + c.filler_entries
    work = padded + c.empty_columns
    slots = n_pe * lanes  # entries the array can issue per cycle
    busy = np.asarray(busy, np.float64)
    mean_busy = busy.mean()
    return {
        "theoretical_cycles_ideal": math.ceil(c.real_entries / slots),
        "theoretical_cycles_padded": math.ceil(padded / slots),
        "load_efficiency": c.busy_pe_cycles / (n_pe * cycles),
        "useful_efficiency": c.real_entries / (slots * cycles),
        "real_work_fraction": c.real_entries / work if work else 0.0,
        "imbalance": float(busy.max() / mean_busy) if mean_busy > 0 else 1.0,
    }


@dataclass
class SimResult:
    """The outcome of simulating one layer on one configuration."""

    layer: str
    engine: str
    n_pe: int
    queue_depth: int
    clock_mhz: float
    cycles: int
    counters: Counters
    per_pe: PerPE
    output: np.ndarray | None  # None when simulated without outputs
    sim_wall_s: float  # engine time, excluding JIT compilation and input preparation
    block_cycles: list[int]
    energy: EnergyReport  # both models, per module and per PE
    fit: FitReport  # SRAM use of the fullest PE
    timing: str = "spec"  # the timing profile (eiesim.timing.PROFILES)
    settings: dict[str, Any] = field(default_factory=dict)  # every non-default config field (ArchConfig.settings)

    @property
    def time_us(self) -> float:
        return self.cycles / self.clock_mhz

    @property
    def metrics(self) -> dict[str, float]:
        """Derived metrics of SPEC §5 (zero-work conventions pinned in the tests)."""
        return derived_metrics(self.counters, self.per_pe.busy, self.n_pe, self.cycles)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``eiesim simulate --json`` (SPEC §9)."""
        return {
            "layer": self.layer,
            "cycles": int(self.cycles),
            "time_us": self.time_us,
            "n_pe": self.n_pe,
            "queue_depth": self.queue_depth,
            "timing": self.timing,
            "settings": dict(self.settings),
            "engine": self.engine,
            "counters": self.counters.to_dict(),
            "metrics": self.metrics,
            "per_pe": self.per_pe.to_dict(),
            "block_cycles": [int(b) for b in self.block_cycles],
            "energy_pj": self.energy.to_dict(),
            "fit": self.fit.to_dict(),
            "sim_wall_s": self.sim_wall_s,
        }
