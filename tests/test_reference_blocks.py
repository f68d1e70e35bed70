"""Unit tests of the reference engine's blocks, each clocked alone between a scripted
source and a recording sink (PyMTL3's test sources and sinks), and invariants only the
reference engine can show.

The expected cycles are derived by hand in comments from each block's docstring.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eiesim.blocks import ActQueue, ArithmeticUnit, Broadcast, Ccu, LnzdTree, Multiplier, PackScanner, PtrRead, SpmatRead
from eiesim.blocks.arith import accumulator
from eiesim.blocks.pe import STAGES
from eiesim.config import ArchConfig
from eiesim.engines import ScheduleRecorder
from eiesim.engines.reference import LineTrace, run
from eiesim.numerics import accumulate
from eiesim.counters import Counters
from eiesim.simulation import prepare_activations
from tests.test_engines import cases, make_layer


def counters() -> SimpleNamespace:
    """A counter sink that accepts any counter name (blocks add to the ones they own)."""
    names = [*Counters().to_dict(), "lnzd_scan_cycles"]
    return SimpleNamespace(**dict.fromkeys(names, 0))


class TakeSink:
    """The CCU's place: takes the LNZD's offer in every cycle not listed in ``stall``."""

    def __init__(self, source, stall=()):
        self.source, self.stall, self.got = source, set(stall), []

    def run(self, cycles: int) -> list[tuple[int, int, bool]]:
        for now in range(cycles):
            offer = self.source.peek()
            if offer is not None and now not in self.stall:
                self.got.append((now, offer.index, offer.last))
                self.source.take()
            self.source.tick(now)
        return self.got


def tree(values, n_pe):
    levels = 1
    while 4**levels < n_pe:
        levels += 1
    return LnzdTree([[(j, values[j]) for j in range(p, len(values), n_pe) if values[j]] for p in range(n_pe)], levels)


# ----------------------------------------------------------------------------------------
# LNZD tree and pack scanner


@pytest.mark.parametrize("n_pe, latency", [(1, 1), (2, 1), (4, 1), (5, 2), (16, 2), (17, 3), (64, 3)])
def test_tree_first_offer_after_its_levels_then_one_per_cycle(n_pe, latency):
    # Non-zeros at j = 1, 2, 7, 40 (others 0): the root offers j1 in cycle L, then one per cycle.
    values = [0] * 48
    for j in (1, 2, 7, 40):
        values[j] = j
    got = TakeSink(tree(values, n_pe)).run(latency + 6)
    assert got == [(latency, 1, False), (latency + 1, 2, False), (latency + 2, 7, False), (latency + 3, 40, True)]


def test_tree_holds_its_offer_while_the_sink_stalls():
    # N = 8 (L = 2): offers from cycle 2; the sink refuses cycles 3 and 4, so j5 waits until 5.
    values = [0, 3, 0, 0, 0, 5, 6, 0, 0, 9]
    got = TakeSink(tree(values, 8), stall={3, 4}).run(12)
    assert got == [(2, 1, False), (5, 5, False), (6, 6, False), (7, 9, True)]


def test_tree_without_nonzeros_is_exhausted_after_its_levels():
    source = tree([0] * 20, 16)  # L = 2: the root's register is loaded at the end of cycle 1
    source.tick(0)
    assert not source.exhausted
    source.tick(1)
    assert source.exhausted and source.peek() is None


def test_pack_scanner_gaps():
    # N = 4, inputs a = [0 2 0 3 | 0 0 0 0 | 5 0 0 7 | 0 1], bias pack [b].
    # Cycle 0 loads pack 0 (scan); j1 offered in 1, j3 (slot 3 = last slot) in 2, which
    # loads pack 1 at once; pack 1 is empty: cycle 3 loads pack 2 (scan); j8 in 4, j11
    # (slot 3) in 5 and pack 3 loads; j13 in 6; nothing left in pack 3 (slot 3 is 0):
    # cycle 7 loads the bias pack (scan); the bias j14 in 8. Scan cycles: 0, 3, 7.
    inputs = [0, 2, 0, 3, 0, 0, 0, 0, 5, 0, 0, 7, 0, 1]
    packs = [[(j - g, j, inputs[j]) for j in range(g, min(g + 4, 14)) if inputs[j]] for g in range(0, 14, 4)]
    count = counters()
    scanner = PackScanner(packs + [[(0, 14, 1)]], 4, count)
    got = TakeSink(scanner).run(12)
    assert got == [(1, 1, False), (2, 3, False), (4, 8, False), (5, 11, False), (6, 13, False), (8, 14, True)]
    assert count.lnzd_scan_cycles == 3 and scanner.exhausted


def test_pack_scanner_keeps_its_offer_during_a_stall():
    # N = 2, a = [1 0 | 0 1], bias: j0 in 1; pack 0 has nothing more: 2 loads pack 1; j3
    # offered from 3 but refused in 3, 4: taken in 5 (slot 1 = last: bias pack loads); bias in 6.
    count = counters()
    scanner = PackScanner([[(0, 0, 1)], [(1, 3, 1)], [(0, 4, 1)]], 2, count)
    assert TakeSink(scanner, stall={3, 4}).run(10) == [(1, 0, False), (5, 3, False), (6, 4, True)]
    assert count.lnzd_scan_cycles == 2  # cycles 0 and 2


# ----------------------------------------------------------------------------------------
# Activation queue and CCU


def test_queue_latches_at_the_edge_and_refills_in_the_same_cycle():
    queue = ActQueue(usable_slots=1, refill="same-cycle")
    b = Broadcast(0, 1, False)
    queue.put(b, 3)
    assert not queue.can_get(3) and queue.can_get(4)  # put in 3 is popped from 4 on
    assert not queue.can_put(4)
    assert queue.get(4) is b and queue.can_put(4)  # the slot freed in 4 takes a put in 4
    with pytest.raises(RuntimeError, match="underflow"):
        queue.get(5)


def test_queue_next_cycle_refill():
    queue = ActQueue(usable_slots=1, refill="next-cycle")
    queue.put(Broadcast(0, 1, False), 0)
    queue.get(1)
    assert not queue.can_put(1) and queue.can_put(2)
    with pytest.raises(RuntimeError, match="overflow"):
        queue.put(Broadcast(1, 1, False), 1)
    with pytest.raises(ValueError, match="refill"):
        ActQueue(1, refill="later")


def test_ccu_broadcasts_into_every_queue_and_stalls_on_any_full_one():
    # Two queues of one slot; queue 1's consumer pops in cycle 5 only. L = 1 (N = 2):
    # j0 in cycle 1; j1 waits for queue 1 (full) until its pop in 5 (same-cycle refill).
    count = counters()
    queues = [ActQueue(1), ActQueue(1)]
    source = tree([1, 1], 2)
    ccu = Ccu(source, queues, count)
    sent = []
    for now in range(8):
        if queues[0].can_get(now):
            queues[0].get(now)
        if now == 5:
            queues[1].get(now)
        ccu.tick(now)
        if ccu.sent is not None:
            sent.append((now, ccu.sent.index))
        source.tick(now)
    assert sent == [(1, 0), (5, 1)]
    assert count.broadcasts == 2 and count.queue_full_stall_cycles == 3  # cycles 2, 3, 4


# ----------------------------------------------------------------------------------------
# Pointer read, sparse-matrix read, arithmetic unit


def test_pointer_banks():
    count = counters()
    ptr = PtrRead(0, [0, 3, 4, 6, 6, 8], ActQueue(1), count)
    assert ptr.even_bank == [0, 4, 6] and ptr.odd_bank == [3, 6, 8]
    assert [ptr.read(j) for j in range(5)] == [(0, 3), (3, 4), (4, 6), (6, 6), (6, 8)]
    assert count.pointer_reads == 10


def test_pointer_read_pops_when_asked_and_counts_starvation_between_columns():
    # Columns arrive (put) in cycles 1, 2 and 6 (the last); the sink wants a column every
    # cycle. Pops: 2, 3, 7. Starved: cycles 4, 5, 6 (after the first pop, before the last);
    # cycle 0 and 1 (before the first) and 8.. (after the last) are not starvation.
    count = counters()
    queue = ActQueue(4)
    ptr = PtrRead(0, [0, 1, 1, 3, 3], queue, count)
    arrivals = {1: Broadcast(0, 1, False), 2: Broadcast(1, 1, False), 6: Broadcast(3, 1, True)}
    pops = []
    for now in range(10):
        ptr.out = None  # the sink takes the pointer register every cycle
        ptr.tick(now, True)
        if ptr.out is not None:
            pops.append((now, ptr.out[2].index, ptr.out[0], ptr.out[1]))
        if now in arrivals:
            queue.put(arrivals[now], now)
    assert pops == [(2, 0, 0, 1), (3, 1, 1, 1), (7, 3, 3, 3)]
    assert ptr.starved == count.starved_pe_cycles == 3
    assert count.empty_columns == 2 and count.pointer_reads == 6


def test_spmat_issues_one_address_per_cycle_through_its_row_register():
    # Rows of E = 2 entries. Column A = addresses 1..3 (pointers popped in cycle 0), then
    # an empty column (popped in 3, the cycle of A's last issue), then B = address 3 only
    # (popped in 4). Issues: 1, 2, 3 in cycles 1-3; cycle 4 holds the empty column; 3 in 5.
    # SRAM reads one cycle later: 1 (row 0: read), 2 (row 1: read), 3 (row 1), 3 (row 1).
    count = counters()
    spmat = SpmatRead([5, 6, 7, 8, 9], [0, 1, 2, 3, 4], 2, count)
    pops = {0: (1, 4, Broadcast(0, 10, False)), 3: (4, 4, Broadcast(1, 11, False)), 4: (3, 4, Broadcast(2, 12, True))}
    ptr = SimpleNamespace(out=None)
    issued, read, wants = [], [], []
    for now in range(8):
        spmat.tick(now, ptr)
        issued += [(now, address) for address, _, _ in spmat.issued]
        read += [(now, (code, rel, first, broadcast.value)) for code, rel, first, broadcast in spmat.out]
        wants.append(spmat.wants_column)
        if now in pops:
            ptr.out = pops[now]
    assert issued == [(1, 1), (2, 2), (3, 3), (5, 3)]
    assert read == [(2, (6, 1, True, 10)), (3, (7, 2, False, 10)), (4, (8, 3, False, 10)), (6, (8, 3, True, 12))]
    assert count.spmat_row_reads == 2  # rows 0 and 1; the later reads hit the row register
    assert spmat.busy == count.busy_pe_cycles == 5  # 3 + 1 (empty) + 1
    assert wants == [True, False, False, True, True, True, True, True]


def arith_run(entries, codebook=(0, 1, 2, 3), bias_column=-1):
    """Feed ``entries`` (code, z, first, a, column j = 0 unless given; one per cycle, None =
    bubble) into an arithmetic unit; codebook values in units of 1.0 = 4096 (Q.12)."""
    count = counters()
    config = ArchConfig()
    acc = [0] * 8
    unit = ArithmeticUnit(Multiplier(np.array(codebook) * 4096, config), acc, count, config, bias_column)
    writes = []
    for now, entry in enumerate([*entries, None, None, None, None]):
        if entry is not None:
            code, z, first, a, *j = entry
            entry = (code, z, first, Broadcast(j[0] if j else 0, a, False))
        unit.tick([] if entry is None else [entry])
        writes += [(now, row, acc[row]) for row in unit.written]
    return writes, count, unit


def test_arith_stages_and_bypass():
    # Entry (code, z, first, a) in cycle 0..: column 1 rows 0, 1 (codes 1, 2, a = 256 = 1.0),
    # then column 2 row 1 (code 3) right behind: its multiply (cycle 3) finds row 1 in the
    # shift-add stage, a bypass hit; the sum forwards 2 + 3 = 5 (in units of 1/256: 1280).
    # Decode in the entry's cycle, multiply +1, shift-add +2, write +3.
    writes, count, unit = arith_run([(1, 0, True, 256), (2, 0, False, 256), (3, 1, True, 256)])
    assert writes == [(3, 0, 256), (4, 1, 512), (5, 1, 1280)]
    assert count.bypass_hits == 1 and count.macs == 3 and count.accumulator_writes == 3 and unit.real == 3


def test_arith_no_bypass_after_a_bubble_and_fillers_write_nothing():
    # Row 1 twice with a bubble between: the first write (cycle 3) comes before the
    # second's accumulator read in the same cycle (stages are clocked last to first): no
    # bypass, same sum. A filler (code 0, z = 3, row 3) advances the address and leaves
    # after decode: the next entry (z = 0) goes to row 4.
    writes, count, _ = arith_run([(2, 1, True, 256), None, (3, 1, True, 256), (0, 3, True, 256), (1, 0, False, 256)])
    assert writes == [(3, 1, 512), (5, 1, 1280), (7, 4, 256)]
    assert count.bypass_hits == 0 and count.filler_entries == 1 and count.real_entries == 3


def test_arith_decodes_the_bias_column_through_the_bias_codebook():
    # Weight codebook 0, 1 (codes 0..15), bias codebook 0, 2 after it (table entries 16..31).
    # Code 1 in column 3 (an input) -> weight 1.0; in column 5 (the bias column) -> 2.0.
    table = [0, 1] + [0] * 14 + [0, 2] + [0] * 14
    writes, _, _ = arith_run([(1, 0, True, 256, 3), (1, 1, True, 256, 5)], codebook=table, bias_column=5)
    assert writes == [(3, 0, 256), (4, 1, 512)]


def test_pe_pipeline_is_issue_sram_and_four_arithmetic_stages():
    assert STAGES == ("issue", "SRAM read", "decode", "multiply", "shift-add", "write")


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


# ----------------------------------------------------------------------------------------
# The engine


@given(cases())
def test_queue_occupancy_never_exceeds_depth(case):
    layer, acts, config = case
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


def test_worked_example_line_trace():
    # SPEC §5 worked example: b = 1, 2, 4 (D = 1: j2 is held in 3 because PE0's queue
    # holds j1 until PE0 pops it in 4); s_0 = 2, 4, 5; s_1 = 2, 3, 5; T = 12.
    config = ArchConfig(n_pe=2, queue_depth=1)
    layer = make_layer([(0, 0), (1, 0), (2, 0), (3, 1), (0, 2)], (4, 3), config)
    trace = LineTrace()
    run(layer, prepare_activations(layer, np.ones(3), config), config, trace)
    lines = trace.lines
    assert lines[0] == "row block 0: T_block = 12 cycles + 0 write-back cycles" and len(lines) == 2 + 12
    cells = [[c.strip() for c in line.split("|")] for line in lines[2:]]
    assert [row[1] for row in cells[:5]] == ["", "bcast j0", "bcast j1", "full, hold j2", "bcast j2"]
    assert cells[2][2].startswith("q1 ptr j0") and cells[4][2].startswith("q1 ptr j1")
    assert cells[4][3] == "q1 wait iss @1 sram @0*"  # PE1 starved in 4; its row 0 read
    assert cells[11][2] == "q0 wr r0" and cells[11][3] == "q0"  # last write, cycle 11


def test_engine_reports_its_wall_time():
    config = ArchConfig(n_pe=2)
    layer = make_layer([(0, 0)], (2, 1), config)
    assert run(layer, prepare_activations(layer, np.ones(1), config), config).sim_wall_s > 0


def test_the_pe_tick_order_follows_from_what_each_block_reads():
    from graphlib import CycleError

    from eiesim.blocks.pe import TICK_ORDER, tick_order

    # arith reads spmat's last-cycle output: before spmat; spmat reads the pointer register
    # written at the pop: before ptr_read; ptr_read reads spmat's column register of this
    # cycle: after spmat. Hence last stage first.
    assert TICK_ORDER == ("arith", "spmat", "ptr_read")
    assert tick_order({"a": (("previous", "b"),), "b": ()}) == ("a", "b")
    assert tick_order({"a": (("current", "b"),), "b": ()}) == ("b", "a")
    with pytest.raises(CycleError):
        tick_order({"a": (("previous", "b"),), "b": (("previous", "a"),)})


def test_a_two_lane_spmat_issues_two_addresses_of_a_column_per_cycle():
    # Rows of E = 2 entries. Column A = addresses 1..3 (popped in 0): 1 and 2 issue in cycle
    # 1, 3 in cycle 2, which frees the column register, so B = address 4 (popped in 2) issues
    # in 3. Reads one cycle later: 1 (row 0) and 2 (row 1) in cycle 2, two row reads; 3 hits
    # row 1 in 3; 4 reads row 2 in 4.
    count = counters()
    spmat = SpmatRead([5, 6, 7, 8, 9], [0, 1, 2, 3, 4], 2, count, lanes=2)
    pops = {0: (1, 4, Broadcast(0, 10, False)), 2: (4, 5, Broadcast(1, 11, True))}
    ptr = SimpleNamespace(out=None)
    issued, read = [], []
    for now in range(6):
        spmat.tick(now, ptr)
        issued += [(now, address) for address, _, _ in spmat.issued]
        read += [(now, (code, rel, first, broadcast.value)) for code, rel, first, broadcast in spmat.out]
        if now in pops:
            ptr.out = pops[now]
    assert issued == [(1, 1), (1, 2), (2, 3), (3, 4)]
    assert read == [(2, (6, 1, True, 10)), (2, (7, 2, False, 10)), (3, (8, 3, False, 10)), (4, (9, 4, True, 11))]
    assert count.spmat_row_reads == 3 and spmat.busy == 3  # 2 cycles for A, 1 for B


def test_a_two_lane_arithmetic_unit_bypasses_across_lanes():
    # Cycle 0: column 0's rows 0 and 1 (codes 1, 2; a = 1.0 = 256); cycle 1: column 1's row 1
    # (code 3). Its multiply (cycle 2) finds row 1 in the shift-add stage: a bypass hit, and
    # row 1 ends at 2 + 3 = 5 (1280 in units of 1/256); row 0 at 1 (256).
    count = counters()
    config = ArchConfig()
    acc = [0] * 4
    unit = ArithmeticUnit(Multiplier(np.array([0, 1, 2, 3]) * 4096, config), acc, count, config)
    cycles = [[(1, 0, True, Broadcast(0, 256, False)), (2, 0, False, Broadcast(0, 256, False))],
              [(3, 1, True, Broadcast(1, 256, False))], [], [], [], []]
    for entries in cycles:
        unit.tick(entries)
    assert acc[:2] == [256, 1280]
    assert (count.bypass_hits, count.macs, count.accumulator_writes) == (1, 3, 3)


# ----------------------------------------------------------------------------------------
# DRAM fetch unit (streamed weights, SPEC §5.2), clocked alone: pops are scripted


def test_dram_fetch_unit_shares_the_channel_and_waits_for_free_slots():
    from eiesim.blocks import DramFetch

    sink = counters()
    # Columns 3, 5, 9 of 12, 4 and 8 bytes; B = 4 bytes per cycle, latency 1, Q = 2 slots, 2 PEs.
    unit = DramFetch([3, 5, 9], [12, 4, 8], n_pe=2, bytes_per_cycle=4, latency=1, slots=2, counters=sink)
    started = []
    for now in range(12):
        pops = {7: [0, 0], 9: [1, 1]}.get(now, [])  # PE0 pops columns 3 and 5 by cycle 7, PE1 only in 9
        for pe in pops:
            unit.popped(pe)
        unit.tick(now)
        if unit.started is not None:
            started.append((now, unit.started))
    # Fetch 1 holds the channel for 12 / 4 = 3 cycles (0-2) and arrives in 0 + 1 + 3 = 4;
    # fetch 2 starts in 3 (one cycle, arrives 5); fetch 3 (k = 3 > Q) needs every PE to have
    # popped column k - Q + 1 = 2, which PE1 does in cycle 9: it starts then, arrives 9 + 1 + 2.
    assert started == [(0, 0), (3, 1), (9, 2)]
    assert unit.arrival == [4, 5, 12]
    assert [unit.ready(3, 3), unit.ready(3, 4), unit.ready(9, 11), unit.ready(9, 12)] == [False, True, False, True]
    assert sink.dram_bytes == 24
