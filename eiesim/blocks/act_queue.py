"""Activation queue: the FIFO of broadcast columns between the CCU and one PE.

Ports (modelled on SimPy's ``BaseResource``: a put and a get, each granted or refused
by the resource's own rule, ``_do_put`` / ``_do_get``)
    can_put(now), put(b, now)   from the CCU: the broadcast of cycle ``now``; it is
                                latched at the clock edge
    can_get(now), get(now)      to the PE's pointer-read unit: the oldest latched column
    occupancy                   columns held, for traces

One cycle: the PE may get the head column (a broadcast of an earlier cycle: the one-cycle
hand-off from the bus) and the CCU may put a new one. How many slots the CCU may fill and
when a slot freed by a get becomes free again are the queue's two rules:

    usable_slots     D under ``"spec"``; B - 1 of B ring slots under ``"eie-cpp"``
    refill           ``"same-cycle"``: a get in cycle t frees its slot for a put in t
                     (the PEs are clocked before the CCU); ``"next-cycle"``: only in t + 1

A put the rules refuse is a simulator bug and raises.
"""

from __future__ import annotations

from collections import deque

REFILL_RULES = ("same-cycle", "next-cycle")


class ActQueue:
    def __init__(self, usable_slots: int, refill: str = "same-cycle"):
        if refill not in REFILL_RULES:
            raise ValueError(f"refill must be one of {REFILL_RULES}, got {refill!r}")
        self.usable_slots = usable_slots
        self.refill_next_cycle = refill == "next-cycle"
        self.slots: deque = deque()  # (cycle of the broadcast, Broadcast)
        self.last_get = -1  # cycle of the latest get
        self.peak = 0  # largest occupancy seen, for invariant checks

    @property
    def occupancy(self) -> int:
        return len(self.slots)

    def _do_put(self, now: int) -> bool:
        held = len(self.slots)
        if self.refill_next_cycle and self.last_get == now:
            held += 1  # the slot freed in this cycle is not free before the next one
        return held < self.usable_slots

    def _do_get(self, now: int) -> bool:
        return bool(self.slots) and self.slots[0][0] < now

    can_put = _do_put
    can_get = _do_get

    def put(self, broadcast, now: int) -> None:
        if not self._do_put(now):
            raise RuntimeError("activation queue overflow: the CCU broadcast into a full queue")
        self.slots.append((now, broadcast))
        self.peak = max(self.peak, len(self.slots))

    def head(self):
        """The oldest column held (None when empty)."""
        return self.slots[0][1] if self.slots else None

    def get(self, now: int):
        if not self._do_get(now):
            raise RuntimeError("activation queue underflow: the PE popped an empty queue")
        self.last_get = now
        return self.slots.popleft()[1]

    def line_trace(self) -> str:
        return f"q{len(self.slots)}"
