"""Leading non-zero detection (LNZD) tree and the central control unit (CCU) broadcast.

``Lnzd`` ports
    sources       every PE's source register file (PE p holds a_j for j = p mod N)
    nonzeros()    the non-zero activations in ascending column order, one per cycle
    latency       L, the depth of the 4-ary tree: its first answer needs L cycles

Each PE's LNZD leaf reports its next non-zero activation; each tree node picks the
lowest column of its four children, so the root streams the non-zeros in ascending
order, pipelined at one per cycle after the first L cycles. Zero activations cost
nothing. The root also tells whether another non-zero follows (the ``last`` flag), which
is how the PEs learn that a row block's input is exhausted.

``Ccu`` ports
    lnzd          the tree's output
    queues        every PE's activation queue: ``full`` flag, ``slot_freed()``, ``push()``
    counters      broadcasts and queue_full_stall_cycles

One cycle of the CCU: if the next non-zero is ready and no queue is full (after this
cycle's pops), broadcast its (column, value) to every PE; otherwise hold it (a
queue-full stall). At most one broadcast per cycle. The queues latch the broadcast at
the next clock edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import simpy

from eiesim.blocks.act_queue import ActQueue
from eiesim.counters import Counters


@dataclass(frozen=True, slots=True)
class Broadcast:
    """What the CCU puts on the bus: column index j, activation a_j, last of the block?"""

    index: int
    value: int | float
    last: bool


class Lnzd:
    def __init__(self, sources: list[np.ndarray], latency: int):
        self.sources = sources
        self.latency = latency

    def nonzeros(self) -> Iterator[Broadcast]:
        n = len(self.sources)
        values = np.zeros(sum(len(s) for s in self.sources), self.sources[0].dtype)
        for p, source in enumerate(self.sources):
            values[p::n] = source  # column j lives in PE j mod N
        columns = np.flatnonzero(values)
        for k, j in enumerate(columns.tolist()):
            yield Broadcast(j, values[j].item(), last=k == len(columns) - 1)


class Ccu:
    def __init__(
        self, env: simpy.Environment, lnzd: Lnzd, queues: list[ActQueue], counters: Counters,
        trace=None,
    ):
        self.env = env
        self.lnzd = lnzd
        self.queues = queues
        self.counters = counters
        self.trace = trace

    def run(self):
        """SimPy process for one row block; returns the number of broadcasts (K')."""
        env = self.env
        yield env.timeout(self.lnzd.latency)  # the tree's first answer: b_1 = L
        broadcasts = 0
        for broadcast in self.lnzd.nonzeros():
            ready = env.now  # the tree has the next column one cycle after the last broadcast
            for queue in self.queues:
                if queue.full:
                    yield queue.slot_freed()  # a pop this cycle lets us broadcast this cycle
            self.counters.queue_full_stall_cycles += env.now - ready
            self.counters.broadcasts += 1
            broadcasts += 1
            if self.trace is not None:
                self.trace.broadcast(env.now, broadcast.index, broadcast.value)
            yield env.timeout(1)  # the queues latch the bus at the next clock edge
            for queue in self.queues:
                queue.push(broadcast)
        return broadcasts
