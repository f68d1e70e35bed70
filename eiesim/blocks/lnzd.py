"""Leading non-zero detection: the 4-ary LNZD tree (SPEC §5) and the pack scanner (§5.1).

Both present the same port to the CCU, one cycle at a time:

    peek() -> Broadcast | None   the non-zero on offer in this cycle, if one is ready
    take()                       the CCU broadcast the offer in this cycle
    exhausted                    nothing is left to offer in this row block
    tick(now)                    clock edge: refill the registers

``LnzdTree`` (``"spec"``): each PE's source register file is a leaf that holds its next
non-zero activation (PE p holds a_j for j = p mod N). Every node of the tree has one
output register and four children; a node with an empty register loads the child head
with the lowest column, once every child shows a head or is exhausted. Nodes sit on L
levels (the smallest L >= 1 with 4^L >= N), so the first non-zero reaches the root's
register at the end of cycle L - 1 and is offered in cycle L. When the CCU takes the
root's value, every node on the path refills in the same cycle (ticked root first, each
node reads its children's registers before they refill), so the tree streams one
non-zero per cycle in ascending column order and zero activations cost nothing. A node's
register also carries whether anything follows it, so the root knows the last non-zero.

``PackScanner`` (``"pack-scan"``, SPEC §5.1): the authors' LNZD reads the activations in
packs of N slots (under the ``own-pack`` bias rule the bias, or an empty bias column, is
alone in a final pack). In a cycle it offers the first broadcast slot of the loaded pack
at or after its position; when the CCU takes slot N - 1 the next pack is loaded in the
same cycle, and when the loaded pack has nothing left the cycle is spent loading the
next pack. Cycle 0 loads pack 0. The loads since the previous broadcast are that
broadcast's gap, added to ``lnzd_scan_cycles`` when it goes out; the scanner stops after
the last broadcast slot (or after the last pack, when there is none).

``Ccu``: in each cycle, if the LNZD offers a non-zero and every activation queue accepts
a put (the queue's refill rule decides), broadcast it to all PEs; otherwise hold it (a
``queue_full_stall_cycles`` cycle). The queues latch the broadcast at the clock edge.
"""

from __future__ import annotations

from dataclasses import dataclass

from eiesim.blocks.act_queue import ActQueue
from eiesim.counters import Counters


@dataclass(frozen=True, slots=True)
class Broadcast:
    """What the CCU puts on the bus: column index j, activation a_j, last of the block?"""

    index: int
    value: int | float
    last: bool


EXHAUSTED = "exhausted"  # a register that will never hold another non-zero


class _Leaf:
    """A PE's source register file seen from the tree: its non-zeros, lowest column first."""

    def __init__(self, nonzeros: list[tuple[int, int | float]]):
        self.nonzeros = nonzeros  # (global column j, a_j) with a_j != 0, ascending j
        self.position = 0
        self._show()

    def _show(self) -> None:
        i = self.position
        self.out = (*self.nonzeros[i], i + 1 < len(self.nonzeros)) if i < len(self.nonzeros) else EXHAUSTED

    def take(self) -> None:
        self.position += 1
        self._show()  # combinational: the next non-zero shows at once


class _Node:
    """One tree node: an output register (j, a_j, more follows?) fed by four children."""

    def __init__(self, children: list):
        self.children = children
        self.out = None  # empty until the children all show a head

    def take(self) -> None:
        self.out = None

    def tick(self) -> None:
        if self.out is not None:
            return
        heads = [child.out for child in self.children]
        if None in heads:  # a child's register is still empty: its head is unknown
            return
        live = [(head, child) for head, child in zip(heads, self.children) if head is not EXHAUSTED]
        if not live:
            self.out = EXHAUSTED
            return
        (j, value, more), child = min(live, key=lambda pair: pair[0][0])
        child.take()
        self.out = (j, value, more or len(live) > 1)


