"""The event model: the units of the machine, the hardware events each causes, and what each costs.

A :class:`Unit` is declared once: its name (the key of ``per_module``, the JSON and the
store), a label, where it sits (``"pe"``: in every PE, EIE Table II's units: activation
queue, pointer read, sparse-matrix read, arithmetic unit, activation read/write; ``"chip"``:
once on the chip, outside the PEs, such as the DRAM fetch unit) and its source. Every event
names its unit, how its count follows from the simulator's counters (SPEC §5), how the
count is shared among PEs (an event of a PE unit only), and which rule of
:mod:`eiesim.energy.rules` prices one occurrence. The unit list (:data:`UNITS`,
:data:`MODULES`), the per-module and per-PE totals, the outside-PE part by unit and
``eiesim energy --explain`` all follow from :data:`EVENTS`. The accumulators are the
destination activation registers, which EIE places in the activation read/write unit; the
codebook lookup belongs to the arithmetic unit.

Per-PE shares of a PE unit's event: "equal" where every PE does the same (every PE pops
and reads pointers for every broadcast column; write-back is split evenly), "real" in
proportion to the PE's real entries (exact for MACs), "busy" in proportion to its busy
cycles (entries issued plus pointer-only cycles: the best per-PE proxy of issued entries
among the per-PE counters). The energy of a unit outside the PEs is its own
(``ModelEnergy.outside_pes``), in no PE's share.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Callable

import numpy as np

from eiecore import caches
from eiesim.config import ArchConfig
from eiesim.counters import Counters
from eiesim.energy import rules
from eiesim.energy.base import Activity, Line, ModelEnergy, share
from eiesim.energy.rules import Derived
from eiesim.energy.tables import EnergyTable, load_table

PLACES = {"pe": "in every PE", "chip": "outside the PEs"}  # where a unit sits: Unit.where -> words
PE_SHARES = ("equal", "real", "busy")  # how the PEs share an event of a PE unit
OUTSIDE = "none"  # the share (Line.per_pe) of an event of a unit outside the PEs: no PE's
FIG4 = "EIE (ISCA 2016) §IV, Fig. 4: "  # the events' source: the unit of the PE that causes each


# The datapath width (ArchConfig.datapath_bits) as a function of the config, like the widths below.
datapath_bits: Callable[[ArchConfig], int] = operator.attrgetter("datapath_bits")


def column_index_bits(config: ArchConfig) -> int:
    """Bits of a column index: enough to address every pointer the pointer SRAM holds."""
    pointers = config.ptr_sram_kb * 8192 / config.ptr_bits
    return max(1, math.ceil(math.log2(pointers)))


def queue_entry_bits(config: ArchConfig) -> int:
    """A queue slot holds one broadcast: the activation value and its column index."""
    return datapath_bits(config) + column_index_bits(config)


def row_address_bits(config: ArchConfig) -> int:
    """Bits of the local row address that accumulates z + 1 (R accumulators)."""
    return max(1, math.ceil(math.log2(config.accumulators_per_pe)))


@dataclass(frozen=True)
class Unit:
    """A unit of the machine that events belong to: in every PE ("pe") or outside the PEs ("chip")."""

    name: str  # the key of per_module, the JSON and the store
    label: str
    where: str  # one of PLACES
    citation: str

    def __post_init__(self) -> None:
        if self.where not in PLACES:
            raise ValueError(f"unit {self.name!r}: where must be one of {tuple(PLACES)}, got {self.where!r}")


@dataclass(frozen=True)
class EventSpec:
    name: str
    unit: Unit
    what: str
    count: Callable[[Counters, ArchConfig], int]
    count_rule: str
    energy: Callable[[EnergyTable, ArchConfig], Derived]
    citation: str  # where the event comes from: the part of its unit that causes it
    per_pe: str | None = None  # an event of a PE unit: one of PE_SHARES; of a unit outside the PEs: None

    def __post_init__(self) -> None:
        if self.unit.where == "pe" and self.per_pe not in PE_SHARES:
            raise ValueError(f"event {self.name!r} of a PE unit: per_pe must be one of {PE_SHARES}, "
                             f"got {self.per_pe!r}")
        if self.unit.where == "chip" and self.per_pe is not None:
            raise ValueError(f"event {self.name!r} of a unit outside the PEs is that unit's, shared by no PE: "
                             f"per_pe must be None, got {self.per_pe!r}")

    @property
    def share(self) -> str:
        """How the PEs share it (``Line.per_pe``): its per-PE share, or "none" outside the PEs."""
        return self.per_pe or OUTSIDE


def units_of(events: tuple[EventSpec, ...]) -> tuple[Unit, ...]:
    """The units of ``events`` in order of first use; a name is declared by one unit only."""
    units: dict[str, Unit] = {}
    for e in events:
        if units.setdefault(e.unit.name, e.unit) != e.unit:
            raise ValueError(f"two different units named {e.unit.name!r}")
    return tuple(units.values())


def _pointer_banks(config: ArchConfig) -> int:
    """Banks the pointer SRAM is split into (the ``pointer_banks`` timing rule)."""
    return 2 if config.rules.pointer_banks == "two" else 1


# The two prices shared by several events, bound with partial below: worked out when asked
# (at import, a closure would fix its numbers before a test could see them).
def _register_file(bits: Callable[[ArchConfig], int], table: EnergyTable, cfg: ArchConfig) -> Derived:
    return rules.register_file(table, bits(cfg))


def _datapath(op: str, table: EnergyTable, cfg: ArchConfig) -> Derived:
    return rules.arithmetic(table, op, datapath_bits(cfg), cfg.precision == "float32")


QUEUE = Unit("queue", "activation queue", "pe", FIG4 + "activation queue")
POINTER_READ = Unit("pointer_read", "pointer read", "pe", FIG4 + "pointer read unit")
SPMAT_READ = Unit("spmat_read", "sparse-matrix read", "pe", FIG4 + "sparse matrix read unit")
ARITHMETIC = Unit("arithmetic", "arithmetic unit", "pe", FIG4 + "arithmetic unit")
ACT_RW = Unit("act_rw", "activation read/write", "pe", FIG4 + "activation read/write unit")
LNZD = Unit("lnzd", "leading non-zero detection (CCU)", "chip", "EIE (ISCA 2016) §IV: the CCU's LNZD")
DRAM = Unit("dram", "DRAM fetch unit (streamed weights)", "chip", "SPEC §5.2: the DRAM fetch unit, outside the PEs")

EVENTS: tuple[EventSpec, ...] = (
    EventSpec(
        "queue_push", QUEUE, "a broadcast (value, column index) written into a PE's activation queue",
        lambda c, cfg: c.broadcasts * cfg.n_pe, "broadcasts x N (every PE queues every broadcast)",
        partial(_register_file, queue_entry_bits), FIG4 + "activation queue", per_pe="equal",
    ),
    EventSpec(
        "queue_pop", QUEUE, "the head of a PE's activation queue read when the PE starts a column",
        lambda c, cfg: c.broadcasts * cfg.n_pe, "broadcasts x N (every PE pops every broadcast)",
        partial(_register_file, queue_entry_bits), FIG4 + "activation queue", per_pe="equal",
    ),
    EventSpec(
        "pointer_read", POINTER_READ, "one column pointer read from a pointer SRAM bank",
        lambda c, cfg: c.pointer_reads, "pointer_reads (2 per PE and broadcast column)",
        lambda table, cfg: rules.sram_access(table, cfg.ptr_sram_kb / _pointer_banks(cfg), cfg.ptr_bits),
        FIG4 + "pointer read unit, even/odd banks", per_pe="equal",
    ),
    EventSpec(
        "spmat_row_read", SPMAT_READ, "one row of the sparse-matrix SRAM",
        lambda c, cfg: c.spmat_row_reads, "spmat_row_reads",
        lambda table, cfg: rules.sram_access(table, cfg.spmat_sram_kb, cfg.spmat_width_bits),
        FIG4 + "sparse matrix read unit", per_pe="busy",
    ),
    EventSpec(
        "codebook_read", ARITHMETIC, "the weight code of an issued entry looked up in the codebook",
        lambda c, cfg: c.codebook_reads, "codebook_reads (real + filler entries)",
        partial(_register_file, datapath_bits), FIG4 + "arithmetic unit, codebook", per_pe="busy",
    ),
    EventSpec(
        "row_address_add", ARITHMETIC, "z + 1 added to the local row address of an issued entry",
        lambda c, cfg: c.codebook_reads, "codebook_reads (every issued entry, fillers too)",
        lambda table, cfg: rules.int_op(table, "add", row_address_bits(cfg)),
        FIG4 + "arithmetic unit, address accumulate", per_pe="busy",
    ),
    EventSpec(
        "multiply", ARITHMETIC, "weight x activation",
        lambda c, cfg: c.macs, "macs (real entries)",
        partial(_datapath, "mult"), FIG4 + "arithmetic unit", per_pe="real",
    ),
    EventSpec(
        "accumulate_add", ARITHMETIC, "product added to the accumulator",
        lambda c, cfg: c.macs, "macs (real entries)",
        partial(_datapath, "add"), FIG4 + "arithmetic unit", per_pe="real",
    ),
    EventSpec(
        "accumulator_read", ACT_RW, "an accumulator (destination register) read for an add",
        lambda c, cfg: c.macs - c.bypass_hits, "macs - bypass_hits (a bypassed add reuses the sum)",
        partial(_register_file, datapath_bits), FIG4 + "activation read/write, destination registers",
        per_pe="real",
    ),
    EventSpec(
        "accumulator_write", ACT_RW, "an accumulator (destination register) written after an add",
        lambda c, cfg: c.accumulator_writes, "accumulator_writes",
        partial(_register_file, datapath_bits), FIG4 + "activation read/write, destination registers",
        per_pe="real",
    ),
    EventSpec(
        "source_act_read", ACT_RW, "a non-zero input read from the source registers to broadcast it",
        lambda c, cfg: c.broadcasts, "broadcasts",
        partial(_register_file, datapath_bits), FIG4 + "activation read/write, source registers",
        per_pe="equal",
    ),
    EventSpec(
        "writeback_read", ACT_RW, "an accumulator read to write it back between row blocks",
        lambda c, cfg: c.act_sram_writes, "act_sram_writes",
        partial(_register_file, datapath_bits), FIG4 + "activation read/write, write-back", per_pe="equal",
    ),
    EventSpec(
        "act_sram_write", ACT_RW, "an output value written to the activation SRAM between row blocks",
        lambda c, cfg: c.act_sram_writes, "act_sram_writes",
        lambda table, cfg: rules.sram_access(table, cfg.act_sram_kb, datapath_bits(cfg)),
        FIG4 + "activation read/write, activation SRAM", per_pe="equal",
    ),
    EventSpec(
        "lnzd_scan", LNZD, "a pack of N activations read by the LNZD in a cycle it broadcasts nothing (pack scanner)",
        lambda c, cfg: c.lnzd_scan_cycles, "lnzd_scan_cycles (0 with the tree LNZD)",
        lambda table, cfg: rules.register_file(table, cfg.n_pe * datapath_bits(cfg)),
        "SPEC §5.1: LNZD timing, packs of N activation slots",
    ),
    EventSpec(
        "dram_read", DRAM, "a byte of a column's entries and pointers read from DRAM (streamed weights)",
        lambda c, cfg: c.dram_bytes, "dram_bytes (0 with weights on chip)",
        lambda table, cfg: rules.dram_byte(table), "SPEC §5.2: the DRAM fetch unit, outside the PEs",
    ),
)
UNITS: tuple[Unit, ...] = units_of(EVENTS)  # the units, in order of their first event
MODULES: dict[str, str] = {u.name: u.label for u in UNITS}  # unit name -> label


@lru_cache(maxsize=256)
def event_energies(table: EnergyTable, config: ArchConfig) -> dict[str, Derived]:
    """The energy of one occurrence of each event, with the rule that derived it."""
    return {e.name: e.energy(table, config) for e in EVENTS}


caches.register("event energies", event_energies.cache_clear, lambda: event_energies.cache_info().currsize)


def event_counts(counters: Counters, config: ArchConfig) -> dict[str, int]:
    """How many times each event happened, from the simulator's counters."""
    return {e.name: int(e.count(counters, config)) for e in EVENTS}


