"""The second model, from EIE Table II: power x time for the PE array, and its area.

Rules (shown by ``eiesim energy --explain``):

- Energy of a unit = its Table II power x N PEs x time. The powers were measured at the
  table's clock (800 MHz) at the paper's toggle rates; dynamic power scales with the clock,
  so the energy of one cycle, P / f_ref, is kept at other clocks: E = P x cycles / f_ref.
- The LNZD quadtree has one node per group of four below it: sum over levels l = 1..L of
  ceil(N / 4^l) nodes (21 for 64 PEs), each at the table's LNZD node power and area.
- Area = N x PE area + LNZD nodes x node area. Table II describes the paper's PE; other
  config fields (SRAM sizes, widths) do not change this model.

The table must be self-consistent: its unit powers, its power-by-type split and its unit
areas plus filler cells must add up to the PE totals (within 1 %).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.energy.base import Activity, Line, ModelEnergy
from eiesim.energy.tables import EnergyTable, load_table

# event-model module -> Table II unit key prefix
UNITS = {
    "queue": "act_queue",
    "pointer_read": "ptr_read",
    "spmat_read": "spmat_read",
    "arithmetic": "arithm_unit",
    "act_rw": "act_rw",
}
POWER_TYPES = ("memory_power", "clock_network_power", "register_power", "combinational_power")
CONSISTENCY_TOLERANCE = 0.01


def lnzd_nodes(config: ArchConfig) -> int:
    """Nodes of a 4-ary tree over N leaves: sum over l = 1..L of ceil(N / 4^l)."""
    n = config.n_pe
    return sum(math.ceil(n / 4**level) for level in range(1, config.lnzd_latency + 1))


def _check_sum(table: EnergyTable, parts: list[str], total_key: str) -> None:
    got, want = sum(table[k] for k in parts), table[total_key]
    if abs(got - want) > CONSISTENCY_TOLERANCE * want:
        raise EieError(
            f"energy table {table.source}: '{total_key}' = {want:g} but {' + '.join(parts)} = {got:g}"
        )


class Table2Model:
    """EIE Table II power x time, and the array's area."""

    name = "table2"

    def __init__(self, table: "str | EnergyTable | None" = None):
        self.table = t = load_table(table, "table2")
        _check_sum(t, [f"{u}_power" for u in UNITS.values()], "pe_power")
        _check_sum(t, list(POWER_TYPES), "pe_power")
        _check_sum(t, [f"{u}_area" for u in UNITS.values()] + ["filler_cell_area"], "pe_area")

    def estimate(self, activity: Activity) -> ModelEnergy:
        t, cfg = self.table, activity.config
        n, nodes = cfg.n_pe, lnzd_nodes(cfg)
        # mW x us = nJ; cycles / f_ref(MHz) = us at the reference clock.
        pj_per_mw = activity.cycles / t["clock"] * 1000
        when = f"x {activity.cycles} cycles / {t['clock']:g} MHz"
        lines = [
            Line(module, module, n, t[f"{unit}_power"] * pj_per_mw,
                 f"{t.describe(unit + '_power')} {when}", "N PEs", "equal")
            for module, unit in UNITS.items()
        ]
        lines.append(Line("lnzd", "lnzd", nodes, t["lnzd_node_power"] * pj_per_mw,
                          f"{t.describe('lnzd_node_power')} {when}",
                          "LNZD nodes: sum over levels of ceil(N / 4^l)", "none"))
        per_module = {ln.module: ln.pj for ln in lines}
        pe_pj = sum(ln.pj for ln in lines if ln.module != "lnzd")
        return ModelEnergy(
            self.name, f"{t.name} ({t.source})", sum(per_module.values()), per_module,
            np.full(n, pe_pj / n), {"lnzd": per_module["lnzd"]}, activity.time_us, lines,
        )

    @property
    def pe_power_mw(self) -> float:
        """One PE's power: the sum of its units (the table's total up to rounding)."""
        return sum(self.table[f"{unit}_power"] for unit in UNITS.values())

    def array_power_mw(self, config: ArchConfig) -> float:
        """N PEs and the LNZD tree at the table's clock."""
        return config.n_pe * self.pe_power_mw + lnzd_nodes(config) * self.table["lnzd_node_power"]

    def area(self, config: ArchConfig) -> dict[str, Any]:
        """Area in um^2 per unit (N of each) and in total, with the LNZD tree."""
        t, n, nodes = self.table, config.n_pe, lnzd_nodes(config)
        per_unit = {module: n * t[f"{unit}_area"] for module, unit in UNITS.items()}
        per_unit["filler_cells"] = n * t["filler_cell_area"]
        per_unit["lnzd"] = nodes * t["lnzd_node_area"]
        total = sum(per_unit.values())
        return {"total_um2": total, "total_mm2": total / 1e6, "per_unit_um2": per_unit, "lnzd_nodes": nodes}

    def power_by_type_mw(self, config: ArchConfig) -> dict[str, float]:
        """The array's power at the table's clock split by type (PEs only)."""
        return {k.removesuffix("_power"): config.n_pe * self.table[k] for k in POWER_TYPES}
