"""Every normative number of SPEC §5 derived by hand on small layers, for both engines.

Each case states its layer, works the schedule out in the comments (L, b_k, s_p(k), c_p(k))
and gives every counter, the per-PE arrays and the six derived metrics as exact values.
The metric formulas are checked against these numbers, never against the code's own.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from compressor.csc import interleave
from eiesim.config import ArchConfig
from eiesim.counters import Counters
from eiesim.result import derived_metrics
from eiesim.simulation import simulate

CODEBOOK = np.linspace(-1.0, 1.0, 16)
CODEBOOK[0] = 0.0


def layer_of(nonzeros, shape, config):
    rows, cols = zip(*nonzeros)
    return interleave(np.array(rows), np.array(cols), np.full(len(rows), 9), shape, CODEBOOK, config)


def check(result, cycles, counters, busy, starved, real, metrics):
    assert result.cycles == cycles
    assert result.counters.to_dict() == counters
    assert result.per_pe.to_dict() == {"busy": busy, "starved": starved, "real": real}
    got = result.metrics
    assert set(got) == set(metrics)
    for name, want in metrics.items():
        assert got[name] == pytest.approx(float(want), rel=0, abs=1e-15), name
    for name in ("theoretical_cycles_ideal", "theoretical_cycles_padded"):
        assert isinstance(got[name], int), name


def counters(**nonzero):
    """Every counter of SPEC §5 (and §5.1's lnzd_scan_cycles, 0 under "spec"; §5.2's DRAM
    counters, 0 with weights on chip): 0 unless given."""
    names = ("broadcasts", "real_entries", "filler_entries", "empty_columns", "busy_pe_cycles",
             "starved_pe_cycles", "queue_full_stall_cycles", "pointer_reads", "spmat_row_reads",
             "accumulator_writes", "macs", "codebook_reads", "bypass_hits", "act_sram_writes",
             "lnzd_scan_cycles", "dram_bytes", "dram_stall_cycles")
    assert set(nonzero) <= set(names)
    return {name: nonzero.get(name, 0) for name in names}


def test_spec_worked_example(engine):
    # SPEC §5's example: N = 2, D = 1, R = 64, M = 4, K = 3, all a_j != 0.
    # PE0 (rows 0, 2): n = 2, 0, 1 -> c = 2, 1, 1 (busy 4, real 3).
    # PE1 (rows 1, 3): n = 1, 1, 0 -> c = 1, 1, 1 (busy 3, real 2).
    # L = 1; b1 = 1, s(1) = 2; b2 = max(2, max s(1) = 2) = 2, s0(2) = max(3, 2 + 2) = 4,
    # s1(2) = max(3, 2 + 1) = 3; b3 = max(3, max s(2) = 4) = 4, s0(3) = max(5, 4 + 1) = 5,
    # s1(3) = max(5, 3 + 1) = 5. T = max(5 + 1, 5 + 1) + 6 = 12.
    # Starved: PE1 s(3) - s(2) - c(2) = 5 - 3 - 1 = 1. Stall: b3 - b2 - 1 = 1.
    # Bypass: PE0 issues row 0 (cycle 3), row 2 (4), row 0 (6): not consecutive -> 0.
    config = ArchConfig(n_pe=2, queue_depth=1)
    layer = layer_of([(0, 0), (1, 0), (2, 0), (3, 1), (0, 2)], (4, 3), config)
    result = simulate(layer, np.ones(3), config, engine=engine)
    check(
        result, 12,
        counters(broadcasts=3, real_entries=5, empty_columns=2, busy_pe_cycles=7, starved_pe_cycles=1,
                 queue_full_stall_cycles=1, pointer_reads=2 * 2 * 3, spmat_row_reads=2,
                 accumulator_writes=5, macs=5, codebook_reads=5),
        busy=[4, 3], starved=[0, 1], real=[3, 2],
        metrics={
            "theoretical_cycles_ideal": 3,  # ceil(5 / 2); rounding down would give 2
            "theoretical_cycles_padded": 3,  # ceil((5 + 0) / 2)
            "load_efficiency": Fraction(7, 2 * 12),  # busy / (N x cycles)
            "useful_efficiency": Fraction(5, 2 * 12),  # real / (N x cycles), not busy (7/24)
            "real_work_fraction": Fraction(5, 5 + 0 + 2),  # real / (real + filler + empty)
            "imbalance": Fraction(4, 1) / Fraction(4 + 3, 2),  # max busy / mean busy = 8/7, not min (6/7)
        },
    )


def test_fillers_make_padded_work_exceed_ideal(engine):
    # N = 2, M = 70, K = 1, non-zeros at rows 0, 34, 68 (all even: PE0, local rows 0, 17, 34).
    # Gaps g = 0, 16, 16 -> entries (v, 0), filler, (v, 0), filler, (v, 0): 3 real + 2 fillers.
    # PE1 owns the odd rows but no entry: c = 1. L = 1, b1 = 1, s(1) = 2.
    # T = max(2 + 5, 2 + 1) + 6 = 13; one block (70 <= N R = 128), no write-back.
    # Spmat rows hold 64 / (4 + 4) = 8 entries: PE0's addresses 0..4 are row 0 -> 1 read.
    config = ArchConfig(n_pe=2)
    layer = layer_of([(0, 0), (34, 0), (68, 0)], (70, 1), config)
    result = simulate(layer, np.ones(1), config, engine=engine)
    check(
        result, 13,
        counters(broadcasts=1, real_entries=3, filler_entries=2, empty_columns=1, busy_pe_cycles=5 + 1,
                 pointer_reads=2 * 2, spmat_row_reads=1, accumulator_writes=3, macs=3, codebook_reads=5),
        busy=[5, 1], starved=[0, 0], real=[3, 0],
        metrics={
            "theoretical_cycles_ideal": 2,  # ceil(3 / 2); floor gives 1
            "theoretical_cycles_padded": 3,  # ceil(5 / 2); floor gives 2
            "load_efficiency": Fraction(6, 2 * 13),
            "useful_efficiency": Fraction(3, 2 * 13),
            "real_work_fraction": Fraction(3, 3 + 2 + 1),
            "imbalance": Fraction(5) / Fraction(5 + 1, 2),  # 5/3; min/mean would be 1/3
        },
    )


def test_pes_that_own_no_row(engine):
    # N = 4 PEs for M = 2 rows: PEs 2 and 3 own no row and pay c = 1 per broadcast column.
    # Non-zeros (0,0), (0,1), (1,1); K = 2, both inputs non-zero; L = 1 (4^1 >= 4), D = 8.
    # c: PE0 = 1, 1; PE1 = 1 (empty), 1; PE2 = PE3 = 1 (empty), 1 (empty).
    # b1 = 1, s(1) = 2; b2 = 2, s(2) = max(3, 2 + 1) = 3. T = 3 + 1 + 6 = 10.
    # Empty columns: PE1 col 0, PE2 x 2, PE3 x 2 = 5. Busy = 8 x 1.
    # PE0 issues row 0 in cycle 3 (column 0) and row 0 again in cycle 4 (column 1):
    # the cycle after its previous real entry, same accumulator -> 1 bypass hit.
    # Spmat reads: PE0 addresses 0, 1 (row 0) -> 1; PE1 address 0 -> 1.
    config = ArchConfig(n_pe=4)
    layer = layer_of([(0, 0), (0, 1), (1, 1)], (2, 2), config)
    result = simulate(layer, np.ones(2), config, engine=engine)
    check(
        result, 10,
        counters(broadcasts=2, real_entries=3, empty_columns=5, busy_pe_cycles=8, pointer_reads=2 * 4 * 2,
                 spmat_row_reads=2, accumulator_writes=3, macs=3, codebook_reads=3, bypass_hits=1),
        busy=[2, 2, 2, 2], starved=[0, 0, 0, 0], real=[2, 1, 0, 0],
        metrics={
            "theoretical_cycles_ideal": 1,  # ceil(3 / 4); floor gives 0
            "theoretical_cycles_padded": 1,
            "load_efficiency": Fraction(8, 4 * 10),
            "useful_efficiency": Fraction(3, 4 * 10),  # busy would give 8/40
            "real_work_fraction": Fraction(3, 3 + 0 + 5),
            "imbalance": 1,  # every PE busy 2 cycles
        },
    )


def test_one_pe_with_a_full_queue(engine):
    # N = 1, D = 1, M = 3, K = 3. Column 0 rows 0, 1, 2 (c = 3), column 1 row 0, column 2 row 1.
    # L = 1. b1 = 1, s(1) = 2; b2 = max(2, s(1) = 2) = 2, s(2) = max(3, 2 + 3) = 5;
    # b3 = max(3, s(2) = 5) = 5, s(3) = max(6, 5 + 1) = 6. T = 6 + 1 + 6 = 13.
    # Stall: (b2 - b1 - 1) + (b3 - b2 - 1) = 0 + 2. Starved: (5 - 2 - 3) + (6 - 5 - 1) = 0.
    # Issues: rows 0, 1, 2 in cycles 3, 4, 5; row 0 in 6; row 1 in 7: no repeat of the previous row.
    config = ArchConfig(n_pe=1, queue_depth=1)
    layer = layer_of([(0, 0), (1, 0), (2, 0), (0, 1), (1, 2)], (3, 3), config)
    result = simulate(layer, np.ones(3), config, engine=engine)
    check(
        result, 13,
        counters(broadcasts=3, real_entries=5, busy_pe_cycles=5, queue_full_stall_cycles=2,
                 pointer_reads=2 * 3, spmat_row_reads=1, accumulator_writes=5, macs=5, codebook_reads=5),
        busy=[5], starved=[0], real=[5],
        metrics={
            "theoretical_cycles_ideal": 5, "theoretical_cycles_padded": 5,
            "load_efficiency": Fraction(5, 13), "useful_efficiency": Fraction(5, 13),
            "real_work_fraction": 1, "imbalance": 1,
        },
    )


def test_row_blocks_and_write_back(engine):
    # N = 2, R = 1: blocks of N R = 2 rows; M = 3 -> ceil(3 / 2) = 2 blocks. K = 1, a = [1].
    # Non-zeros (0, 0) and (2, 0). Block 0: PE0 row 0 (c = 1), PE1 row 1 empty (c = 1);
    # T = 2 + 1 + 6 = 9, write-back ceil(2 / 2) = 1. Block 1: rows_in_block = min(2, 3 - 2) = 1,
    # row 2 at PE0 local 0, PE1 owns nothing: T = 9, write-back ceil(1 / 2) = 1.
    # Cycles = 9 + 1 + 9 + 1 = 20; act SRAM writes = 2 + 1 values.
    config = ArchConfig(n_pe=2, accumulators_per_pe=1)
    layer = layer_of([(0, 0), (2, 0)], (3, 1), config)
    result = simulate(layer, np.ones(1), config, engine=engine)
    assert result.block_cycles == [9 + 1, 9 + 1]
    check(
        result, 20,
        counters(broadcasts=2, real_entries=2, empty_columns=2, busy_pe_cycles=4, pointer_reads=2 * 2 * 2,
                 spmat_row_reads=2, accumulator_writes=2, macs=2, codebook_reads=2, act_sram_writes=3),
        busy=[2, 2], starved=[0, 0], real=[2, 0],
        metrics={
            "theoretical_cycles_ideal": 1, "theoretical_cycles_padded": 1,
            "load_efficiency": Fraction(4, 2 * 20), "useful_efficiency": Fraction(2, 2 * 20),
            "real_work_fraction": Fraction(2, 2 + 0 + 2), "imbalance": 1,
        },
    )


def test_zero_work(engine):
    # Every activation zero: K' = 0, T_block = L + 6 = 7 with N = 2; no counter moves.
    # Conventions (pinned here): real_work_fraction of no work is 0, imbalance of no busy
    # cycles is 1 (nothing is unbalanced); efficiencies are 0 / (N x 7) = 0.
    config = ArchConfig(n_pe=2, queue_depth=1)
    layer = layer_of([(0, 0), (1, 0), (2, 0), (3, 1), (0, 2)], (4, 3), config)
    result = simulate(layer, np.zeros(3), config, engine=engine)
    check(
        result, 1 + 6, counters(), busy=[0, 0], starved=[0, 0], real=[0, 0],
        metrics={"theoretical_cycles_ideal": 0, "theoretical_cycles_padded": 0, "load_efficiency": 0,
                 "useful_efficiency": 0, "real_work_fraction": 0, "imbalance": 1},
    )


@pytest.mark.parametrize(("n_pe", "latency"), [(1, 1), (4, 1), (5, 2), (16, 2), (17, 3), (64, 3), (65, 4)])
def test_lnzd_latency_is_the_smallest_l_with_4_to_the_l_at_least_n(n_pe, latency):
    # 4^1 = 4 >= 1..4; 4^2 = 16 >= 5..16; 4^3 = 64 >= 17..64; 65 needs 4^4.
    assert ArchConfig(n_pe=n_pe).lnzd_latency == latency


def test_time_is_cycles_over_clock():
    config = ArchConfig(n_pe=1, clock_mhz=500.0)
    layer = layer_of([(0, 0)], (1, 1), config)
    result = simulate(layer, np.ones(1), config)
    # L = 1, b1 = 1, s = 2, T = 2 + 1 + 6 = 9 cycles; 9 / 500 MHz = 0.018 us.
    assert result.cycles == 9 and result.time_us == pytest.approx(9 / 500)
    assert result.to_dict()["time_us"] == pytest.approx(0.018)
    assert math.isclose(result.to_dict()["metrics"]["load_efficiency"], 1 / 9)


def test_json_of_the_worked_example():
    # SPEC §9: cycles, time_us, n_pe, queue_depth, engine, counters, metrics, energy_pj, per_pe.
    config = ArchConfig(n_pe=2, queue_depth=1, clock_mhz=400.0)
    layer = interleave(np.array([0, 1, 2, 3, 0]), np.array([0, 0, 0, 1, 2]), np.full(5, 9), (4, 3), CODEBOOK,
                       config, name="spec")
    result = simulate(layer, np.ones(3), config, engine="reference")
    d = result.to_dict()
    assert list(d) == ["layer", "cycles", "time_us", "n_pe", "queue_depth", "timing", "settings", "engine",
                       "counters", "metrics", "per_pe", "block_cycles", "energy_pj", "fit", "sim_wall_s"]
    assert d["settings"] == {"n_pe": 2, "queue_depth": 1, "clock_mhz": 400.0}  # the non-default fields
    assert (d["layer"], d["cycles"], d["n_pe"], d["queue_depth"], d["timing"], d["engine"]) == (
        "spec", 12, 2, 1, "spec", "reference")
    assert d["time_us"] == 12 / 400  # 12 cycles at 400 MHz = 0.03 us
    assert d["counters"]["busy_pe_cycles"] == 7 and d["counters"]["real_entries"] == 5
    assert d["metrics"]["load_efficiency"] == 7 / 24 and d["metrics"]["theoretical_cycles_ideal"] == 3
    assert d["per_pe"] == {"busy": [4, 3], "starved": [0, 1], "real": [3, 2]}
    assert d["block_cycles"] == [12]
    assert d["energy_pj"] == result.energy.to_dict() and d["energy_pj"]["total"] > 0
    assert d["fit"] == {"fits": True, **{k: v for k, v in result.fit.to_dict().items() if k != "fits"}}
    assert d["sim_wall_s"] == result.sim_wall_s >= 0
    assert isinstance(d["cycles"], int) and all(type(v) is int for v in d["counters"].values())


def test_lnzd_scan_cycles_add_up_over_row_blocks(engine):
    # spec with the pack-scan LNZD: N = 2, R = 1, M = 4 rows: T = 2 row blocks, each
    # broadcasting the same columns. Activations (1, 0, 0, 1), packs of N = 2 slots:
    # pending starts at 1; column 0 takes gap 1 (pending 0); pack {0, 1} ends on a zero
    # slot (pending 1); column 3 takes gap 1. Per block 1 + 1 = 2 scan cycles, 2 x 2 = 4.
    config = ArchConfig(n_pe=2, accumulators_per_pe=1, lnzd="pack-scan")
    layer = interleave([0, 1, 2, 3], [0, 3, 0, 3], [1, 1, 1, 1], (4, 4), np.linspace(0.0, 1.0, 16), config)
    assert layer.n_blocks == 2
    result = simulate(layer, np.array([1.0, 0.0, 0.0, 1.0]), config, engine=engine)
    assert result.counters.lnzd_scan_cycles == 4
    assert result.energy.outside_pes["lnzd"] == 4 * 1.0  # a 2 x 16-bit pack: a 32-bit register-file read


def test_metrics_count_the_issue_lanes_of_a_wider_pe():
    # Hand-made counters of N = 3 PEs over 10 cycles: 11 real and 6 filler entries, 3 empty
    # columns, busy 8 + 4 + 6 = 18 cycles. PEs of 2 lanes issue up to N x 2 = 6 entries a
    # cycle: ideal ceil(11 / 6) = 2 cycles (one lane: ceil(11 / 3) = 4; N + lanes = 5 would
    # give 3), padded ceil(17 / 6) = 3 (one lane: 6), useful 11 / (6 x 10) (one lane: 11 / 30).
    # Busy cycles are cycles holding a column: load efficiency 18 / (3 x 10) and imbalance
    # 8 / 6 take no lanes; real work 11 / (11 + 6 + 3).
    c = Counters(real_entries=11, filler_entries=6, empty_columns=3, busy_pe_cycles=18)
    busy = np.array([8, 4, 6])
    common = {"load_efficiency": Fraction(18, 30), "real_work_fraction": Fraction(11, 20),
              "imbalance": Fraction(8, 6)}
    for lanes, want in [
        (2, {"theoretical_cycles_ideal": 2, "theoretical_cycles_padded": 3, "useful_efficiency": Fraction(11, 60)}),
        (None, {"theoretical_cycles_ideal": 4, "theoretical_cycles_padded": 6, "useful_efficiency": Fraction(11, 30)}),
    ]:  # None: the default, ISSUE_LANES = 1 (EIE)
        got = derived_metrics(c, busy, 3, 10) if lanes is None else derived_metrics(c, busy, 3, 10, lanes=lanes)
        assert set(got) == {*want, *common}
        for name, value in {**want, **common}.items():
            assert got[name] == pytest.approx(float(value), rel=0, abs=1e-15), (lanes, name)


def test_imbalance_of_a_mean_below_one_busy_cycle():
    # N = 2, busy 1 and 0: mean 1/2, so imbalance = 1 / (1/2) = 2 (a zero-work guard that
    # fired below a mean of one cycle would report 1).
    got = derived_metrics(Counters(real_entries=1, busy_pe_cycles=1), np.array([1, 0]), 2, 4)
    assert got["imbalance"] == 2.0 and got["load_efficiency"] == 1 / 8
