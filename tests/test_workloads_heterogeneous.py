"""The heterogeneous workload mode: spread per row / column / input, exact counts, seeds,
bad parameters, and ``eiesim simulate --inputs``'s latency distribution."""

import json

import numpy as np
import pytest

from compressor.synthetic import (
    binomial_cv, count_spread, heterogeneous_sparse_weights, input_density, propensities,
)
from eiecore.errors import EieError
from workloads.benchmarks import (
    HETEROGENEOUS, UNIFORM, Workload, benchmark_activation_batch, benchmark_activations, benchmark_weights,
    make_workload,
)


def test_count_spread_by_hand():
    # Rows hold 2 and 0 non-zeros: mean 1, population std 1, CV 1. Columns hold 1, 0, 1:
    # mean 2/3, std sqrt(2/9), CV sqrt(2)/2 * ... = sqrt(2/9) / (2/3) = 0.7071.
    s = count_spread(np.array([0, 0]), np.array([0, 2]), (2, 3))
    assert s["density"] == pytest.approx(2 / 6)
    assert s["row_cv"] == pytest.approx(1.0) and s["col_cv"] == pytest.approx(0.70710678)
    assert (s["row_min"], s["row_max"]) == (0, 2)
    # Binomial(3, 1/3): CV = sqrt((1 - 1/3) / (1/3 x 3)) = sqrt(2/3).
    assert s["row_cv_uniform"] == pytest.approx(np.sqrt(2 / 3))


def test_binomial_cv_by_hand():
    assert binomial_cv(0.25, 4096) == pytest.approx(np.sqrt(0.75 / 1024))
    assert binomial_cv(1.0, 10) == 0.0 and binomial_cv(0.0, 10) == 0.0


@pytest.mark.parametrize("shape, density", [((1000, 4096), 0.2566), ((2400, 1201), 0.10), ((8791, 600), 0.11)])
def test_generated_spread_is_near_the_target(shape, density):
    w = heterogeneous_sparse_weights(shape, density, 0.133, 0.098, np.random.default_rng(3))
    assert w.nnz == round(density * shape[0] * shape[1]) and w.has_canonical_format
    flat = w.row.astype(np.int64) * shape[1] + w.col
    assert np.all(np.diff(flat) > 0) and np.all(w.data != 0)
    s = count_spread(w.row, w.col, shape)
    assert s["row_cv"] == pytest.approx(0.133, rel=0.12)
    assert s["col_cv"] == pytest.approx(0.098, rel=0.15)


def test_zero_spread_is_binomial_and_a_large_spread_is_larger():
    shape, density = (1000, 4096), 0.25
    flat = heterogeneous_sparse_weights(shape, density, 0.0, 0.0, np.random.default_rng(0))
    spread = heterogeneous_sparse_weights(shape, density, 0.3, 0.0, np.random.default_rng(0))
    s0, s1 = count_spread(flat.row, flat.col, shape), count_spread(spread.row, spread.col, shape)
    # Multinomial row counts alone: mean 1024 per row, CV 1 / sqrt(1024) = 0.031.
    assert s0["row_cv"] == pytest.approx(1 / 32, rel=0.15)
    assert s1["row_cv"] == pytest.approx(0.3, rel=0.1)


def test_full_density_and_same_seed():
    w = heterogeneous_sparse_weights((5, 7), 1.0, 0.5, 0.5, np.random.default_rng(1))
    assert w.nnz == 35
    a = heterogeneous_sparse_weights((300, 200), 0.1, 0.2, 0.1, np.random.default_rng(9))
    b = heterogeneous_sparse_weights((300, 200), 0.1, 0.2, 0.1, np.random.default_rng(9))
    np.testing.assert_array_equal(a.row, b.row)
    np.testing.assert_array_equal(a.col, b.col)
    np.testing.assert_array_equal(a.data, b.data)


def test_propensities_have_the_asked_cv():
    p = propensities(200_000, 0.2, np.random.default_rng(0))
    assert p.mean() == pytest.approx(1.0, rel=0.01) and p.std() / p.mean() == pytest.approx(0.2, rel=0.02)
    assert np.all(propensities(4, 0.0, np.random.default_rng(0)) == 1.0)


def test_input_density_draws():
    rng = np.random.default_rng(0)
    assert input_density(0.375, 0.0, rng) == 0.375
    assert input_density(1.0, 0.3, rng) == 1.0  # dense inputs (NeuralTalk) keep no spread
    draws = np.array([input_density(0.375, 0.1, rng) for _ in range(20_000)])
    assert draws.mean() == pytest.approx(0.375, rel=0.01)
    assert draws.std() / draws.mean() == pytest.approx(0.1, rel=0.05)
    # Beta needs variance < mean (1 - mean): CV < sqrt(0.625 / 0.375) = 1.29.
    with pytest.raises(EieError, match="too large"):
        input_density(0.375, 1.3, rng)
    with pytest.raises(EieError, match="activation density"):
        input_density(1.5, 0.1, rng)


@pytest.mark.parametrize("call, message", [
    (lambda: Workload("lumpy"), "workload mode"),
    (lambda: Workload("heterogeneous", row_cv=-0.1), "row_cv"),
    (lambda: Workload("heterogeneous", col_cv=float("nan")), "col_cv"),
    (lambda: Workload("uniform", row_cv=0.1), "no spread"),
    (lambda: make_workload("uniform", act_cv=0.1), "act_cv need the heterogeneous"),
    (lambda: make_workload("skewed"), "workload mode"),
    (lambda: propensities(3, -1.0, np.random.default_rng(0)), "coefficient of variation"),
    (lambda: heterogeneous_sparse_weights((0, 4), 0.1, 0.1, 0.1, np.random.default_rng(0)), "shape"),
    (lambda: heterogeneous_sparse_weights((4, 4), 1.2, 0.1, 0.1, np.random.default_rng(0)), "density"),
])
def test_bad_workload_parameters(call, message):
    with pytest.raises(EieError, match=message):
        call()


