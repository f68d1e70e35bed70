"""EIE Table IV validation: the paper's numbers, the decomposition's arithmetic, the real fc8."""

import numpy as np
import pandas as pd
import pytest

from eiesim.paper import table4
from eiesim.paper.heterogeneity import fc8_available
from eiesim.paper.report import EIE_TABLE4_US


def test_paper_numbers_are_table_iv():
    # EIE (ISCA 2016) Table IV, EIE rows, us: theoretical and actual, Alex-6 .. NT-LSTM.
    assert list(table4.EIE_TABLE4_THEORETICAL_US.values()) == [28.1, 11.7, 8.9, 28.1, 7.9, 7.3, 5.2, 13.0, 6.5]
    assert list(EIE_TABLE4_US.values()) == [30.3, 12.2, 9.9, 34.4, 8.7, 8.4, 8.0, 13.9, 7.5]
    assert list(table4.EIE_TABLE4_THEORETICAL_US) == list(EIE_TABLE4_US)


def test_decomposition_adds_up():
    df = table4.validation(["NT-LSTM"], inputs=1, progress=False)
    row = df.iloc[0]
    steps = row["step_timing_profile_us"] + row["step_row_heterogeneity_us"] + row["step_input_density_us"]
    assert row["base_us"] + steps == pytest.approx(row["explained_us"])
    assert row["explained_us"] + row["remaining_us"] == pytest.approx(7.5)  # Table IV's NT-LSTM
    assert row["spec_uniform_ratio"] == pytest.approx(row["spec_uniform_us"] / 7.5)
    # NT-LSTM's inputs are dense: no per-input density spread, so that step is exactly 0.
    assert row["step_input_density_us"] == 0.0 and np.isnan(row["density_to_close_gap"])
    md = table4.markdown(df, table4.real_fc8())
    assert "Gap decomposition" in md and "one input per layer" in md


def test_standard_error_by_hand():
    # 1, 2, 3, 4: sample variance ((1.5^2 + 0.5^2) x 2) / 3 = 5/3; / sqrt(4) inputs.
    assert table4.standard_error(np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(np.sqrt(5 / 3) / 2)
    assert np.isnan(table4.standard_error(np.array([7.0])))
    assert table4.standard_error(np.full(100, 6.72)) == 0.0  # not a rounding residue of 1e-16


def test_heterogeneous_means_carry_their_standard_error_and_input_count():
    df = table4.validation(["Alex-8"], inputs=4, progress=False)
    row = df.iloc[0]
    assert row["inputs"] == 4
    for profile in table4.PROFILES:
        for mode in ("uniform", "heterogeneous"):
            assert row[f"{profile}_{mode}_se_us"] >= 0
    # Alex-8's heterogeneous inputs differ in density, so their times spread; the mean's
    # error is stated in the table beside it.
    assert row["spec_heterogeneous_se_us"] > 0
    md = table4.markdown(df, table4.real_fc8())
    assert "Times are means over 4 input(s) per layer (seed 0), ± the standard error" in md
    assert f"{row['spec_heterogeneous_us']:.3g} ± {row['spec_heterogeneous_se_us']:.1g}" in md


def test_the_defaults_run_enough_inputs():
    from eiesim.cli.study import table4 as command
    from eiesim.paper.settings import PaperSettings

    default = next(p.default for p in command.params if p.name == "inputs")
    assert default == table4.INPUTS == PaperSettings.for_mode("default").validation_inputs == 100


def test_real_fc8_gives_the_documented_cycles():
    if not fc8_available():
        pytest.skip("the EIE authors' fc8 data is not present")
    real = table4.real_fc8()
    # The data's README: SPEC §5 with D = 8 gives 7891 cycles on this layer and input, and
    # §5.1 (eie-cpp, buffer 8) 7926 = Table IV's 9.9 us.
    assert real["profile"].tolist() == ["spec", "eie-cpp"] and real["cycles"].tolist() == [7891, 7926]
    assert real["time_us"].iloc[1] == pytest.approx(7926 / 800)


def test_cli_set_reaches_the_validation(run_cli, tmp_path):
    from eiesim.config import ArchConfig
    from eiesim.simulation import simulate
    from workloads.benchmarks import benchmark_activation_batch, benchmark_layer

    code, _, err = run_cli("study", "table4", "--layers", "NT-LSTM", "--inputs", "1", "--set", "n_pe=32",
                           "--no-progress", "--out", tmp_path / "t")
    assert code == 0, err
    got = pd.read_parquet(tmp_path / "t" / "table4_validation.parquet")
    base = ArchConfig(n_pe=32)
    expected = table4.validation(["NT-LSTM"], inputs=1, progress=False, base=base)
    pd.testing.assert_frame_equal(got, expected)
    assert got.attrs["config"] == {"n_pe": 32} and expected.attrs["config"] == {"n_pe": 32}
    # Simulated at 32 PEs under the spec profile: the layer interleaved over 32 PEs, one frame.
    layer, _ = benchmark_layer("NT-LSTM", base, 0)
    frame = benchmark_activation_batch("NT-LSTM", 1, 0)[:, 0]
    assert got["spec_uniform_us"].item() == simulate(layer, frame, base, outputs=False).cycles / 800
    assert layer.n_pe == 32
