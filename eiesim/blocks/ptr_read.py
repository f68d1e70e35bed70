"""Pointer read unit: pops a column from the activation queue and reads its two pointers.

Ports
    queue        the PE's activation queue (``can_get`` / ``get``)
    spmat        the sparse-matrix read unit: ``wants_column`` says it takes a column next cycle
    out          pointer register (start, stop, broadcast), read by the sparse-matrix read
                 unit in the next cycle
    dram         under streamed weights (SPEC §5.2) the DRAM fetch unit (``ready`` / ``popped``),
                 else None
    counters     pointer_reads, empty_columns, starved_pe_cycles, dram_stall_cycles; ``starved``
                 of this PE

p[j] and p[j + 1] always sit in different banks (even and odd j), so one cycle reads
both: the cycle in which the PE pops column j. With one pointer bank (the
``pointer_banks`` rule) the two reads take ``cycles`` = 2 cycles: the pointer register
is written in the second, the unit pops nothing meanwhile. Pointers are relative to the
PE's entry list for the row block; p[K] is the list's length.

One cycle: when the sparse-matrix read unit issues the last entry of its column in this
cycle (or holds an empty column, or nothing), the unit pops the next latched column and
reads its pointers, so the next column's pointer read overlaps the last entry. If the
queue holds no latched column, the PE is starved in this cycle, counted only between its
first column and the column marked last. Under streamed weights the latched column is
popped only once its data is in the PE's stream buffer; a cycle spent waiting for it is a
DRAM stall (and starved, counted as above).
"""

from __future__ import annotations

from eiesim.blocks.act_queue import ActQueue
from eiesim.counters import Counters


class PtrRead:
    def __init__(self, pe: int, pointers: list[int], queue: ActQueue, counters: Counters, observer=None,
                 cycles: int = 1, dram=None):
        self.pe = pe
        self.cycles = cycles  # cycles to read a column's two pointers
        self.reading = None  # (start, stop, broadcast) while the pointer reads take further cycles
        self.remaining = 0
        self.even_bank = pointers[0::2]  # p[0], p[2], ...
        self.odd_bank = pointers[1::2]  # p[1], p[3], ...
        self.queue = queue
        self.dram = dram
        self.counters = counters
        self.observer = observer
        self.out = None  # pointer register
        self.started = False  # popped a column in this block
        self.finished = False  # popped the column marked last
        self.starved = 0
        self.waited = False  # starved in this cycle, for traces
        self.data_late = False  # waited for the queued column's data from DRAM in this cycle, for traces

    def read(self, j: int) -> tuple[int, int]:
        """p[j] and p[j + 1], one from each bank."""
        half = j >> 1
        self.counters.pointer_reads += 2
        if j & 1:
            return self.odd_bank[half], self.even_bank[half + 1]
        return self.even_bank[half], self.odd_bank[half]

    def tick(self, now: int, spmat_wants_column: bool) -> None:
        self.waited = self.data_late = False
        if self.reading is not None:  # a further pointer-read cycle
            self.remaining -= 1
            if self.remaining == 0:
                self.out, self.reading = self.reading, None
            return
        if self.finished or not spmat_wants_column:
            return
        if self.queue.can_get(now) and self.dram is not None:
            self.data_late = not self.dram.ready(self.queue.head().index, now)
            self.counters.dram_stall_cycles += self.data_late
        if self.data_late or not self.queue.can_get(now):
            if self.started:
                self.starved += 1
                self.waited = True
                self.counters.starved_pe_cycles += 1
            return
        column = self.queue.get(now)
        if self.dram is not None:
            self.dram.popped(self.pe)
        start, stop = self.read(column.index)
        self.counters.empty_columns += start == stop
        self.reading, self.remaining = (start, stop, column), self.cycles - 1
        if self.remaining == 0:
            self.out, self.reading = self.reading, None
        self.started = True
        self.finished = column.last
        if self.observer is not None:
            self.observer.column(self.pe, now, column.index, start, stop - start)

    def line_trace(self) -> str:
        held = self.out or self.reading
        if held is not None:
            return f"ptr j{held[2].index}"
        return "dram" if self.data_late else "wait" if self.waited else ""
