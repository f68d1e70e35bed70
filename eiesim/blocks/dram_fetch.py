"""DRAM fetch unit: streams each broadcast column's entries and pointers into the PEs' stream
buffers (SPEC §5.2, ``weights="streamed"``).

Ports
    columns          the row block's broadcast columns J_1 < ... < J_K' (the unit scans the same
                     activations as the LNZD, so it knows the order before the broadcasts)
    column_bytes     F_k: bytes of each column's fetch (``eiesim.timing.fetch_bytes``)
    ready(j, now)    to a PE's pointer-read unit: column j's data is in the buffer in cycle now
    popped(pe)       from a PE's pointer-read unit: the PE popped its next column, which frees
                     the slot of the column it held before
    counters         dram_bytes

Every PE's buffer has Q = ``stream_buffer_columns`` slots; the column a PE is working on
holds one until the PE pops its next column. All PEs' slots fill and free in the same
column order, so one fetch serves every PE and the unit needs only how many columns each
PE has popped.

One cycle (ticked after the PEs, so a slot freed by a pop in cycle t takes a fetch in t):
when the shared channel is free (the previous fetch's transfer is over) and a slot is free
in every PE's buffer (fetch k > Q needs every PE to have popped column k - Q + 1), the next
column's fetch starts: it holds the channel for d = ceil(F_k / B) cycles and its data can
be popped from cycle now + latency + d on. At most one fetch starts per cycle.
"""

from __future__ import annotations

from eiesim.counters import Counters
from eiesim.timing import transfer_cycles


class DramFetch:
    def __init__(self, columns: list[int], column_bytes: list[int], n_pe: int, bytes_per_cycle: int,
                 latency: int, slots: int, counters: Counters):
        self.ordinal = {j: k for k, j in enumerate(columns)}  # broadcast columns are distinct in a block
        self.column_bytes = column_bytes
        self.bytes_per_cycle = bytes_per_cycle
        self.latency = latency
        self.slots = slots
        self.counters = counters
        self.popped_count = [0] * n_pe  # columns each PE has popped
        self.arrival: list[int] = []  # a_k of the fetches started so far
        self.channel_free = 0  # first cycle the channel can start a transfer
        self.started = None  # the fetch started in this cycle, for traces

    def ready(self, j: int, now: int) -> bool:
        k = self.ordinal[j]
        return k < len(self.arrival) and self.arrival[k] <= now

    def popped(self, pe: int) -> None:
        self.popped_count[pe] += 1

    def tick(self, now: int) -> None:
        self.started = None
        k = len(self.arrival)  # 0-based: the next fetch is column k + 1 of the SPEC
        if k == len(self.column_bytes) or now < self.channel_free:
            return
        if k >= self.slots and min(self.popped_count) < k - self.slots + 2:
            return  # some PE has not yet popped column k - Q + 1 (1-based)
        d = transfer_cycles(self.column_bytes[k], self.bytes_per_cycle)
        self.channel_free = now + d
        self.arrival.append(now + self.latency + d)
        self.counters.dram_bytes += self.column_bytes[k]
        self.started = k

    def line_trace(self) -> str:
        return f"fetch #{self.started + 1}" if self.started is not None else ""
