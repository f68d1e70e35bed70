"""Pruning studies: balanced vs magnitude, PPR sweeps, LeNet at equal accuracy."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.paper import pruning
import workloads.benchmarks as bench_module
from workloads.benchmarks import Benchmark


@pytest.fixture
def tiny_benchmarks(monkeypatch):
    table = {b.name: b for b in (
        Benchmark("Tiny-A", 48, 40, 0.2, 0.5, "test"),
        Benchmark("Tiny-B", 24, 36, 0.25, 1.0, "test", activation="none"),
    )}
    monkeypatch.setattr(bench_module, "BENCHMARKS", table)
    return table


def test_linear_encode_codes_by_hand():
    # 2-bit codes: 3 centroids evenly over [-1, 1] = -1, 0, 1; 0.4 is nearest 0 (code 2).
    coo = sp.coo_matrix(np.array([[-1.0, 0.4, 1.0]]))
    layer = pruning.linear_encode(coo, ArchConfig(n_pe=1, weight_bits=2))
    assert layer.codebook.tolist() == [0.0, -1.0, 0.0, 1.0]
    assert layer.code.tolist() == [1, 2, 3]


def test_equal_accuracy_picks_the_largest_rate_reaching_the_target():
    points = pd.DataFrame([
        {"scheme": "dense", "pruning_rate": 1.0, "accuracy": 0.97, "speedup": 1.0, "ppr": 1.0},
        {"scheme": "unstructured", "pruning_rate": 20.0, "accuracy": 0.95, "speedup": 3.0, "ppr": 20 / 3},
        {"scheme": "unstructured", "pruning_rate": 10.0, "accuracy": 0.965, "speedup": 2.5, "ppr": 4.0},
        {"scheme": "row", "pruning_rate": 2.0, "accuracy": 0.90, "speedup": 1.2, "ppr": 2 / 1.2},
        {"scheme": "row", "pruning_rate": 4.0, "accuracy": 0.80, "speedup": 1.5, "ppr": 4 / 1.5},
    ])
    chosen = pruning.equal_accuracy(points, 0.96).set_index("scheme")
    # unstructured: only rate 10 reaches 0.96. row: none does, so its most accurate (rate 2).
    assert chosen.loc["unstructured", "pruning_rate"] == 10.0 and chosen.loc["unstructured", "reaches_target"]
    assert chosen.loc["row", "pruning_rate"] == 2.0 and not chosen.loc["row", "reaches_target"]
    assert chosen.loc["row", "unstructured_rate_over_this"] == 5.0
    text = pruning.lenet_answer(chosen.reset_index())
    assert text.startswith("On LeNet-300-100 on the 8 x 8 digits, fc1 and fc2 pruned and retrained (tiny layers")
    named = pruning.lenet_answer(chosen.reset_index(), pruning.LeNetPruning.quick(), seed=3)
    assert "64 PEs, 20 dense and 4 retraining epochs, seed 3, cycles over 8 test images" in named
    assert "PPR is 4.00" in text and "never reaches" in text and "2.08x its speedup" in text  # 2.5 / 1.2


def test_ppr_study_rows_are_consistent(tiny_benchmarks):
    df = pruning.ppr_study(["Tiny-A"], [0.5, 0.25], n_pe=4, inputs=1, progress=False)
    dense = df[df["scheme"] == "dense"].iloc[0]
    assert dense["kept"] == 40 * 48 and dense["speedup"] == 1.0
    assert set(df["scheme"]) == {"dense", *pruning.PPR_SCHEMES}
    pruned = df[df["scheme"] != "dense"]
    np.testing.assert_allclose(pruned["pruning_rate"], 40 * 48 / pruned["kept"])
    np.testing.assert_allclose(pruned["speedup"], dense["cycles"] / pruned["cycles"])
    np.testing.assert_allclose(pruned["ppr"], pruned["pruning_rate"] / pruned["speedup"])
    # Magnitude keeps exactly round(d x 1920); balanced round(d x 40 x 48 / 4) per PE.
    assert sorted(pruned[pruned["scheme"] == "unstructured"]["kept"]) == [480, 960]
    assert sorted(pruned[pruned["scheme"] == "balanced"]["kept"]) == [480, 960]
    # Storage: every entry is b + x = 8 bits, pointers 16 bits x (K + 1) per PE.
    assert dense["storage_bits"] == 1920 * 8 + 4 * 49 * 16 + 16 * 16


def test_balance_study_pairs_equal_counts(tiny_benchmarks):
    df = pruning.balance_study(["Tiny-A"], n_pe=4, inputs=2, progress=False)
    assert set(df["workload"]) == {"uniform", "heterogeneous"}
    for (_, _), group in df.groupby(["workload", "kept"]):
        schemes = list(group["scheme"])
        assert schemes.count("magnitude") == 1 and "balanced" in schemes
        mag = group[group["scheme"] == "magnitude"].iloc[0]
        bal = group[group["scheme"] == "balanced"]
        np.testing.assert_allclose(bal["speedup_vs_magnitude"], mag["cycles"] / bal["cycles"])
    # Whole layer: round(0.2 x 40 x 48 / 4) = 96 per PE, 384 in all; per column (G = 1):
    # round(0.2 x 40 / 4) = 2 per PE and column, 2 x 4 x 48 = 384 as well.
    assert set(df["kept"]) == {384}


def test_lenet_study_smallest_run():
    settings = pruning.LeNetPruning(densities=(0.3,), retrain_epochs=1, images=2, dense_epochs=1)
    points, chosen = pruning.lenet_study(settings, schemes=("unstructured", "balanced"), progress=False)
    assert list(points["scheme"]) == ["dense", "unstructured", "balanced"]
    assert points.loc[0, "speedup"] == 1.0 and points["accuracy"].between(0, 1).all()
    # fc1 64 x 300 -> 300 x 64 and fc2 300 -> 100: 19200 + 30000 weights; 30 % kept.
    assert points.loc[1, "weights"] == 49_200 and points.loc[1, "kept"] == round(0.3 * 19200) + round(0.3 * 30000)
    assert set(chosen["scheme"]) == {"unstructured", "balanced"}


@pytest.mark.parametrize("args, message", [
    (("ppr", "--densities", "1.5", "--no-lenet"), "strictly between 0 and 1"),
    (("ppr", "--densities", "a,b", "--no-lenet"), "comma-separated numbers"),
    (("ppr", "--layers", "VGG-9", "--no-lenet"), "unknown benchmark"),
    (("ppr", "--margin", "2"), "--margin"),
    (("ppr", "--inputs", "0"), "at least 1"),
    (("balance", "--group", "-1"), "--group"),
    (("balance", "--layers", "Alex-8", "--group", "7", "--inputs", "1"), "does not divide"),
    (("ppr", "--out", "/nonexistent/dir/x", "--no-lenet"), "does not exist"),
    (("ppr", "--layers", "none", "--no-lenet"), "nothing to run"),
    (("table4", "--inputs", "0"), "--inputs must be at least 1"),
    (("table4", "--layers", "AlexNet"), "unknown benchmark"),
    (("ppr", "--set", "queue_depth=0", "--no-lenet"), "queue_depth"),
])
def test_study_cli_bad_input_is_one_line(run_cli, args, message):
    code, _, err = run_cli("study", *args)
    assert code != 0 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_balance_cli_runs_on_the_machine_set(tiny_benchmarks, run_cli, tmp_path):
    base = ArchConfig(n_pe=4, queue_depth=1, clock_mhz=400.0)
    code, _, err = run_cli("study", "balance", "--layers", "Tiny-A", "--workload", "uniform", "--inputs", "1",
                           "--set", "n_pe=4", "--set", "queue_depth=1", "--set", "clock_mhz=400",
                           "--no-progress", "--out", tmp_path / "b")
    assert code == 0, err
    got = pd.read_parquet(tmp_path / "b" / "balance.parquet")
    expected = pruning.balance_study(["Tiny-A"], ("uniform",), 4, 1, 0, (None, 1), progress=False, base=base)
    pd.testing.assert_frame_equal(got, expected)
    # The clock reached the times (cycles / 400 MHz, not the default 800), the queue depth the cycles.
    np.testing.assert_allclose(got["time_us"], got["cycles"] / 400.0)
    default = pruning.balance_study(["Tiny-A"], ("uniform",), 4, 1, 0, (None, 1), progress=False)
    assert (got["cycles"] != default["cycles"]).any()


@pytest.mark.parametrize("args, message", [
    (("table4", "--set", "timing=spec"), "--set timing: eiesim study table4 varies timing itself"),
    (("llm", "--set", "n_pe=8"), "--set n_pe: eiesim study llm varies n_pe itself"),
    (("llm", "--set", "weights=streamed"), "--set weights: eiesim study llm varies weights itself"),
    (("llm", "--set", "dram_bytes_per_cycle=8"),
     "--set dram_bytes_per_cycle: eiesim study llm varies dram_bytes_per_cycle itself"),
    (("balance", "--pes", "4", "--set", "n_pe=8"), "--set n_pe=8: n_pe is already set by a named option"),
])
def test_study_set_refusals_are_one_line(run_cli, args, message):
    code, out, err = run_cli("study", *args)
    assert (code, out, err) == (1, "", f"eiesim: error: {message}\n")
