"""The reference engine: a readable SimPy model of the EIE PE array (SPEC §5, §6).

Each row block is its own pass on a fresh SimPy environment, so cycle numbers start at
0: the CCU streams the block's non-zero activations out of the LNZD tree into the
activation queues, every PE processes the columns it pops, and the block ends when the
last entry has left the arithmetic pipeline; a layer of several blocks then writes the
accumulators back to the activation SRAM. The cycle counts and counters follow from
the blocks' behaviour (``eiesim.blocks``); they are not computed from the recurrences
of the timing contract, which the tests check them against.
"""

from __future__ import annotations

import time

import numpy as np
import simpy

from compressor.csc import EncodedLayer
from eiecore.errors import EieError
from eiesim.blocks import (
    ActQueue, ActRW, ArithmeticUnit, Ccu, Lnzd, Multiplier, ProcessingElement, PtrRead, SpmatRead,
)
from eiesim.config import ArchConfig
from eiesim.counters import Counters, PerPE
from eiesim.engines import BlockSchedule, EngineRun, Observer
from eiesim.numerics import codebook_table
from eiesim.timing import ISSUE_OFFSET, PIPELINE_DRAIN, PROFILES

name = "reference"


def run(layer: EncodedLayer, acts_converted: np.ndarray, config: ArchConfig,
        observer: Observer | None = None, outputs: bool = True) -> EngineRun:
    """Simulate ``layer`` for converted activations (length K, bias included).

    ``outputs=False``: the output is None (the blocks compute values as they go anyway).

    ``observer``: receives each row block's schedule (``eiesim.engines.BlockSchedule``).
    """
    if config.rules != PROFILES["spec"]:
        raise EieError(f"the reference engine implements only the 'spec' timing rules so far, not {config.rules}")
    started = time.perf_counter()
    trace = None if observer is None else _Recorder(observer)
    m, n = layer.shape[0], config.n_pe
    counters = Counters()
    busy, starved, real = (np.zeros(n, np.int64) for _ in range(3))
    output = np.zeros(m)
    block_cycles = []
    multiplier = Multiplier(codebook_table(layer, config), config)
    for t in range(layer.n_blocks):
        first_row = t * config.rows_per_block
        rows_in_block = min(config.rows_per_block, m - first_row)
        pes, act_rws, cycles = _run_block(layer, t, rows_in_block, acts_converted, config, multiplier, counters, trace)
        block_cycles.append(cycles)
        for p, (pe, act_rw) in enumerate(zip(pes, act_rws)):
            busy[p] += pe.busy
            starved[p] += pe.starved
            real[p] += pe.real
            output[first_row + p : first_row + rows_in_block : n] = act_rw.outputs()
    return EngineRun(
        cycles=sum(block_cycles), block_cycles=block_cycles, counters=counters,
        per_pe=PerPE(busy=busy, starved=starved, real=real), output=output if outputs else None,
        sim_wall_s=time.perf_counter() - started,
    )


def _run_block(layer, t, rows_in_block, acts, config, multiplier, counters, trace):
    """Wire the PE array for row block t, run it, return its PEs, act R/W units and cycles."""
    env = simpy.Environment()
    n = config.n_pe
    if trace is not None:
        trace.begin_block(t, n)
    queues, pes, act_rws = [], [], []
    for p in range(n):
        entries = slice(layer.start[t * n + p], layer.start[t * n + p + 1])
        act_rw = ActRW(env, acts[p::n], len(range(p, rows_in_block, n)), layer.activation, config, counters)
        queue = ActQueue(env, config.queue_depth)
        pe = ProcessingElement(
            env, p, queue,
            PtrRead(layer.ptr[t, p], counters),
            SpmatRead(layer.code[entries], layer.rel[entries], config.entries_per_row, counters),
            ArithmeticUnit(multiplier, act_rw.destination, config, counters, bias_column=layer.bias_column),
            counters, trace,
        )
        queues.append(queue)
        pes.append(pe)
        act_rws.append(act_rw)
    ccu = Ccu(env, Lnzd([rw.source for rw in act_rws], config.lnzd_latency), queues, counters, trace)

    def controller():
        pe_runs = [env.process(pe.run()) for pe in pes]
        broadcasts = yield env.process(ccu.run())
        if broadcasts:  # with no non-zero input the PEs never start
            yield env.all_of(pe_runs)
        yield env.timeout(PIPELINE_DRAIN)
        t_block = env.now
        if layer.n_blocks > 1:
            yield env.all_of([env.process(rw.write_back()) for rw in act_rws])
        if trace is not None:
            trace.end_block(t_block, env.now - t_block)

    env.run(until=env.process(controller()))
    return pes, act_rws, int(env.now)


class _Recorder:
    """Collects what the blocks report (broadcasts, popped columns) into BlockSchedules."""

    def __init__(self, observer: Observer):
        self.observer = observer

    def begin_block(self, block: int, n_pe: int) -> None:
        self.block, self.broadcasts, self.columns = block, [], [[] for _ in range(n_pe)]

    def broadcast(self, cycle: int, index: int, value) -> None:
        self.broadcasts.append((cycle, index, value))

    def column(self, pe: int, cycle: int, index: int, start: int, n: int) -> None:
        self.columns[pe].append((cycle, start, n))

    def end_block(self, t_block: int, write_back: int) -> None:
        pop, first_address, entries = (
            np.array([[c[i] for c in pe] for pe in self.columns], np.int64).reshape(len(self.columns), len(self.broadcasts))
            for i in range(3))
        self.observer.block(BlockSchedule(
            block=self.block,
            columns=np.array([j for _, j, _ in self.broadcasts], np.int64),
            activations=np.array([a for _, _, a in self.broadcasts]),
            broadcast=np.array([b for b, _, _ in self.broadcasts], np.int64),
            pop=pop, entries=entries, first_address=first_address,
            issue=[np.array([s + ISSUE_OFFSET + i for s, _, n in pe for i in range(n)], np.int64)
                   for pe in self.columns],
            end=t_block, write_back=write_back,
        ))
