"""The reference engine: a cycle-level model of the EIE PE array built from its blocks.

Each row block is its own pass on a fresh SimPy environment whose time is the cycle
number, from 0. One clock process ticks the blocks of EIE Fig 4 (``eiesim.blocks``)
once per cycle, last stage first, so that every register hand-off takes one cycle: the
PEs (arithmetic unit, sparse-matrix read, pointer read), then the CCU, then the LNZD.
The block ends by the ``block_end`` rule of ``config.rules``; a layer of several blocks
then writes the accumulators back to the activation SRAM (one SimPy process per PE).
Cycle numbers, counters and the schedule handed to the observer come from what the
blocks do, cycle by cycle; nothing here evaluates the recurrences of SPEC §5 / §5.1,
which the tests check the engine against.

A :class:`LineTrace` observer also collects one line per cycle composed from the blocks'
``line_trace()`` (``eiesim simulate --trace`` with this engine).
"""

from __future__ import annotations

import time

import numpy as np
import simpy

from compressor.csc import EncodedLayer
from eiesim.blocks import (
    ActQueue, ActRW, ArithmeticUnit, Ccu, DramFetch, LnzdTree, Multiplier, PackScanner, ProcessingElement, PtrRead,
    SpmatRead,
)
from eiesim.config import ArchConfig
from eiesim.engines import BlockSchedule, EngineRun, Observer, ScheduleRecorder
from eiesim.numerics import codebook_table, convert_activations
from eiesim.counters import Counters, PerPE
from eiesim.timing import TimingRules, fetch_bytes

name = "reference"