class EventModel:
    """Energy = sum over events of count x per-event energy (SPEC §7), from a table."""

    name = "event"

    def __init__(self, table: "str | EnergyTable | None" = None):
        self.table = load_table(table, "events")

    def derived(self, config: ArchConfig) -> dict[str, Derived]:
        return event_energies(self.table, config)

    def estimate(self, activity: Activity) -> ModelEnergy:
        cfg = activity.config
        each = self.derived(cfg)
        counts = event_counts(activity.counters, cfg)
        lines = [
            Line(spec.name, spec.unit.name, counts[spec.name], each[spec.name].pj,
                 each[spec.name].rule, spec.count_rule, spec.share)
            for spec in EVENTS
        ]
        units = units_of(EVENTS)
        per_module = {unit.name: 0.0 for unit in units}
        per_share = dict.fromkeys((*PE_SHARES, OUTSIDE), 0.0)
        for line in lines:
            per_module[line.module] += line.pj
            per_share[line.per_pe] += line.pj
        proxies = {"equal": np.ones(cfg.n_pe), "real": activity.per_pe.real, "busy": activity.per_pe.busy}
        per_pe = sum(share(per_share[k], proxies[k]) for k in PE_SHARES)
        outside = {unit.name: per_module[unit.name] for unit in units if unit.where == "chip"}
        return ModelEnergy(
            self.name, f"{self.table.name} ({self.table.source})", sum(per_module.values()),
            per_module, per_pe, outside, activity.time_us, lines,
        )
