"""Processing element: pops broadcast columns and issues their entries, one per cycle.

Ports
    queue       its activation queue (input from the CCU)
    ptr_read    pointer read unit: (start, stop) of a column's entries
    spmat       sparse-matrix read unit: the entries at those addresses
    arith       arithmetic unit: executes the entries against a_j
    counters    real_entries, filler_entries, empty_columns, busy_pe_cycles,
                starved_pe_cycles; per-PE ``busy``, ``starved`` and ``real`` totals

One column: in cycle s the PE pops (j, a_j) and reads p[j], p[j + 1]; its n entries are
issued in cycles s + 1 .. s + n, so it can pop the next column in cycle s + c with
c = max(1, n) (the next pointer read overlaps the last entry; a column with no entry
here still costs its pointer-read cycle). A PE that is free but finds its queue empty
is starved until the next broadcast lands. After its last column, an entry needs
``eiesim.timing.PIPELINE_DRAIN`` more cycles to reach its accumulator: its issue, the
SRAM read and the four arithmetic stages.
"""

from __future__ import annotations

import simpy

from eiesim.blocks.act_queue import ActQueue
from eiesim.blocks.arith import ArithmeticUnit
from eiesim.blocks.ptr_read import PtrRead
from eiesim.blocks.spmat_read import SpmatRead
from eiesim.counters import Counters


class ProcessingElement:
    def __init__(
        self, env: simpy.Environment, index: int, queue: ActQueue, ptr_read: PtrRead,
        spmat: SpmatRead, arith: ArithmeticUnit, counters: Counters, trace=None,
    ):
        self.env = env
        self.index = index
        self.queue = queue
        self.ptr_read = ptr_read
        self.spmat = spmat
        self.arith = arith
        self.counters = counters
        self.trace = trace
        self.busy = self.starved = self.real = 0

    def run(self):
        """SimPy process for one row block: ends after the column marked last."""
        env, counters = self.env, self.counters
        free_since = None  # cycle in which the previous column's issue slot ended
        while True:
            if self.queue.empty:
                yield self.queue.entry_arrived()
            column = self.queue.pop()
            if free_since is not None:
                self.starved += env.now - free_since
                counters.starved_pe_cycles += env.now - free_since
            start, stop = self.ptr_read.read(column.index)
            n = stop - start
            real = 0
            if n:  # an empty column issues nothing: only its pointer-read cycle
                codes, rels = self.spmat.read(start, stop)
                real = self.arith.execute(codes, rels, column.value, env.now + 1, column.index)
            cost = max(1, n)
            self.busy += cost
            self.real += real
            counters.busy_pe_cycles += cost
            counters.real_entries += real
            counters.filler_entries += n - real
            counters.empty_columns += n == 0
            if self.trace is not None:
                self.trace.column(self.index, env.now, column.index, start, n)
            yield env.timeout(cost)
            free_since = env.now
            if column.last:
                return