class LineTrace(ScheduleRecorder):
    """An observer that also keeps the reference engine's per-cycle line trace (``lines``)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []


def run(layer: EncodedLayer, acts_converted: np.ndarray, config: ArchConfig,
        observer: Observer | None = None, outputs: bool = True) -> EngineRun:
    """Simulate ``layer`` for converted activations (length K, bias included).

    ``outputs=False``: the output is None (the arithmetic unit's stages still carry every
    entry, since the counters and the bypass are theirs, so this saves little here).

    ``observer``: receives each row block's schedule as the blocks produced it; a
    :class:`LineTrace` also receives one line per cycle.
    """
    started = time.perf_counter()
    rules = config.rules
    m, n = layer.shape[0], config.n_pe
    counters = Counters()
    busy, starved, real = (np.zeros(n, np.int64) for _ in range(3))
    output = np.zeros(m)
    block_cycles = []
    multiplier = Multiplier(codebook_table(layer, config), config)
    values = _broadcast_values(layer, acts_converted, config, rules)
    for t in range(layer.n_blocks):
        first_row = t * layer.rows_per_block
        rows_in_block = min(layer.rows_per_block, m - first_row)
        pes, cycles = _run_block(layer, t, rows_in_block, values, config, rules, multiplier, counters, observer)
        block_cycles.append(cycles)
        for p, pe in enumerate(pes):
            busy[p] += pe.spmat.busy
            starved[p] += pe.ptr_read.starved
            real[p] += pe.arith.real
            output[first_row + p : first_row + rows_in_block : n] = pe.act_rw.outputs()
    return EngineRun(
        cycles=sum(block_cycles), block_cycles=block_cycles, counters=counters,
        per_pe=PerPE(busy=busy, starved=starved, real=real), output=output if outputs else None,
        sim_wall_s=time.perf_counter() - started,
    )


def _broadcast_values(layer: EncodedLayer, acts: np.ndarray, config: ArchConfig, rules: TimingRules) -> list:
    """a_j of every column as the LNZD sees it (0: not broadcast). Under the ``own-pack``
    bias rule the last entry is the bias column, the layer's own or an empty one appended
    (index K), always broadcast with a = 1."""
    values = acts.tolist()
    if rules.broadcast == "positive":
        values = [a if a > 0 else 0 for a in values]
    if rules.bias == "own-pack":
        one = convert_activations(np.ones(1), config)[0].item()
        if layer.has_bias:
            values[-1] = one
        else:
            values.append(one)
    return values


class _Schedule:
    """Collects what the blocks report (broadcasts, pops, issues) into a BlockSchedule."""

    def __init__(self, n_pe: int):
        self.broadcasts: list[tuple[int, int, int | float]] = []
        self.pops: list[list[tuple[int, int, int]]] = [[] for _ in range(n_pe)]
        self.issues: list[list[int]] = [[] for _ in range(n_pe)]

    def broadcast(self, cycle: int, index: int, value) -> None:
        self.broadcasts.append((cycle, index, value))

    def column(self, pe: int, cycle: int, index: int, start: int, n: int) -> None:
        self.pops[pe].append((cycle, start, n))

    def issue(self, pe: int, cycle: int, address: int) -> None:
        self.issues[pe].append(cycle)

    def schedule(self, block: int, end: int, write_back: int) -> BlockSchedule:
        n_pe = len(self.pops)
        pop, first_address, entries = (
            np.array([[c[i] for c in pe] for pe in self.pops], np.int64).reshape(n_pe, -1) for i in range(3))
        return BlockSchedule(
            block=block,
            columns=np.array([j for _, j, _ in self.broadcasts], np.int64),
            activations=np.array([a for _, _, a in self.broadcasts]),
            broadcast=np.array([b for b, _, _ in self.broadcasts], np.int64),
            pop=pop, entries=entries, first_address=first_address,
            issue=[np.array(cycles, np.int64) for cycles in self.issues],
            end=end, write_back=write_back,
        )


def _run_block(layer, t, rows_in_block, values, config, rules, multiplier, counters, observer):
    """Wire the PE array for row block t, clock it to the end, return its PEs and cycles."""
    env = simpy.Environment()
    n = config.n_pe
    log = _Schedule(n) if observer is not None else None
    lines = getattr(observer, "lines", None)
    pes = []
    pointer_lists = [layer.ptr[t, p].tolist() for p in range(n)]
    if len(values) > layer.shape[1]:  # the empty bias column of a layer without bias
        for pointers in pointer_lists:
            pointers.append(pointers[-1])
    dram = _dram_fetch(pointer_lists, values, config, counters) if config.weights == "streamed" else None
    for p in range(n):
        entries = slice(int(layer.start[t * n + p]), int(layer.start[t * n + p + 1]))
        pointers = pointer_lists[p]
        act_rw = ActRW(values[p::n], len(range(p, rows_in_block, n)), layer.activation, config, counters)
        queue = ActQueue(rules.usable_slots(config.queue_depth), rules.queue_refill)
        pes.append(ProcessingElement(
            p, queue,
            PtrRead(p, pointers, queue, counters, log, rules.pointer_cycles, dram),
            SpmatRead(layer.code[entries].tolist(), layer.rel[entries].tolist(), config.entries_per_row, counters,
                      log, p),
            ArithmeticUnit(multiplier, act_rw.destination, counters, config, layer.bias_column),
            act_rw,
        ))
    if rules.lnzd == "pack-scan":
        source = PackScanner(_packs(values, n, rules.bias == "own-pack"), n, counters)
    else:
        leaves = [[(p + i * n, a) for i, a in enumerate(pe.act_rw.source) if a] for p, pe in enumerate(pes)]
        source = LnzdTree(leaves, config.lnzd_latency)  # each PE's source registers are a leaf
    ccu = Ccu(source, [pe.queue for pe in pes], counters, log)
    cells: list[list[str]] = []  # the line trace, one row of cells per cycle
    drained_end = rules.block_end == "drained"

    def clock():
        """Tick every block once per cycle, last stage first, until the block's end."""
        while True:
            now = env.now
            for pe in pes:
                pe.tick(now)
            if dram is not None:  # after the PEs: a slot freed by a pop in this cycle takes a fetch
                dram.tick(now)
            ccu.tick(now)
            if not drained_end and ccu.broadcasts == 0 and source.exhausted and pes[0].marker is None:
                for pe in pes:  # nothing to broadcast: the CCU ends the block in this cycle
                    pe.end_without_input()
            source.tick(now)
            if lines is not None:
                bus = " ".join(filter(None, [ccu.line_trace(), dram.line_trace() if dram is not None else ""]))
                cells.append([f"{now}", source.line_trace(), bus, *(pe.line_trace() for pe in pes)])
            yield env.timeout(1)
            if source.exhausted and _ended(pes, drained_end, ccu.broadcasts == 0):
                return  # the cycle just clocked was the block's last

    def block():
        yield env.process(clock())
        end = env.now
        if layer.n_blocks > 1:
            yield env.all_of([env.process(pe.act_rw.write_back(env)) for pe in pes])
        if lines is not None:
            lines.append(f"row block {t}: T_block = {end} cycles + {env.now - end} write-back cycles")
            for cycle in range(end, env.now):
                cells.append([f"{cycle}", "", "write-back",
                              *(f"wb r{cycle - end}" if cycle - end < pe.act_rw.n_rows else "" for pe in pes)])
            lines.extend(_render(cells, n))
        if observer is not None:
            observer.block(log.schedule(t, end, env.now - end))

    env.run(until=env.process(block()))
    return pes, int(env.now)


