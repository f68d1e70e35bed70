"""The SRAM-width and precision studies (EIE Figs. 9 and 10, energy side)."""

from __future__ import annotations

import math

import pytest

from eiesim.config import ArchConfig
from eiesim.energy import load_table, rules
from eiesim.paper import studies
from eiesim.simulation import simulate
from workloads.benchmarks import benchmark_layer

T = load_table(None, "events")


def test_sram_width_study_prices_the_simulated_row_reads():
    cfg = ArchConfig(n_pe=16)
    df = studies.sram_width_study(["NT-LSTM"], widths=(16, 64, 256), config=cfg)  # default engine
    assert list(df["width_bits"]) == [16, 64, 256]
    # One 64-bit read of a 128 KB SRAM lies on the log-log line from 32 KB (20 pJ) to 1 MB
    # (100 pJ): 20 x 4^(ln 5 / ln 32) = 38.07 pJ; other widths scale linearly (16 bits: / 4).
    per_64 = 20 * 4 ** (math.log(5) / math.log(32))
    layer, acts = benchmark_layer("NT-LSTM", cfg)
    for row in df.itertuples():
        reads = simulate(layer, acts, cfg.replace(spmat_width_bits=row.width_bits)).counters.spmat_row_reads
        assert row.spmat_row_reads == reads
        assert row.pj_per_read == pytest.approx(per_64 * row.width_bits / 64)
        assert row.read_energy_pj == pytest.approx(reads * per_64 * row.width_bits / 64)
        assert row.entries_per_row == row.width_bits // (4 + 4)
    # Wider rows hold more entries: fewer reads.
    assert df["spmat_row_reads"].is_monotonic_decreasing
    summary = studies.sram_width_summary(df)
    assert summary["minimum"].sum() == 1
    assert summary.loc[summary["minimum"], "relative_to_min"].item() == 1.0


def test_precision_energy_table_follows_the_rules():
    df = studies.precision_energy().set_index("format")
    assert list(df.index) == ["int8", "int16", "int32", "float16", "float32"]
    assert df.loc["int8", "mult_pj"] == pytest.approx(0.2) and df.loc["int32", "add_pj"] == pytest.approx(0.1)
    assert df.loc["int16", "mult_pj"] == pytest.approx(rules.int_op(T, "mult", 16).pj)
    assert df.loc["float16", "mac_pj"] == pytest.approx(1.1 + 0.4)
    assert df.loc["float32", "mac_pj"] == pytest.approx(3.7 + 0.9)


def test_precision_error_study_is_worse_at_8_bits():
    df = studies.precision_error_study(["NT-LSTM"], config=ArchConfig(n_pe=16)).set_index("format")
    assert list(df.index) == ["fixed16 (paper)", "fixed16 (calibrated)", "fixed8 (calibrated)"]
    assert (df["value_bits"] == [16, 16, 8]).all()
    assert 0 < df.loc["fixed16 (calibrated)", "relative_error"] < df.loc["fixed8 (calibrated)", "relative_error"]
    assert df.loc["fixed16 (paper)", "act_frac_bits"] == 8
