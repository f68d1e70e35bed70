"""The ``pointer_banks`` rule: a pointer SRAM of one bank reads a column's two pointers in
two cycles (SPEC §5.1 "Pointer banks"), by hand, against the oracle and both engines."""

from __future__ import annotations

import numpy as np
import pytest

from eiesim.config import ArchConfig
from eiesim.energy.events import event_energies
from eiesim.energy.tables import load_table
from eiesim.engines import ScheduleRecorder
from eiesim.simulation import simulate
from test_engines import check
from test_fast_engine import encode

# One PE, three columns of 2, 0 and 1 entries, every activation broadcast (b = 1, 2, 3: L = 1).
NONZEROS = [(0, 0), (1, 0), (0, 2)]


@pytest.mark.parametrize("engine", ["reference", "fast"])
@pytest.mark.parametrize("banks, pops, issues, cycles", [
    # Two banks: c = max(1, n) = 2, 1, 1; s = 2, max(3, 4) = 4, max(4, 5) = 5; entries in s + 1 ...;
    # T = 5 + 1 + 6 = 12.
    ("two", [2, 4, 5], [3, 4, 6], 12),
    # One bank: c = max(1, n) + 1 = 3, 2, 2; s = 2, max(3, 5) = 5, max(4, 7) = 7; entries in s + 2 ...;
    # T = 7 + 2 + 6 = 15.
    ("one", [2, 5, 7], [4, 5, 9], 15),
])
def test_one_bank_reads_pointers_in_two_cycles(engine, banks, pops, issues, cycles):
    config = ArchConfig.make(n_pe=1, pointer_banks=banks)
    layer = encode(NONZEROS, (2, 3), config)
    recorder = ScheduleRecorder()
    result = simulate(layer, np.ones(3), config, engine=engine, observer=recorder)
    block = recorder.blocks[0]
    assert block.pop[0].tolist() == pops and block.issue[0].tolist() == issues
    assert result.cycles == cycles
    # Busy: cycles holding a column (2 + 1 + 1) either way; the extra pointer cycles are not starvation.
    assert (result.counters.busy_pe_cycles, result.counters.starved_pe_cycles) == (4, 0)
    assert result.counters.pointer_reads == 6
    check(layer, np.ones(3), config, engine, cycles=cycles)  # and the oracle's whole schedule


@pytest.mark.parametrize("engine", ["reference", "fast"])
@pytest.mark.parametrize("timing", ["spec", "eie-cpp"])
def test_one_bank_agrees_with_the_oracle_with_fillers_blocks_and_a_full_queue(engine, timing):
    config = ArchConfig.make(n_pe=2, queue_depth=2, accumulators_per_pe=20, index_bits=2, timing=timing,
                             pointer_banks="one")
    rng = np.random.default_rng(3)
    nonzeros = [(r, c) for r in range(60) for c in range(7) if rng.random() < 0.3]
    layer = encode(nonzeros, (60, 7), config)
    acts = np.where(rng.random(7) < 0.8, 1.0, 0.0)
    result = check(layer, acts, config, engine)
    two = simulate(layer, acts, config.replace(pointer_banks="two"), engine=engine)
    # Every pop costs one more cycle, so the layer is slower but does the same work.
    assert result.cycles > two.cycles and result.counters.real_entries == two.counters.real_entries
    assert result.counters.bypass_hits == 0  # a bubble always separates two columns' entries


def test_one_bank_pointer_read_costs_an_access_of_the_whole_pointer_sram():
    # Two banks of 16 KB: 64-bit access 10 x (16/8)^0.5 = 14.14 pJ, x 16/64 bits = 3.536 pJ.
    # One bank of 32 KB: the table's 32 KB figure, 20 pJ x 16/64 = 5 pJ.
    table = load_table(None, "events")
    assert event_energies(table, ArchConfig()).get("pointer_read").pj == pytest.approx(10 * 2**0.5 / 4)
    assert event_energies(table, ArchConfig(pointer_banks="one")).get("pointer_read").pj == pytest.approx(5.0)