def test_heterogeneous_defaults_are_the_measured_figures():
    # docs/workloads.md: fc8 rows 0.133, columns 0.098; LeNet fc3 input density CV 0.044.
    assert (HETEROGENEOUS.row_cv, HETEROGENEOUS.col_cv, HETEROGENEOUS.act_cv) == (0.133, 0.098, 0.044)
    assert make_workload("heterogeneous", row_cv=0.2) == Workload("heterogeneous", 0.2, 0.098, 0.044)
    assert make_workload("uniform") is UNIFORM


def test_benchmark_heterogeneous_layer_and_inputs():
    w = benchmark_weights("Alex-8", 0, HETEROGENEOUS)
    assert w.nnz == 1_024_000  # 25 % of 4096 x 1000, exactly
    s = count_spread(w.row, w.col, w.shape)
    assert s["row_cv"] > 2 * count_spread(*(lambda u: (u.row, u.col))(benchmark_weights("Alex-8", 0)), w.shape)["row_cv"]
    frames = benchmark_activation_batch("Alex-8", 40, 0, HETEROGENEOUS)
    density = np.count_nonzero(frames, axis=0) / 4096
    np.testing.assert_array_equal(frames[:, 0], benchmark_activations("Alex-8", 0, HETEROGENEOUS))
    assert len(set(density)) > 20  # each input draws its own density
    assert density.mean() == pytest.approx(0.375, abs=0.01)
    uniform = np.count_nonzero(benchmark_activation_batch("Alex-8", 5, 0), axis=0)
    assert set(uniform) == {1536}  # round(0.375 x 4096): every uniform input alike
    dense = benchmark_activation_batch("NT-LSTM", 5, 0, HETEROGENEOUS)
    assert np.all(dense != 0)  # NeuralTalk inputs stay dense


def test_simulate_inputs_reports_the_latency_distribution(run_cli, tmp_path):
    out = tmp_path / "lat.json"
    code, stdout, err = run_cli("simulate", "--benchmark", "NT-We", "--inputs", 5, "--workload", "heterogeneous",
                                "--pes", 16, "--json", out)
    assert code == 0, err
    doc = json.loads(out.read_text())
    cycles = sorted(doc["cycles"])
    assert len(cycles) == 5 and doc["inputs"] == 5
    # Five values: p50 is the third; p95 lies 0.8 of the way from the fourth to the fifth.
    assert doc["time_us"]["p50"] == pytest.approx(cycles[2] / 800)
    assert doc["time_us"]["p95"] == pytest.approx((cycles[3] + 0.8 * (cycles[4] - cycles[3])) / 800)
    assert doc["time_us"]["max"] == pytest.approx(cycles[4] / 800)
    assert "p95 us" in stdout and "NT-We" in stdout


@pytest.mark.parametrize("args, message", [
    (("--benchmark", "NT-We", "--inputs", 0), "--inputs must be at least 1, got 0"),
    (("--weights", "w.npy", "--acts", "a.npy", "--workload", "heterogeneous"), "go with --benchmark"),
    (("--benchmark", "NT-We", "--row-cv", 0.2), "need the heterogeneous"),
    (("--benchmark", "NT-We", "--workload", "heterogeneous", "--act-cv", -1), "act_cv"),
    (("--benchmark", "NT-We", "--inputs", 2, "--trace"), "record one input"),
])
def test_simulate_workload_options_fail_cleanly(run_cli, args, message):
    code, _, err = run_cli("simulate", *args)
    assert code != 0 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_fc8_measurement_gives_the_documented_figures():
    from eiesim.paper.heterogeneity import fc8_available, measure_fc8

    if not fc8_available():
        pytest.skip("the EIE authors' fc8 data is not present")
    m = measure_fc8()
    # Its README: 1759 of 4096 inputs non-zero, 25.66 % of weights kept; the issue: 528..1435
    # non-zeros per row, row CV 0.133, column CV 0.098.
    assert m["act_density"] == 1759 / 4096
    assert m["density"] == pytest.approx(0.2566, abs=1e-4)
    assert (m["row_min"], m["row_max"]) == (528, 1435)
    assert round(m["row_cv"], 3) == 0.133 and round(m["col_cv"], 3) == 0.098


def test_fc8_missing_is_a_clear_error(tmp_path):
    from eiesim.paper.heterogeneity import measure_fc8

    with pytest.raises(EieError, match="fc8 data is not at .* \\(set EIESIM_FC8_DIR to its folder\\)"):
        measure_fc8(tmp_path)


def test_fc8_folder_from_the_environment_else_beside_the_repository(monkeypatch, tmp_path):
    from pathlib import Path

    from eiesim.paper import heterogeneity

    repo = Path(__file__).resolve().parents[1]
    monkeypatch.delenv("EIESIM_FC8_DIR", raising=False)
    assert heterogeneity.fc8_dir() == repo.parent / "shared" / "data" / "eie_alexnet_fc8"
    monkeypatch.setenv("EIESIM_FC8_DIR", str(tmp_path))
    assert heterogeneity.fc8_dir() == tmp_path and not heterogeneity.fc8_available()
    with pytest.raises(EieError, match=f"not at {tmp_path}"):
        heterogeneity.load_fc8()
