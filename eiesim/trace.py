"""Traces of a reference-engine run: a per-cycle line trace and a Chrome/Perfetto trace.

A :class:`Trace` is handed to ``eiesim.engines.reference.run(..., trace=...)``; the CCU
records every broadcast and each PE every column it pops. Everything else is derived:
queue occupancy of PE p in cycle t is the number of columns k broadcast in or before t
(b_k <= t) and not yet popped (s_p(k) > t); column k's entries are issued in cycles
s_p(k) + 1 .. s_p(k) + n_p(k).

``line_trace`` renders one line per cycle of each row block: the broadcast of that
cycle, then per PE its queue occupancy and what it does (``ptr jJ``: pops column J and
reads its pointers; ``jJ:rR`` issues the real entry of column J for local row R;
``jJ:fill`` issues a filler; ``wait``: starved between two columns).
``perfetto_trace`` builds the JSON object of the Chrome trace-event format (open it
at ui.perfetto.dev): one track for the CCU and one per PE, time in microseconds.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from compressor.csc import EncodedLayer
from eiesim.config import ArchConfig
from eiesim.numerics import to_real


@dataclass
class Column:
    """One column popped by one PE: pop cycle s, column j, first address, entry count n."""

    pop: int
    index: int
    start: int
    n: int

    @property
    def free(self) -> int:
        """Cycle from which the PE can pop its next column: s + max(1, n)."""
        return self.pop + max(1, self.n)


@dataclass
class BlockTrace:
    block: int
    n_pe: int
    broadcasts: list[tuple[int, int, int | float]] = field(default_factory=list)  # (b_k, j, a_j)
    columns: list[list[Column]] = field(default_factory=list)  # per PE, in pop order
    t_block: int = 0
    write_back: int = 0
    peak_occupancy: list[int] = field(default_factory=list)  # largest queue fill per PE

    def occupancy(self, p: int, cycle: int) -> int:
        """Columns broadcast in or before ``cycle`` that PE p has not popped by then."""
        broadcast = bisect_right([b for b, _, _ in self.broadcasts], cycle)
        return broadcast - bisect_right([col.pop for col in self.columns[p]], cycle)


class Trace:
    """Recorder the reference engine's blocks report to."""

    def __init__(self) -> None:
        self.blocks: list[BlockTrace] = []

    def begin_block(self, block: int, n_pe: int) -> None:
        self.blocks.append(BlockTrace(block, n_pe, columns=[[] for _ in range(n_pe)]))

    def broadcast(self, cycle: int, index: int, value) -> None:
        self.blocks[-1].broadcasts.append((cycle, index, value))

    def column(self, pe: int, cycle: int, index: int, start: int, n: int) -> None:
        self.blocks[-1].columns[pe].append(Column(cycle, index, start, n))

    def end_block(self, t_block: int, write_back: int, peak_occupancy: list[int]) -> None:
        block = self.blocks[-1]
        block.t_block, block.write_back, block.peak_occupancy = t_block, write_back, peak_occupancy


def line_trace(trace: Trace, layer: EncodedLayer, config: ArchConfig) -> Iterator[str]:
    """One line per cycle of every row block (see the module docstring)."""
    local_rows = layer.entry_local_rows()
    for block in trace.blocks:
        n = block.n_pe
        yield (
            f"row block {block.block}: T_block = {block.t_block} cycles"
            f" + {block.write_back} write-back cycles"
        )
        cells = [_pe_cells(block, p, layer, local_rows) for p in range(n)]
        bcast = {b: f"j{j} a={_real(a, config):g}" for b, j, a in block.broadcasts}
        widths = [max([len(f"PE{p}")] + [len(c) for c in cells[p]]) for p in range(n)]
        bwidth = max([len("broadcast")] + [len(s) for s in bcast.values()])
        yield " | ".join(["cycle", "broadcast".ljust(bwidth)] + [f"PE{p}".ljust(w) for p, w in enumerate(widths)]).rstrip()
        for t in range(block.t_block):
            row = [f"{t:5d}", bcast.get(t, "").ljust(bwidth)]
            row += [cells[p][t].ljust(widths[p]) for p in range(n)]
            yield " | ".join(row).rstrip()


def _pe_cells(block: BlockTrace, p: int, layer: EncodedLayer, local_rows: np.ndarray) -> list[str]:
    """Text of PE p for every cycle of the block: queue occupancy and activity."""
    cycles = block.t_block
    activity: list[list[str]] = [[] for _ in range(cycles)]
    base = int(layer.start[block.block * block.n_pe + p])
    columns = block.columns[p]
    for k, col in enumerate(columns):
        if k > 0:
            for t in range(columns[k - 1].free, col.pop):
                activity[t].append("wait")
        activity[col.pop].append(f"ptr j{col.index}")
        for i in range(col.n):
            address = base + col.start + i
            what = f"r{local_rows[address]}" if layer.code[address] else "fill"
            activity[col.pop + 1 + i].append(f"j{col.index}:{what}")
    return [f"q{block.occupancy(p, t)} " + (" ".join(activity[t]) or "-") for t in range(cycles)]


def _real(value, config: ArchConfig) -> float:
    return float(to_real(np.array([value]), config)[0])


def perfetto_trace(trace: Trace, config: ArchConfig, name: str = "") -> dict:
    """Chrome trace-event JSON: a CCU track and one track per PE; ts in microseconds."""
    us = 1.0 / config.clock_mhz  # one cycle in microseconds
    n = trace.blocks[0].n_pe if trace.blocks else config.n_pe
    events: list[dict] = [
        {"ph": "M", "pid": 0, "name": "process_name", "args": {"name": f"EIE PE array {name}".strip()}},
        {"ph": "M", "pid": 0, "tid": 0, "name": "thread_name", "args": {"name": "CCU / LNZD"}},
    ]
    for p in range(n):
        events.append({"ph": "M", "pid": 0, "tid": p + 1, "name": "thread_name", "args": {"name": f"PE {p}"}})
        events.append({"ph": "M", "pid": 0, "tid": p + 1, "name": "thread_sort_index", "args": {"sort_index": p + 1}})

    def slice_(tid, name, start, length, **args):
        events.append({"ph": "X", "pid": 0, "tid": tid, "name": name, "ts": start * us, "dur": length * us,
                       "args": {"cycle": start, **args}})

    origin = 0  # first cycle of the block in layer time
    for block in trace.blocks:
        slice_(0, f"row block {block.block}", origin, block.t_block)
        for b, j, a in block.broadcasts:
            slice_(0, f"broadcast j{j}", origin + b, 1, column=j, activation=_real(a, config))
        for p, columns in enumerate(block.columns):
            for k, col in enumerate(columns):
                if k > 0 and col.pop > columns[k - 1].free:
                    slice_(p + 1, "starved", origin + columns[k - 1].free, col.pop - columns[k - 1].free)
                slice_(p + 1, f"column j{col.index}", origin + col.pop, max(1, col.n), column=col.index, entries=col.n)
        if block.write_back:
            slice_(0, "write-back", origin + block.t_block, block.write_back)
        origin += block.t_block + block.write_back
    return {"traceEvents": events, "displayTimeUnit": "ns", "otherData": {"clock_mhz": config.clock_mhz}}
