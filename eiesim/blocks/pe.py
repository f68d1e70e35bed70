"""Processing element: the pointer-read, sparse-matrix read and arithmetic blocks of one PE.

Ports
    queue       its activation queue (input from the CCU)
    ptr_read    pops a column and reads its pointers (``PtrRead``)
    spmat       issues the column's addresses and reads the SRAM (``SpmatRead``)
    arith       decode, multiply, shift-add, write (``ArithmeticUnit``) into ``act_rw``
    act_rw      source and destination register files (``ActRW``)

One cycle: the blocks are clocked last stage first (arithmetic, sparse-matrix read,
pointer read), so every register hand-off takes exactly one cycle. A column popped in
cycle s has its entries issued in s + 1 .. s + n and the next pop overlaps the last
issue; the entries then take the SRAM read and the four arithmetic stages.

The PE's pipeline stages, in order, are ``STAGES``: issue, SRAM read and the arithmetic
unit's four (``eiesim.timing.PIPELINE_DRAIN`` counts them). Under the ``pipeline`` block
end (SPEC §5) the PE issues an end-of-block marker
in the last cycle its column register holds the column marked last (or, when nothing was
broadcast, in the cycle the CCU finds the LNZD exhausted); the marker moves one stage
per cycle and the PE is done when it leaves the write stage. Under the ``drained`` block
end (SPEC §5.1) the PE is done once it popped the last column and every register is empty:
a popped column holds the column register until s + 1, a filler leaves after its decode
(issue + 2), a real entry after its write (issue + 5).
"""

from __future__ import annotations

from eiesim.blocks.act_queue import ActQueue
from eiesim.blocks.act_rw import ActRW
from eiesim.blocks.arith import ArithmeticUnit
from eiesim.blocks.ptr_read import PtrRead
from eiesim.blocks.spmat_read import SpmatRead
from eiesim.timing import PIPELINE_DRAIN

STAGES = ("issue", *SpmatRead.READ_STAGES, *ArithmeticUnit.STAGES)
if len(STAGES) != PIPELINE_DRAIN:
    raise ImportError("eiesim.timing.PIPELINE_DRAIN must count the PE's pipeline stages")


class ProcessingElement:
    def __init__(self, index: int, queue: ActQueue, ptr_read: PtrRead, spmat: SpmatRead,
                 arith: ArithmeticUnit, act_rw: ActRW):
        self.index = index
        self.queue = queue
        self.ptr_read = ptr_read
        self.spmat = spmat
        self.arith = arith
        self.act_rw = act_rw
        self.marker = None  # stage index of the end-of-block marker, once issued

    def tick(self, now: int) -> None:
        spmat = self.spmat
        self.arith.tick(spmat.out)
        spmat.tick(now, self.ptr_read)
        self.ptr_read.tick(now, spmat.column is None and self.ptr_read.out is None)
        if self.marker is not None:
            self.marker += 1
        elif spmat.holds_last:
            self.marker = 0

    def end_without_input(self) -> None:
        """The CCU found nothing to broadcast: issue the end marker in this cycle."""
        self.marker = 0

    @property
    def marker_left(self) -> bool:
        """The end marker has passed the last stage (checked after a cycle's tick)."""
        return self.marker is not None and self.marker >= len(STAGES) - 1

    @property
    def drained(self) -> bool:
        return (self.ptr_read.finished and self.ptr_read.out is None and self.ptr_read.reading is None
                and self.spmat.column is None
                and not self.spmat.issued and not self.spmat.out and self.arith.empty)

    def line_trace(self) -> str:
        parts = [self.queue.line_trace(), self.ptr_read.line_trace(), self.spmat.line_trace(), self.arith.line_trace()]
        return " ".join(p for p in parts if p)
