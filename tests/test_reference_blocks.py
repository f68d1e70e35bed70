"""Unit tests of the reference engine's hardware blocks, and invariants only it can show."""

from __future__ import annotations

import numpy as np
import pytest
import simpy
from hypothesis import assume, given
from hypothesis import strategies as st

from eiesim.blocks import ActQueue, PtrRead, SpmatRead
from eiesim.blocks.arith import accumulator
from eiesim.config import ArchConfig
from eiesim.counters import Counters
from eiesim.engines import ScheduleRecorder
from eiesim.engines.reference import run
from eiesim.numerics import accumulate
from eiesim.simulation import prepare_activations
from tests.test_engines import cases, make_layer
from tests.timing_oracle import supported


def test_queue_handshakes_and_overflow():
    env = simpy.Environment()
    queue = ActQueue(env, depth=2)
    arrived = queue.entry_arrived()
    queue.push("a")
    assert arrived.triggered and not queue.full
    queue.push("b")
    assert queue.full and queue.peak == 2
    with pytest.raises(RuntimeError, match="overflow"):
        queue.push("c")
    freed = queue.slot_freed()
    assert queue.pop() == "a" and freed.triggered and not queue.full


def test_pointer_banks():
    counters = Counters()
    ptr = PtrRead(np.array([0, 3, 4, 6, 6, 8]), counters)
    assert ptr.even_bank == [0, 4, 6] and ptr.odd_bank == [3, 6, 8]
    assert [ptr.read(j) for j in range(5)] == [(0, 3), (3, 4), (4, 6), (6, 6), (6, 8)]
    assert counters.pointer_reads == 10


def test_spmat_row_buffer():
    counters = Counters()
    spmat = SpmatRead(np.arange(10, dtype=np.uint8), np.zeros(10, np.uint8), 4, counters)
    assert spmat.read(0, 3) == ([0, 1, 2], [0, 0, 0])  # row 0: first read of the block
    assert counters.spmat_row_reads == 1
    spmat.read(3, 5)  # rows 0 (buffered) and 1
    assert counters.spmat_row_reads == 2
    spmat.read(8, 10)  # row 2
    spmat.read(9, 10)  # row 2 again, still buffered
    assert counters.spmat_row_reads == 3


@given(st.integers(-(2**15), 2**15 - 1), st.integers(-(2**16), 2**16))
def test_fixed_accumulator_is_numerics_accumulate(acc, product):
    config = ArchConfig()
    assert accumulator(config)(acc, product) == accumulate(acc, product, config)


FLOAT32 = st.floats(-(2.0**100), 2.0**100, width=32)  # sums stay finite


@given(FLOAT32, FLOAT32)
def test_float32_accumulator_is_numerics_accumulate(acc, product):
    config = ArchConfig(precision="float32")
    got = accumulator(config)(np.float32(acc), np.float32(product))
    assert got == accumulate(np.float32(acc), np.float32(product), config)
    assert isinstance(got, np.float32)


@given(cases())
def test_queue_occupancy_never_exceeds_depth(case):
    layer, acts, config = case
    assume(supported("reference", config))
    trace = ScheduleRecorder()
    run(layer, prepare_activations(layer, acts, config), config, observer=trace)
    for block in trace.blocks:
        for p in range(config.n_pe):
            for t in range(block.end):
                assert 0 <= block.occupancy(p, t) <= config.queue_depth


def test_slow_pe_fills_its_queue():
    # The worked example with D = 1 and D = 2 where PE0 is slow: its queue reaches D.
    for depth in (1, 2):
        config = ArchConfig(n_pe=2, queue_depth=depth)
        layer = make_layer([(0, 0), (2, 0), (4, 0), (0, 1), (0, 2), (0, 3), (1, 0)], (6, 4), config)
        trace = ScheduleRecorder()
        run(layer, prepare_activations(layer, np.ones(4), config), config, observer=trace)
        block = trace.blocks[0]
        assert max(block.occupancy(0, t) for t in range(block.end)) == depth


def test_engine_reports_its_wall_time():
    config = ArchConfig(n_pe=2)
    layer = make_layer([(0, 0)], (2, 1), config)
    assert run(layer, prepare_activations(layer, np.ones(1), config), config).sim_wall_s > 0
