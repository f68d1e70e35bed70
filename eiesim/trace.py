"""Traces of a run: a per-cycle line trace and a Chrome/Perfetto trace.

Both render the schedules an engine handed to a
:class:`~eiesim.engines.ScheduleRecorder` (``simulate(..., observer=recorder)``), so they
show the run that was reported, from either engine. Queue occupancy of PE p in cycle t
is the number of columns k broadcast in or before t (b_k <= t) and not yet popped
(s_p(k) > t); the entries of column k are issued in the cycles the schedule lists.

``line_trace`` renders one line per cycle of each row block: the broadcast of that
cycle, then per PE its queue occupancy and what it does (``ptr jJ``: pops column J and
reads its pointers; ``jJ:rR`` issues the real entry of column J for local row R;
``jJ:fill`` issues a filler; ``wait``: starved between two columns; ``dram``: its next
column is queued, its entries not yet in from DRAM, under streamed weights). ``window`` keeps
some PEs and a range of cycles of either engine's line trace.
``perfetto_trace`` builds the JSON object of the Chrome trace-event format (open it at
ui.perfetto.dev): one track for the CCU and one per PE. One trace microsecond stands
for one clock cycle (the metadata states the clock), so every timestamp is an integer
and survives Perfetto's rounding to whole nanoseconds.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import numpy as np

from compressor.csc import EncodedLayer
from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.engines import BlockSchedule, ScheduleRecorder
from eiesim.numerics import to_real
from eiesim.timing import next_pop

BIAS_LABEL = "bias"  # how the empty own-pack bias column (index K) is named
ALL_PES = 16  # a line trace shows every PE up to this many by default, else the first DEFAULT_PES
DEFAULT_PES = 8
DEFAULT_CYCLES = 1000  # of each row block, by default, for a large layer


def _free(block: BlockSchedule, p: int, k: int, config: ArchConfig) -> int:
    """Cycle from which PE p can pop the column after its k-th: s + c."""
    return next_pop(int(block.pop[p, k]), int(block.entries[p, k]), config.rules.pointer_cycles)


def _gap(block: BlockSchedule, p: int, k: int, config: ArchConfig) -> tuple[int, int, int]:
    """PE p before it pops its k-th column in ``pop``: starved in [free, dram) (its queue
    holds nothing), waiting for the column's entries from DRAM in [dram, pop) (streamed
    weights: the column is queued, its data not yet in). Nothing before the first column
    counts as starved."""
    pop = int(block.pop[p, k])
    dram = min(pop, int(block.broadcast[k]) + 1) if config.weights == "streamed" else pop
    if k == 0:
        return dram, dram, pop
    free = _free(block, p, k - 1, config)
    return free, max(free, dram), pop


def line_trace(trace: ScheduleRecorder, layer: EncodedLayer, config: ArchConfig,
               pes: Sequence[int] | None = None) -> Iterator[str]:
    """One line per cycle of every row block (see the module docstring); only the PEs
    ``pes`` when given."""
    local_rows = layer.entry_local_rows()
    for block in trace.blocks:
        shown = range(block.n_pe) if pes is None else [p for p in pes if p < block.n_pe]
        yield (
            f"row block {block.block}: T_block = {block.end} cycles"
            f" + {block.write_back} write-back cycles"
        )
        cells = {p: _pe_cells(block, p, layer, local_rows, config) for p in shown}
        bcast = {int(b): f"{_name(j, layer)} a={_real(a, config):g}"
                 for b, j, a in zip(block.broadcast, block.columns, block.activations)}
        widths = {p: max([len(f"PE{p}")] + [len(c) for c in cells[p]]) for p in shown}
        bwidth = max([len("broadcast")] + [len(s) for s in bcast.values()])
        yield " | ".join(["cycle", "broadcast".ljust(bwidth)] + [f"PE{p}".ljust(widths[p]) for p in shown]).rstrip()
        for t in range(block.end):
            row = [f"{t:5d}", bcast.get(t, "").ljust(bwidth)]
            row += [cells[p][t].ljust(widths[p]) for p in shown]
            yield " | ".join(row).rstrip()


def window(lines: Iterable[str], pes: Sequence[int] | None = None,
           cycles: tuple[int, int] | None = None) -> Iterator[str]:
    """A line trace (either engine's: columns separated by `` | ``, a header line naming
    them, ``PE0``, ``PE1``, ...) cut to the columns of the PEs ``pes`` and to the cycles
    ``cycles`` = [first, stop) of each row block; other lines pass unchanged."""
    keep: list[int] | None = None
    for line in lines:
        cols = line.split(" | ")
        head = cols[0].strip()
        if head == "cycle":  # a block's header: which column is which PE
            names = [c.strip() for c in cols]
            first_pe = next((i for i, c in enumerate(names) if c.startswith("PE")), len(names))
            wanted = set(range(len(names))) if pes is None else {f"PE{p}" for p in pes}
            keep = [i for i, c in enumerate(names) if i < first_pe or pes is None or c in wanted]
        elif not head.isdigit():
            yield line
            continue
        elif cycles is not None and not cycles[0] <= int(head) < cycles[1]:
            continue
        yield " | ".join(cols[i] for i in (keep or range(len(cols))) if i < len(cols)).rstrip()


def choose_window(n_pe: int, large: bool, pes_text: str | None = None, cycles_text: str | None = None):
    """The PEs and cycles a line trace shows (:func:`window`'s arguments) from the command
    line's ``--trace-pes`` (``all``, or numbers and ranges: ``0-7,12``) and ``--trace-cycles``
    (``FIRST:STOP``), or by default every PE up to :data:`ALL_PES` and every cycle unless the
    layer is ``large``; and a note saying what the defaults left out (empty if nothing)."""
    pes = _pe_list(pes_text, n_pe) if pes_text else (None if n_pe <= ALL_PES else list(range(DEFAULT_PES)))
    cycles = _cycle_range(cycles_text) if cycles_text else ((0, DEFAULT_CYCLES) if large else None)
    cut = []
    if pes is not None and not pes_text:
        cut.append(f"PEs 0-{DEFAULT_PES - 1} of {n_pe} (--trace-pes)")
    if cycles is not None and not cycles_text:
        cut.append(f"cycles 0-{DEFAULT_CYCLES - 1} of each row block (--trace-cycles)")
    return pes, cycles, f"the trace shows {' and '.join(cut)}" if cut else ""


def _pe_list(text: str, n: int) -> list[int] | None:
    if text.strip().lower() == "all":
        return None
    pes: list[int] = []
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            pes += range(int(first), int(last or first) + 1)
    except ValueError:
        raise EieError(f"--trace-pes takes PE numbers and ranges like 0-7,12, got {text!r}") from None
    if not pes or min(pes) < 0 or max(pes) >= n:
        raise EieError(f"--trace-pes {text}: PEs are numbered 0..{n - 1}")
    return sorted(set(pes))


def _cycle_range(text: str) -> tuple[int, int]:
    first, sep, stop = text.partition(":")
    try:
        bounds = int(first), int(stop)
    except ValueError:
        bounds = None
    if not sep or bounds is None or not 0 <= bounds[0] < bounds[1]:
        raise EieError(f"--trace-cycles takes FIRST:STOP with 0 <= FIRST < STOP, got {text!r}")
    return bounds


def _name(j, layer: EncodedLayer) -> str:
    return f"j{j}" if j < layer.shape[1] else BIAS_LABEL


def _pe_cells(block: BlockSchedule, p: int, layer: EncodedLayer, local_rows: np.ndarray,
              config: ArchConfig) -> list[str]:
    """Text of PE p for every cycle of the block: queue occupancy and activity."""
    activity: list[list[str]] = [[] for _ in range(block.end)]
    base = int(layer.start[block.block * block.n_pe + p])
    issue = iter(block.issue[p])
    for k, j in enumerate(block.columns):
        free, dram, pop = _gap(block, p, k, config)
        for t in range(free, pop):
            activity[t].append("wait" if t < dram else "dram")
        activity[pop].append(f"ptr {_name(j, layer)}")
        for i in range(int(block.entries[p, k])):
            address = base + int(block.first_address[p, k]) + i
            what = f"r{local_rows[address]}" if layer.code[address] else "fill"
            activity[int(next(issue))].append(f"j{j}:{what}")
    return [f"q{block.occupancy(p, t)} " + (" ".join(activity[t]) or "-") for t in range(block.end)]


def _real(value, config: ArchConfig) -> float:
    return float(to_real(np.array([value]), config)[0])


def perfetto_trace(trace: ScheduleRecorder, config: ArchConfig, name: str = "") -> dict:
    """Chrome trace-event JSON: a CCU track and one track per PE; 1 trace us = 1 cycle."""
    n = trace.blocks[0].n_pe if trace.blocks else config.n_pe
    events: list[dict] = [
        {"ph": "M", "pid": 0, "name": "process_name",
         "args": {"name": f"EIE PE array {name} (1 us = 1 cycle at {config.clock_mhz:g} MHz)".replace("  ", " ")}},
        {"ph": "M", "pid": 0, "tid": 0, "name": "thread_name", "args": {"name": "CCU / LNZD"}},
    ]
    for p in range(n):
        events.append({"ph": "M", "pid": 0, "tid": p + 1, "name": "thread_name", "args": {"name": f"PE {p}"}})
        events.append({"ph": "M", "pid": 0, "tid": p + 1, "name": "thread_sort_index", "args": {"sort_index": p + 1}})

    def slice_(tid, label, start, length, **args):
        events.append({"ph": "X", "pid": 0, "tid": tid, "name": label, "ts": int(start), "dur": int(length),
                       "args": {"cycle": int(start), **args}})

    origin = 0  # first cycle of the block in layer time
    for block in trace.blocks:
        slice_(0, f"row block {block.block}", origin, block.end)
        for b, j, a in zip(block.broadcast, block.columns, block.activations):
            slice_(0, f"broadcast j{j}", origin + b, 1, column=int(j), activation=_real(a, config))
        for p in range(block.n_pe):
            for k, j in enumerate(block.columns):
                free, dram, pop = _gap(block, p, k, config)
                if dram > free:
                    slice_(p + 1, "starved", origin + free, dram - free)
                if pop > dram:
                    slice_(p + 1, "DRAM wait", origin + dram, pop - dram)
                n_entries = int(block.entries[p, k])
                slice_(p + 1, f"column j{j}", origin + pop, max(1, n_entries), column=int(j), entries=n_entries)
        if block.write_back:
            slice_(0, "write-back", origin + block.end, block.write_back)
        origin += block.end + block.write_back
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"clock_mhz": config.clock_mhz, "time_unit": "1 trace microsecond = 1 clock cycle",
                          "cycle_ns": 1e3 / config.clock_mhz}}
