"""Sparse-matrix read unit: the SRAM holding one PE's (v, z) entries for a row block.

Ports
    read(start, stop) -> (codes, rels)   the entries at addresses start..stop-1, in order
    counters                             spmat_row_reads

The SRAM is ``spmat_width_bits`` wide, so one row holds E = floor(width / (b + x))
entries; the entry at address A lives in row A div E. The unit keeps the last row it
read in a row buffer and reads the SRAM only when an issued address falls in another
row (the first issue of a block always reads). Addresses of one column are consecutive,
so a column spanning rows r0..r1 costs r1 - r0 + 1 reads, less one if r0 is buffered.
Each issued entry leaves the unit one cycle after its issue cycle.
"""

from __future__ import annotations

import numpy as np

from eiesim.counters import Counters
from eiesim.timing import SPMAT_READ_LATENCY


class SpmatRead:
    LATENCY = SPMAT_READ_LATENCY  # cycles from issue to the entry leaving the SRAM
    def __init__(self, codes: np.ndarray, rels: np.ndarray, entries_per_row: int, counters: Counters):
        self.codes = codes.tolist()
        self.rels = rels.tolist()
        self.entries_per_row = entries_per_row
        self.counters = counters
        self.buffered_row = -1  # nothing read yet in this block

    def read(self, start: int, stop: int) -> tuple[list[int], list[int]]:
        """The entries at addresses start .. stop - 1 (stop > start)."""
        first, last = start // self.entries_per_row, (stop - 1) // self.entries_per_row
        self.counters.spmat_row_reads += last - first + 1 - (first == self.buffered_row)
        self.buffered_row = last
        return self.codes[start:stop], self.rels[start:stop]