def _dram_fetch(pointer_lists: list[list[int]], values: list, config: ArchConfig, counters: Counters) -> DramFetch:
    """The DRAM fetch unit of a row block (SPEC §5.2): the broadcast columns in order and the
    bytes of each one's fetch, from every PE's pointers (its column lengths)."""
    columns = [j for j, a in enumerate(values) if a]
    sizes = [fetch_bytes(sum(ptr[j + 1] - ptr[j] for ptr in pointer_lists), config.n_pe,
                         config.weight_bits + config.index_bits, config.ptr_bits, config.dram_burst_bytes)
             for j in columns]
    return DramFetch(columns, sizes, config.n_pe, config.dram_bytes_per_cycle, config.dram_latency_cycles,
                     config.stream_buffer_columns, counters)


def _ended(pes: list[ProcessingElement], drained_end: bool, nothing_broadcast: bool) -> bool:
    """The block's end rule, checked after a cycle: ``drained`` (every PE popped the last
    column and holds nothing; at once when nothing was broadcast) or ``pipeline`` (every
    PE's end-of-block marker has left the write stage)."""
    if drained_end:
        return nothing_broadcast or all(pe.drained for pe in pes)
    return all(pe.marker_left for pe in pes)


def _packs(values: list, n: int, bias_pack: bool) -> list:
    """The pack scanner's packs of N slots, each its broadcast slots (slot, j, a_j); with
    ``bias_pack`` the last column (the bias) goes alone into a final pack."""
    scanned = values[:-1] if bias_pack else values
    packs = [[(j - g, j, scanned[j]) for j in range(g, min(g + n, len(scanned))) if scanned[j]]
             for g in range(0, len(scanned), n)]
    return packs + [[(0, len(values) - 1, values[-1])]] if bias_pack else packs


def _render(cells: list[list[str]], n: int) -> list[str]:
    """Fixed-width columns: cycle, LNZD (the pack scanner's loads), CCU, one per PE."""
    header = ["cycle", "LNZD", "CCU", *(f"PE{p}" for p in range(n))]
    if not any(row[1] for row in cells):  # the tree's work shows in the CCU column
        header, cells = [header[0], *header[2:]], [[row[0], *row[2:]] for row in cells]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]
    return [" | ".join(c.rjust(w) if i == 0 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
            for row in [header, *cells]]


def trace_lines(layer: EncodedLayer, acts_converted: np.ndarray, config: ArchConfig) -> list[str]:
    """The per-cycle line trace of a run: one line per cycle of every row block."""
    trace = LineTrace()
    run(layer, acts_converted, config, trace)
    return trace.lines
