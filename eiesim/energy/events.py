"""The event model: which hardware events a simulation causes, and what each one costs.

Every event names its module (EIE Table II's units: activation queue, pointer read,
sparse-matrix read, arithmetic unit, activation read/write), how its count follows from
the simulator's counters (SPEC §5), how the count is shared among PEs, and which rule of
:mod:`eiesim.energy.rules` prices one occurrence. ``eiesim energy --explain`` prints all of
it. The accumulators are the destination activation registers, which EIE places in the
activation read/write unit; the codebook lookup belongs to the arithmetic unit.

Per-PE shares: "equal" where every PE does the same (every PE pops and reads pointers for
every broadcast column; write-back is split evenly), "real" in proportion to the PE's real
entries (exact for MACs), "busy" in proportion to its busy cycles (entries issued plus
pointer-only cycles: the best per-PE proxy of issued entries among the per-PE counters),
"none" for a unit outside the PEs (such as the CCU's LNZD): its energy counts in the total
and its module, in no PE's share.
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

MODULES: dict[str, str] = {
    "queue": "activation queue",
    "pointer_read": "pointer read",
    "spmat_read": "sparse-matrix read",
    "arithmetic": "arithmetic unit",
    "act_rw": "activation read/write",
    "dram": "DRAM weight stream (streamed weights, SPEC §5.2)",
}
PER_PE_SHARES = ("equal", "real", "busy", "none")  # "none": a unit outside the PEs
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
class EventSpec:
    name: str
    module: str
    what: str
    count: Callable[[Counters, ArchConfig], int]
    count_rule: str
    per_pe: str  # one of PER_PE_SHARES
    energy: Callable[[EnergyTable, ArchConfig], Derived]
    citation: str  # where the event comes from: the unit of EIE's PE that causes it


def _pointer_banks(config: ArchConfig) -> int:
    """Banks the pointer SRAM is split into (the ``pointer_banks`` timing rule)."""
    return 2 if config.rules.pointer_banks == "two" else 1


# The two prices shared by several events, bound with partial below: worked out when asked
# (at import, a closure would fix its numbers before a test could see them).
def _register_file(bits: Callable[[ArchConfig], int], table: EnergyTable, cfg: ArchConfig) -> Derived:
    return rules.register_file(table, bits(cfg))


def _datapath(op: str, table: EnergyTable, cfg: ArchConfig) -> Derived:
    return rules.arithmetic(table, op, datapath_bits(cfg), cfg.precision == "float32")


EVENTS: tuple[EventSpec, ...] = (
    EventSpec(
        "queue_push", "queue", "a broadcast (value, column index) written into a PE's activation queue",
        lambda c, cfg: c.broadcasts * cfg.n_pe, "broadcasts x N (every PE queues every broadcast)",
        "equal", partial(_register_file, queue_entry_bits),
        FIG4 + "activation queue",
    ),
    EventSpec(
        "queue_pop", "queue", "the head of a PE's activation queue read when the PE starts a column",
        lambda c, cfg: c.broadcasts * cfg.n_pe, "broadcasts x N (every PE pops every broadcast)",
        "equal", partial(_register_file, queue_entry_bits),
        FIG4 + "activation queue",
    ),
    EventSpec(
        "pointer_read", "pointer_read", "one column pointer read from a pointer SRAM bank",
        lambda c, cfg: c.pointer_reads, "pointer_reads (2 per PE and broadcast column)", "equal",
        lambda table, cfg: rules.sram_access(table, cfg.ptr_sram_kb / _pointer_banks(cfg), cfg.ptr_bits),
        FIG4 + "pointer read unit, even/odd banks",
    ),
    EventSpec(
        "spmat_row_read", "spmat_read", "one row of the sparse-matrix SRAM",
        lambda c, cfg: c.spmat_row_reads, "spmat_row_reads",
        "busy", lambda table, cfg: rules.sram_access(table, cfg.spmat_sram_kb, cfg.spmat_width_bits),
        FIG4 + "sparse matrix read unit",
    ),
    EventSpec(
        "codebook_read", "arithmetic", "the weight code of an issued entry looked up in the codebook",
        lambda c, cfg: c.codebook_reads, "codebook_reads (real + filler entries)",
        "busy", partial(_register_file, datapath_bits),
        FIG4 + "arithmetic unit, codebook",
    ),
    EventSpec(
        "row_address_add", "arithmetic", "z + 1 added to the local row address of an issued entry",
        lambda c, cfg: c.codebook_reads, "codebook_reads (every issued entry, fillers too)",
        "busy", lambda table, cfg: rules.int_op(table, "add", row_address_bits(cfg)),
        FIG4 + "arithmetic unit, address accumulate",
    ),
    EventSpec(
        "multiply", "arithmetic", "weight x activation",
        lambda c, cfg: c.macs, "macs (real entries)",
        "real", partial(_datapath, "mult"),
        FIG4 + "arithmetic unit",
    ),
    EventSpec(
        "accumulate_add", "arithmetic", "product added to the accumulator",
        lambda c, cfg: c.macs, "macs (real entries)",
        "real", partial(_datapath, "add"),
        FIG4 + "arithmetic unit",
    ),
    EventSpec(
        "accumulator_read", "act_rw", "an accumulator (destination register) read for an add",
        lambda c, cfg: c.macs - c.bypass_hits, "macs - bypass_hits (a bypassed add reuses the sum)",
        "real", partial(_register_file, datapath_bits),
        FIG4 + "activation read/write, destination registers",
    ),
    EventSpec(
        "accumulator_write", "act_rw", "an accumulator (destination register) written after an add",
        lambda c, cfg: c.accumulator_writes, "accumulator_writes",
        "real", partial(_register_file, datapath_bits),
        FIG4 + "activation read/write, destination registers",
    ),
    EventSpec(
        "source_act_read", "act_rw", "a non-zero input read from the source registers to broadcast it",
        lambda c, cfg: c.broadcasts, "broadcasts",
        "equal", partial(_register_file, datapath_bits),
        FIG4 + "activation read/write, source registers",
    ),
    EventSpec(
        "writeback_read", "act_rw", "an accumulator read to write it back between row blocks",
        lambda c, cfg: c.act_sram_writes, "act_sram_writes",
        "equal", partial(_register_file, datapath_bits),
        FIG4 + "activation read/write, write-back",
    ),
    EventSpec(
        "act_sram_write", "act_rw", "an output value written to the activation SRAM between row blocks",
        lambda c, cfg: c.act_sram_writes, "act_sram_writes",
        "equal", lambda table, cfg: rules.sram_access(table, cfg.act_sram_kb, datapath_bits(cfg)),
        FIG4 + "activation read/write, activation SRAM",
    ),
    EventSpec(
        "dram_read", "dram", "a byte of a column's entries and pointers read from DRAM (streamed weights)",
        lambda c, cfg: c.dram_bytes, "dram_bytes (0 with weights on chip)",
        "none", lambda table, cfg: rules.dram_byte(table),
        "SPEC §5.2: the DRAM fetch unit, outside the PEs",
    ),
)


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
            Line(spec.name, spec.module, counts[spec.name], each[spec.name].pj,
                 each[spec.name].rule, spec.count_rule, spec.per_pe)
            for spec in EVENTS
        ]
        per_module = dict.fromkeys(MODULES, 0.0)
        per_share = dict.fromkeys(PER_PE_SHARES, 0.0)
        for line in lines:
            per_module[line.module] += line.pj
            per_share[line.per_pe] += line.pj
        proxies = {"equal": np.ones(cfg.n_pe), "real": activity.per_pe.real, "busy": activity.per_pe.busy}
        per_pe = sum(share(per_share[k], proxies[k]) for k in proxies)
        return ModelEnergy(
            self.name, f"{self.table.name} ({self.table.source})", sum(per_module.values()),
            per_module, per_pe, activity.time_us, lines,
        )
