"""Processing element: the pointer-read, sparse-matrix read and arithmetic blocks of one PE.

Ports
    queue       its activation queue (input from the CCU)
    ptr_read    pops a column and reads its pointers (``PtrRead``)
    spmat       issues the column's addresses and reads the SRAM (``SpmatRead``)
    arith       decode, multiply, shift-add, write (``ArithmeticUnit``) into ``act_rw``
    act_rw      source and destination register files (``ActRW``)

One cycle: each block ticks once, in an order derived from what it reads of the others
(``READS``, after PyMTL3's method-ordering constraints): a block that reads another's
register as it stood at the end of the last cycle ticks before that block writes it, a
block that reads what another decides in this cycle ticks after it. Today that is last
stage first (arithmetic, sparse-matrix read, pointer read), so every register hand-off
takes exactly one cycle. A column popped in cycle s has its entries issued in s + 1 ..
s + n and the next pop overlaps the last issue; the entries then take the SRAM read and
the four arithmetic stages.

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

from graphlib import TopologicalSorter

from eiesim.blocks.act_queue import ActQueue
from eiesim.blocks.act_rw import ActRW
from eiesim.blocks.arith import ArithmeticUnit
from eiesim.blocks.ptr_read import PtrRead
from eiesim.blocks.spmat_read import SpmatRead
from eiesim.timing import PIPELINE_DRAIN

STAGES = ("issue", *SpmatRead.READ_STAGES, *ArithmeticUnit.STAGES)
if len(STAGES) != PIPELINE_DRAIN:
    raise ImportError("eiesim.timing.PIPELINE_DRAIN must count the PE's pipeline stages")

# What each block's tick reads of the others: ("previous", block) a register that block
# writes, as it stood at the end of the last cycle; ("current", block) what that block
# decides in this cycle.
READS: dict[str, tuple[tuple[str, str], ...]] = {
    "arith": (("previous", "spmat"),),  # decodes the entries the SRAM read stage produced
    "spmat": (("previous", "ptr_read"),),  # takes the pointer register written at the pop
    "ptr_read": (("current", "spmat"),),  # pops when the column register frees in this cycle
}


def tick_order(reads: dict[str, tuple[tuple[str, str], ...]]) -> tuple[str, ...]:
    """The blocks in an order that keeps every read of ``reads`` (a cycle is an error)."""
    before: dict[str, set[str]] = {name: set() for name in reads}  # block -> blocks that tick before it
    for name, deps in reads.items():
        for when, other in deps:
            if when == "previous":  # read before the other block overwrites it
                before[other].add(name)
            else:  # read once the other block has decided
                before[name].add(other)
    return tuple(TopologicalSorter(before).static_order())


TICK_ORDER = tick_order(READS)


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
        self._ticks = [getattr(self, f"_tick_{name}") for name in TICK_ORDER]

    def tick(self, now: int) -> None:
        for tick in self._ticks:
            tick(now)
        if self.marker is not None:
            self.marker += 1
        elif self.spmat.holds_last:
            self.marker = 0

    def _tick_arith(self, now: int) -> None:
        self.arith.tick(self.spmat.out)

    def _tick_spmat(self, now: int) -> None:
        self.spmat.tick(now, self.ptr_read)

    def _tick_ptr_read(self, now: int) -> None:
        self.ptr_read.tick(now, self.spmat.column is None and self.ptr_read.out is None)

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
