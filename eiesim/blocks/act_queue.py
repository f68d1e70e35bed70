"""Activation queue: the FIFO of D broadcast columns between the CCU and one PE.

Ports
    push(broadcast)   from the CCU, at the clock edge after the broadcast cycle
    pop()             to the PE: the oldest broadcast (the PE checks ``empty`` first)
    full, empty       flags read by the CCU and the PE
    slot_freed()      handshake event for the CCU: fires at the next pop
    entry_arrived()   handshake event for the PE: fires at the next push

One cycle: the PE may pop the head entry (freeing its slot in this cycle) and the CCU's
broadcast of the previous cycle may land at the tail. The queue never holds more than
D entries: a push into a full queue is a simulator bug and raises.

The slots are a deque rather than a ``simpy.Store``: a Store spends two scheduled events
per entry per PE (put and get), which triples the reference engine's event count,
while the hardware only needs the full/empty handshakes, which are events here and are
created only when someone actually waits.
"""

from __future__ import annotations

from collections import deque

import simpy


class ActQueue:
    def __init__(self, env: simpy.Environment, depth: int):
        self.env = env
        self.depth = depth
        self.slots: deque = deque()
        self.peak = 0  # largest occupancy seen, for invariant checks and traces
        self._slot_freed: simpy.Event | None = None
        self._entry_arrived: simpy.Event | None = None

    @property
    def full(self) -> bool:
        return len(self.slots) >= self.depth

    @property
    def empty(self) -> bool:
        return not self.slots

    def push(self, broadcast) -> None:
        if self.full:
            raise RuntimeError("activation queue overflow: the CCU broadcast into a full queue")
        self.slots.append(broadcast)
        self.peak = max(self.peak, len(self.slots))
        if self._entry_arrived is not None:
            event, self._entry_arrived = self._entry_arrived, None
            event.succeed()

    def pop(self):
        broadcast = self.slots.popleft()
        if self._slot_freed is not None:
            event, self._slot_freed = self._slot_freed, None
            event.succeed()
        return broadcast

    def slot_freed(self) -> simpy.Event:
        """An event the CCU waits on while this queue is full."""
        self._slot_freed = self.env.event()
        return self._slot_freed

    def entry_arrived(self) -> simpy.Event:
        """An event the PE waits on while this queue is empty (it is starved)."""
        self._entry_arrived = self.env.event()
        return self._entry_arrived
