"""What a simulation reports: counters, per-PE arrays and derived metrics (SPEC §5, §9).

The counter names are normative: they appear verbatim in the JSON of ``eiesim simulate``
and both engines fill them identically.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np


@dataclass
class Counters:
    """Event counts summed over row blocks (SPEC §5)."""

    broadcasts: int = 0
    real_entries: int = 0
    filler_entries: int = 0
    empty_columns: int = 0
    busy_pe_cycles: int = 0
    starved_pe_cycles: int = 0
    queue_full_stall_cycles: int = 0
    pointer_reads: int = 0
    spmat_row_reads: int = 0
    accumulator_writes: int = 0
    macs: int = 0
    codebook_reads: int = 0
    bypass_hits: int = 0
    act_sram_writes: int = 0
    lnzd_scan_cycles: int = 0  # cycles the LNZD spends reaching the next non-zero (0 under "spec", §5.1)

    def to_dict(self) -> dict[str, int]:
        return {k: int(v) for k, v in asdict(self).items()}


COUNTER_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Counters))


@dataclass
class PerPE:
    """Per-PE totals over all blocks: busy cycles, starved cycles and real entries."""

    busy: np.ndarray
    starved: np.ndarray
    real: np.ndarray

    def to_dict(self) -> dict[str, list[int]]:
        return {k: np.asarray(v).astype(int).tolist() for k, v in asdict(self).items()}


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
    energy: Any  # eiesim.energy report: both models, per module and per PE
    fit: Any  # eiesim.fit.FitReport
    timing: str = "spec"  # the timing profile (eiesim.timing.PROFILES)

    @property
    def time_us(self) -> float:
        return self.cycles / self.clock_mhz

    @property
    def metrics(self) -> dict[str, float]:
        """Derived metrics of SPEC §5 (zero-work conventions pinned in the tests)."""
        c, n = self.counters, self.n_pe
        padded = c.real_entries + c.filler_entries
        work = padded + c.empty_columns
        busy = np.asarray(self.per_pe.busy, np.float64)
        mean_busy = busy.mean() if busy.size else 0.0
        return {
            "theoretical_cycles_ideal": math.ceil(c.real_entries / n),
            "theoretical_cycles_padded": math.ceil(padded / n),
            "load_efficiency": c.busy_pe_cycles / (n * self.cycles),
            "useful_efficiency": c.real_entries / (n * self.cycles),
            "real_work_fraction": c.real_entries / work if work else 0.0,
            "imbalance": float(busy.max() / mean_busy) if mean_busy > 0 else 1.0,
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``eiesim simulate --json`` (SPEC §9)."""
        return {
            "layer": self.layer,
            "cycles": int(self.cycles),
            "time_us": self.time_us,
            "n_pe": self.n_pe,
            "queue_depth": self.queue_depth,
            "timing": self.timing,
            "engine": self.engine,
            "counters": self.counters.to_dict(),
            "metrics": self.metrics,
            "per_pe": self.per_pe.to_dict(),
            "block_cycles": [int(b) for b in self.block_cycles],
            "energy_pj": self.energy.to_dict(),
            "fit": self.fit.to_dict(),
            "sim_wall_s": self.sim_wall_s,
        }
