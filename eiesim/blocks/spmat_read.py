"""Sparse-matrix read unit: issues a column's entry addresses and reads the SRAM.

Ports
    ptr          the pointer-read unit's register (start, stop, broadcast), taken the
                 cycle after the pop
    out          the entries leaving the SRAM, one per lane: (code v, relative index z,
                 first of its column?, the column's broadcast (j, a_j)), read by the
                 arithmetic unit's decode stage next cycle
    wants_column  after this cycle the unit has no address left to issue
    counters     spmat_row_reads; ``busy`` of this PE (cycles holding a column)

Two stages. Issue (the column register): in cycle s + 1 after a pop in s the unit takes
the pointers and issues one address per cycle, s + 1 .. s + n; an empty column still
occupies the column register for its one cycle. The stage registers are vectors of
``lanes`` entries (``eiesim.timing.ISSUE_LANES``, EIE: 1): a wider unit issues up to ``lanes`` addresses of its column
per cycle, read in address order. SRAM read (the row register): the
address issued in cycle i is read in cycle i + 1. The SRAM is ``spmat_width_bits`` wide,
so one row holds E = floor(width / (b + x)) entries and the entry at address A lives in
row A div E; the row register keeps the last row read, and the SRAM is read only when an
address falls in another row (the first of a block always reads).
"""

from __future__ import annotations

from eiesim.counters import Counters
from eiesim.timing import ISSUE_LANES, SPMAT_READ_LATENCY


class SpmatRead:
    READ_STAGES = ("SRAM read",)  # the address register feeds the row register
    if len(READ_STAGES) != SPMAT_READ_LATENCY:
        raise ImportError("eiesim.timing.SPMAT_READ_LATENCY must count the SpmatRead's read stages")

    def __init__(self, codes: list[int], rels: list[int], entries_per_row: int, counters: Counters, observer=None,
                 pe: int = 0, lanes: int = ISSUE_LANES):
        self.codes = codes  # the PE's entry list of the block, in address order
        self.rels = rels
        self.entries_per_row = entries_per_row
        self.counters = counters
        self.observer = observer
        self.pe = pe
        self.lanes = lanes  # addresses issued per cycle, all of one column
        self.column = None  # [next address, start, stop, broadcast] while a column is held
        self.issued: list | tuple = ()  # address register, one per lane: (address, first of column?, broadcast)
        self.read: list | tuple = ()  # what the SRAM read stage handled in this cycle, for traces
        self.row_number = -1  # row held in the row register; nothing read yet in this block
        self.row: tuple[list[int], list[int]] = ([], [])
        self.out: list | tuple = ()
        self.row_read = False  # the SRAM read stage read a new row in this cycle, for traces
        self.busy = 0
        self.holds_last = False  # this cycle ends the column marked last

    @property
    def wants_column(self) -> bool:
        return self.column is None

    def tick(self, now: int, ptr) -> None:
        # SRAM read stage: the addresses issued in the previous cycle, in order.
        issued = self.read = self.issued
        self.row_read = False
        if issued:
            out = self.out = []
            for address, first, broadcast in issued:
                row, offset = divmod(address, self.entries_per_row)
                if row != self.row_number:
                    lo = row * self.entries_per_row
                    self.row = (self.codes[lo : lo + self.entries_per_row], self.rels[lo : lo + self.entries_per_row])
                    self.row_number = row
                    self.counters.spmat_row_reads += 1
                    self.row_read = True
                out.append((self.row[0][offset], self.row[1][offset], first, broadcast))
        else:
            self.out = ()
        # Issue stage: take the pointers popped in the previous cycle, issue up to ``lanes`` addresses.
        self.holds_last = False
        if self.column is None and ptr.out is not None:
            start, stop, broadcast = ptr.out
            ptr.out = None
            self.column = [start, start, stop, broadcast]  # next address, start, stop, broadcast
        column = self.column
        if column is None:
            self.issued = ()
            return
        address, start, stop, broadcast = column
        self.busy += 1
        self.counters.busy_pe_cycles += 1
        last = min(stop, address + self.lanes)
        if last == address + 1:
            self.issued = ((address, address == start, broadcast),)
        else:
            self.issued = tuple((a, a == start, broadcast) for a in range(address, last))
        if self.observer is not None:
            for a in range(address, last):
                self.observer.issue(self.pe, now, a)
        address = column[0] = last
        if address == stop:
            self.column = None
            self.holds_last = broadcast.last

    def line_trace(self) -> str:
        parts = [f"iss @{address}" for address, _, _ in self.issued]
        if self.out:  # '*': the row register was loaded from the SRAM
            parts.append("sram " + " ".join(f"@{a}" for a, _, _ in self.read) + ("*" if self.row_read else ""))
        return " ".join(parts)
