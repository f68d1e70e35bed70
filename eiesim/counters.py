"""Event counters and per-PE arrays of a simulation (SPEC §5), shared by every engine.

The counter names are normative: they appear verbatim in the JSON of ``eiesim simulate``
and both engines fill them identically.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

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
    dram_bytes: int = 0  # bytes fetched from DRAM under streamed weights (§5.2; 0 on chip)
    dram_stall_cycles: int = 0  # PE cycles waiting for a queued column's data from DRAM (§5.2)

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
