"""The SRAM-width and precision studies (EIE Figs. 9 and 10, energy side)."""

from __future__ import annotations

import pytest

from eiesim.config import ArchConfig
from eiesim.energy import load_table, rules, studies

T = load_table(None, "events")


def test_sram_width_study_prices_the_simulated_row_reads():
    cfg = ArchConfig(n_pe=16)
    df = studies.sram_width_study(["NT-LSTM"], widths=(16, 64, 256), config=cfg)  # default engine
    assert list(df["width_bits"]) == [16, 64, 256]
    for row in df.itertuples():
        assert row.pj_per_read == rules.sram_access(T, cfg.spmat_sram_kb, row.width_bits).pj
        assert row.read_energy_pj == row.spmat_row_reads * row.pj_per_read
        assert row.entries_per_row == row.width_bits // 8
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