class LnzdTree:
    def __init__(self, sources: list[list[tuple[int, int | float]]], levels: int):
        """``sources[p]``: PE p's non-zero activations (j, a_j); ``levels``: L."""
        layer = [_Leaf(s) for s in sources]
        self.levels: list[list[_Node]] = []
        for _ in range(levels):
            layer = [_Node(layer[i : i + 4]) for i in range(0, len(layer), 4)]
            self.levels.append(layer)
        assert len(layer) == 1, "4^L must cover every PE"
        self.root = layer[0]

    @property
    def exhausted(self) -> bool:
        return self.root.out is EXHAUSTED

    def peek(self) -> Broadcast | None:
        out = self.root.out
        if out is None or out is EXHAUSTED:
            return None
        j, value, more = out
        return Broadcast(j, value, last=not more)

    def take(self) -> None:
        self.root.take()

    def tick(self, now: int) -> None:
        for level in reversed(self.levels):  # root first: parents read their children's old registers
            for node in level:
                node.tick()

    def line_trace(self) -> str:
        return ""  # the CCU's column shows what the root offered


class PackScanner:
    def __init__(self, packs: list[list[tuple[int, int, int | float]]], n_slots: int, counters: Counters):
        """``packs``: per pack its broadcast slots (slot, j, a_j) in slot order."""
        self.packs = packs
        self.n_slots = n_slots
        self.counters = counters
        filled = [i for i, pack in enumerate(packs) if pack]
        self.final = (filled[-1], packs[filled[-1]][-1][0]) if filled else None  # (pack, slot) of the last
        self.pack = -1  # nothing loaded before cycle 0
        self.slot = 0  # slots below this one have been offered
        self.taken = False
        self.pending = 0  # cycles spent loading packs since the last broadcast: its gap
        self.exhausted = False
        self.scanned = False  # this cycle loaded a pack, for traces

    def _next(self):
        if 0 <= self.pack < len(self.packs):
            for entry in self.packs[self.pack]:
                if entry[0] >= self.slot:
                    return entry
        return None

    def peek(self) -> Broadcast | None:
        entry = None if self.exhausted else self._next()
        if entry is None:
            return None
        return Broadcast(entry[1], entry[2], last=(self.pack, entry[0]) == self.final)

    def take(self) -> None:
        self.taken = True

    def tick(self, now: int) -> None:
        self.scanned = False
        if self.exhausted:
            return
        entry = self._next()
        if self.taken:
            self.taken = False
            self.counters.lnzd_scan_cycles += self.pending
            self.pending = 0
            if (self.pack, entry[0]) == self.final:
                self.exhausted = True
                return
            self.slot = entry[0] + 1
            if self.slot == self.n_slots:  # the pack's last slot went out: load the next one now
                self.pack, self.slot = self.pack + 1, 0
        elif entry is None:  # nothing left in this pack: this cycle loads the next one
            self.pack, self.slot = self.pack + 1, 0
            self.pending += 1
            self.scanned = True
            self.exhausted = self.pack >= len(self.packs)  # only when nothing is broadcast at all

    def line_trace(self) -> str:
        return f"load pack {self.pack}" if self.scanned and not self.exhausted else ""


class Ccu:
    def __init__(self, source, queues: list[ActQueue], counters: Counters, observer=None):
        self.source = source  # LnzdTree or PackScanner
        self.queues = queues
        self.counters = counters
        self.observer = observer
        self.broadcasts = 0
        self.sent: Broadcast | None = None  # what went on the bus in this cycle
        self.held: Broadcast | None = None  # an offer held because a queue was full

    def tick(self, now: int) -> None:
        self.sent = self.held = None
        offer = self.source.peek()
        if offer is None:
            return
        for queue in self.queues:
            if not queue.can_put(now):
                self.counters.queue_full_stall_cycles += 1
                self.held = offer
                return
        self.source.take()
        for queue in self.queues:
            queue.put(offer, now)
        self.sent = offer
        self.broadcasts += 1
        self.counters.broadcasts += 1
        if self.observer is not None:
            self.observer.broadcast(now, offer.index, offer.value)

    def line_trace(self) -> str:
        if self.sent is not None:
            return f"bcast j{self.sent.index}"
        return f"full, hold j{self.held.index}" if self.held is not None else ""
