"""Energy and area models with stated provenance (SPEC §7), Accelergy-style.

Numbers are data (``tables/*.toml``: value, unit and citation for each), derivation rules
are code (:mod:`.rules`, each derived energy carries the sentence that explains it), and
estimators are small swappable plug-ins (:mod:`.base`):

- :class:`EventModel`: event counts from the simulator's counters (:mod:`.events`: each
  event of a declared :class:`~eiesim.energy.events.Unit`, in every PE or outside the PEs) x per-event energies
  derived from Horowitz's 45 nm table; the primary model;
- :class:`Table2Model`: EIE Table II power x time, and the array's area;
- :func:`dram_counterfactual`: the weights fetched from DRAM every inference.

The studies that run benchmarks through the simulator with these models (EIE Figs. 9
and 10) are application code: :mod:`eiesim.paper.studies`.

``energy_report(counters, per_pe, cycles, config, table=None, table2=None)`` is what
``simulate`` attaches to every result.
"""

from eiesim.energy.base import Activity, ModelEnergy
from eiesim.energy.dram import dram_counterfactual
from eiesim.energy.events import EVENTS, MODULES, UNITS, EventModel
from eiesim.energy.report import EnergyReport, energy_report, estimate
from eiesim.energy.table2 import Table2Model, lnzd_nodes
from eiesim.energy.tables import EnergyTable, load_table

# Version of the energy rules (the tables' bytes are fingerprinted separately): bump when
# the energy of the same counters and config can change.
ENERGY_VERSION = 2  # 2: the LNZD's scan cycles priced (a unit outside the PEs)

__all__ = [
    "EVENTS", "MODULES", "UNITS", "Activity", "EnergyReport", "EnergyTable", "EventModel", "ModelEnergy",
    "Table2Model", "dram_counterfactual", "energy_report", "estimate", "lnzd_nodes", "load_table",
]
