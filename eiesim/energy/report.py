"""The energy report attached to every simulation result: several models side by side.

The first estimator is the primary model, whose total, per-module and per-PE energies are
the ``energy_pj`` of SPEC §9; the others follow in full with the primary's ratio to each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from eiesim.config import ArchConfig
from eiesim.counters import Counters, PerPE
from eiesim.energy.base import Activity, Estimator, ModelEnergy
from eiesim.energy.events import EventModel
from eiesim.energy.table2 import Table2Model
from eiesim.energy.tables import EnergyTable


@dataclass
class EnergyReport:
    """Estimates of several models for one simulation, the first primary."""

    estimates: list[ModelEnergy]
    area: dict[str, Any] | None = None

    @property
    def primary(self) -> ModelEnergy:
        return self.estimates[0]

    @property
    def total(self) -> float:
        return self.primary.total

    @property
    def per_module(self) -> dict[str, float]:
        return self.primary.per_module

    @property
    def per_pe(self) -> np.ndarray:
        return self.primary.per_pe

    @property
    def outside_pes(self) -> dict[str, float]:
        return self.primary.outside_pes

    def ratios(self) -> dict[str, float | None]:
        """Primary total / each other model's total (None when that one is 0)."""
        p = self.primary
        return {
            f"{p.model}/{m.model}": (p.total / m.total if m.total > 0 else None)
            for m in self.estimates[1:]
        }

    def to_dict(self) -> dict[str, Any]:
        """``energy_pj`` of SPEC §9: the primary model's total, per module, per PE and outside
        the PEs, then every model in full, their ratios and the area estimate."""
        out = {k: v for k, v in self.primary.to_dict().items()
               if k in ("total", "per_module", "per_pe", "outside_pes")}
        out["models"] = {m.model: m.to_dict() for m in self.estimates}
        out["ratios"] = self.ratios()
        if self.area is not None:
            out["area"] = self.area
        return out


def estimate(activity: Activity, estimators: Sequence[Estimator]) -> EnergyReport:
    """Run each estimator on ``activity``; the first is the report's primary model."""
    area = next((e.area(activity.config) for e in estimators if hasattr(e, "area")), None)
    return EnergyReport([e.estimate(activity) for e in estimators], area)


def energy_report(
    counters: Counters,
    per_pe: PerPE,
    cycles: int,
    config: ArchConfig,
    table: "str | EnergyTable | None" = None,
    table2: "str | EnergyTable | None" = None,
) -> EnergyReport:
    """The event model (``table``, default Horowitz 45 nm) beside EIE Table II (``table2``)."""
    return estimate(Activity(counters, per_pe, cycles, config), [EventModel(table), Table2Model(table2)])
