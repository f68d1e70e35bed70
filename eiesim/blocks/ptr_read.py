"""Pointer read unit: the column pointers of one PE's entry list, in even and odd banks.

Ports
    read(j) -> (start, stop)   addresses of column j's entries in the sparse-matrix SRAM
    counters                   pointer_reads

p[j] and p[j + 1] always sit in different banks (even and odd j), so one cycle reads
both: the cycle in which the PE pops column j from its queue. Pointers are relative to
the PE's list for the current row block; p[K] is the list's length.
"""

from __future__ import annotations

import numpy as np

from eiesim.counters import Counters


class PtrRead:
    def __init__(self, pointers: np.ndarray, counters: Counters):
        self.even_bank = pointers[0::2].tolist()  # p[0], p[2], ...
        self.odd_bank = pointers[1::2].tolist()  # p[1], p[3], ...
        self.counters = counters

    def read(self, j: int) -> tuple[int, int]:
        half = j >> 1
        self.counters.pointer_reads += 2
        if j & 1:
            return self.odd_bank[half], self.even_bank[half + 1]
        return self.even_bank[half], self.odd_bank[half]
