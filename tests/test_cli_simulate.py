"""``eiesim simulate`` (SPEC §9): sources, options, outputs and every bad-input path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eiesim.counters import COUNTER_NAMES
from tests.test_csc_golden import golden_matrix

GOLDEN_ACTS = np.array([0, 0, 0.5, 0, 1.0, 0.25, 0, 2.0])


@pytest.fixture
def golden(tmp_path):
    np.save(tmp_path / "W.npy", golden_matrix())
    np.save(tmp_path / "a.npy", GOLDEN_ACTS)
    return tmp_path


def test_weights_and_acts_summary_json_and_traces(run_cli, golden):
    out, trace = golden / "out.json", golden / "trace.json"
    code, stdout, stderr = run_cli(
        "simulate", "--weights", golden / "W.npy", "--acts", golden / "a.npy", "--pes", 4,
        "--json", out, "--trace", "--perfetto", trace,
    )
    assert code == 0, stderr
    assert "row block 0: T_block = 16 cycles + 0 write-back cycles" in stdout
    assert "    3 | bcast j5 | q2 iss @4 " in stdout  # PE0 issues W0,2 (its address 4) in cycle 3
    summary = stdout[stdout.index("W: 16 x 8"):]
    for label in ("cycles", "time_us", "load efficiency", "imbalance", "real work fraction"):
        assert label in summary
    assert "  cycles              16\n" in summary
    doc = json.loads(out.read_text())
    assert doc["cycles"] == 16 and doc["n_pe"] == 4 and doc["queue_depth"] == 8
    assert doc["engine"] == "reference"  # auto picks the reference engine for small layers
    assert list(doc["counters"]) == list(COUNTER_NAMES)
    assert doc["counters"]["real_entries"] == 22 and doc["per_pe"]["busy"] == [8, 4, 7, 5]
    assert doc["time_us"] == 16 / 800 and doc["sim_wall_s"] > 0
    assert {"load_efficiency", "real_work_fraction", "imbalance"} <= set(doc["metrics"])
    assert "energy_pj" in doc
    events = json.loads(trace.read_text())["traceEvents"]
    assert {e["args"]["name"] for e in events if e["name"] == "thread_name"} == {"CCU / LNZD", "PE 0", "PE 1", "PE 2", "PE 3"}


def test_json_on_standard_output_stands_alone(run_cli, golden):
    # --json -: standard output is the JSON document alone, the summary goes to stderr.
    code, stdout, stderr = run_cli("simulate", "--weights", golden / "W.npy", "--acts", golden / "a.npy",
                                   "--pes", 4, "--json", "-")
    assert code == 0, stderr
    assert json.loads(stdout)["cycles"] == 16
    assert "  cycles              16\n" in stderr


def test_options_reach_the_config(run_cli, golden):
    out = golden / "out.json"
    code, _, stderr = run_cli(
        "simulate", "--weights", golden / "W.npy", "--acts", golden / "a.npy", "--pes", 2,
        "--queue-depth", 1, "--accumulators", 4, "--precision", "float32", "--engine", "reference",
        "--json", out,
    )
    assert code == 0, stderr
    doc = json.loads(out.read_text())
    assert doc["n_pe"] == 2 and doc["queue_depth"] == 1 and doc["engine"] == "reference"
    assert len(doc["block_cycles"]) == 2  # 16 rows in blocks of N R = 8
    assert doc["counters"]["act_sram_writes"] == 16


def test_engines_agree_through_the_cli(run_cli, golden):
    docs = []
    for engine in ("reference", "fast"):
        out = golden / f"{engine}.json"
        code, _, stderr = run_cli("simulate", "--weights", golden / "W.npy", "--acts", golden / "a.npy",
                                  "--pes", 4, "--engine", engine, "--json", out)
        assert code == 0, stderr
        docs.append(json.loads(out.read_text()))
    assert docs[0]["engine"] == "reference" and docs[1]["engine"] == "fast"
    for key in ("cycles", "counters", "per_pe", "metrics", "block_cycles"):
        assert docs[0][key] == docs[1][key]


@pytest.fixture
def tiny_benchmarks(monkeypatch):
    """Two small stand-ins for the nine layers, so that 'all' runs in a second."""
    from workloads import benchmarks

    tiny = {
        b.name: b for b in (
            benchmarks.Benchmark("Tiny-A", 96, 80, 0.2, 0.5, "test"),
            benchmarks.Benchmark("Tiny-B", 41, 30, 0.3, 1.0, "test", has_bias=True, activation="none"),
        )
    }
    monkeypatch.setattr(benchmarks, "BENCHMARKS", tiny)


def test_benchmark_all_prints_a_table(run_cli, tiny_benchmarks, tmp_path):
    out = tmp_path / "all.json"
    code, stdout, stderr = run_cli("simulate", "--benchmark", "all", "--pes", 8, "--engine", "reference",
                                   "--json", out)
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert lines[0].split()[:6] == ["layer", "cycles", "time_us", "load_eff", "real_work", "imbalance"]
    assert [line.split()[0] for line in lines[1:-1]] == ["Tiny-A", "Tiny-B", "total"]
    docs = json.loads(out.read_text())
    assert [d["layer"] for d in docs] == ["Tiny-A", "Tiny-B"]
    assert int(lines[-2].split()[1]) == sum(d["cycles"] for d in docs)


def test_benchmark_seed_changes_the_layer(run_cli, tiny_benchmarks, tmp_path):
    cycles = []
    for seed in (0, 0, 1):
        out = tmp_path / f"{seed}.json"
        code, _, stderr = run_cli("simulate", "--benchmark", "tiny-a", "--seed", seed, "--pes", 8, "--json", out)
        assert code == 0, stderr
        cycles.append(json.loads(out.read_text())["counters"])
    assert cycles[0] == cycles[1] != cycles[2]


def test_model_file(run_cli, golden):
    from eiesim import modelfile
    from compressor.csc import compress_layer
    from eiesim.config import ArchConfig

    config = ArchConfig(n_pe=4)
    layers = [compress_layer(golden_matrix(), config, name=name) for name in ("fc1", "fc2")]
    path = golden / "model.eie"
    modelfile.save_model(path, modelfile.CompressedModel(layers, config))
    out = golden / "out.json"
    code, stdout, stderr = run_cli("simulate", "--model", path, "--layer", "fc2", "--acts", golden / "a.npy",
                                   "--json", out)
    assert code == 0, stderr
    doc = json.loads(out.read_text())
    assert doc["layer"] == "fc2" and doc["n_pe"] == 4 and doc["cycles"] == 16
    code, _, stderr = run_cli("simulate", "--model", path, "--acts", golden / "a.npy")
    assert code == 1 and "pick one with --layer (fc1, fc2)" in stderr
    code, _, stderr = run_cli("simulate", "--model", path, "--layer", "fc9", "--acts", golden / "a.npy")
    assert code == 1 and "no layer 'fc9'" in stderr
    code, _, stderr = run_cli("simulate", "--model", path, "--layer", "fc1", "--acts", golden / "a.npy", "--pes", 8)
    assert code == 1 and "n_pe" in stderr


def test_strict_fit(run_cli, tmp_path):
    # N = 1: 1100 outputs + inputs need 1100 x 16 bits of activation SRAM, more than 2 KB.
    w = np.zeros((1000, 100))
    w[::7, ::3] = 0.5
    np.save(tmp_path / "W.npy", w)
    np.save(tmp_path / "a.npy", np.ones(100))
    args = ("simulate", "--weights", tmp_path / "W.npy", "--acts", tmp_path / "a.npy", "--pes", 1)
    code, stdout, stderr = run_cli(*args)
    assert code == 0, stderr
    assert "fits SRAM" in stdout and "act SRAM needs" in stdout
    code, stdout, stderr = run_cli(*args, "--strict-fit", "--json", tmp_path / "out.json")
    assert code == 1 and "does not fit" in stderr and not (tmp_path / "out.json").exists()


def _bad(tmp_path):
    np.save(tmp_path / "W.npy", golden_matrix())
    np.save(tmp_path / "a.npy", GOLDEN_ACTS)
    np.save(tmp_path / "nan.npy", np.where(GOLDEN_ACTS > 0, np.nan, 0))
    np.save(tmp_path / "W3.npy", np.zeros((2, 2, 2)))
    np.save(tmp_path / "short.npy", np.ones(3))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "text.npy").write_text("not an array")
    np.savez(tmp_path / "two.npz", a=np.ones(2))
    return {
        "no source": ((), "give exactly one of"),
        "two sources": (("--weights", "W.npy", "--acts", "a.npy", "--benchmark", "Alex-6"), "got --weights, --benchmark"),
        "weights without acts": (("--weights", "W.npy"), "--weights needs --acts"),
        "model without acts": (("--model", "m.eie"), "--model needs --acts"),
        "benchmark with acts": (("--benchmark", "Alex-6", "--acts", "a.npy"), "drop --acts"),
        "layer without model": (("--layer", "fc1", "--benchmark", "Alex-6"), "--layer selects"),
        "missing file": (("--weights", "nope.npy", "--acts", "a.npy"), "weights file not found: nope.npy"),
        "text file": (("--weights", "text.npy", "--acts", "a.npy"), "weights file text.npy is not a .npy array file"),
        "pickled": (("--weights", "W.npy", "--acts", "obj.npy"), "activations file obj.npy holds Python objects"),
        "npz": (("--weights", "two.npz", "--acts", "a.npy"), "two.npz is not a .npy array file"),
        "3-d weights": (("--weights", "W3.npy", "--acts", "a.npy"), "2-D matrix"),
        "3-d activations": (("--weights", "W.npy", "--acts", "W3.npy"), "must be a vector"),
        "wrong length": (("--weights", "W.npy", "--acts", "short.npy"), "have length 3 but layer W has 8 inputs"),
        "NaN activations": (("--weights", "W.npy", "--acts", "nan.npy"), "NaN"),
        "bad PE count": (("--weights", "W.npy", "--acts", "a.npy", "--pes", 0), "n_pe"),
        "bad queue depth": (("--weights", "W.npy", "--acts", "a.npy", "--queue-depth", -1), "queue_depth"),
        "bad accumulators": (("--weights", "W.npy", "--acts", "a.npy", "--accumulators", 0), "accumulators_per_pe"),
        "unknown benchmark": (("--benchmark", "Alex-9"), "unknown benchmark 'Alex-9'"),
        "trace of all": (("--benchmark", "all", "--trace"), "single layer"),
        "trace too big": (("--weights", "W.npy", "--acts", "a.npy", "--pes", 65, "--trace"), "--trace is for small layers"),
        "no output folder": (("--weights", "W.npy", "--acts", "a.npy", "--json", "nodir/x.json"), "does not exist"),
    }


def test_bad_input(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for label, (args, message) in _bad(tmp_path).items():
        before = set(tmp_path.iterdir())
        code, stdout, stderr = run_cli("simulate", *args, "--json", "out.json") if "--json" not in args \
            else run_cli("simulate", *args)
        assert code == 1, label
        assert stderr.startswith("eiesim: error: ") and message in stderr, (label, stderr)
        assert stderr.count("\n") == 1 and "Traceback" not in stderr, label
        assert set(tmp_path.iterdir()) == before, label  # no partial output


def test_bad_option_values_are_usage_errors(run_cli):
    for args in (("--precision", "double"), ("--engine", "gpu"), ("--pes", "many")):
        code, _, stderr = run_cli("simulate", "--benchmark", "Alex-6", *args)
        assert code == 2 and stderr.startswith("eiesim: error: ") and stderr.count("\n") == 1


def test_help_documents_every_option(run_cli):
    code, stdout, _ = run_cli("simulate", "--help")
    assert code == 0
    for option in ("--weights", "--acts", "--model", "--layer", "--benchmark", "--seed", "--pes",
                   "--queue-depth", "--accumulators", "--precision", "--engine", "--json", "--trace",
                   "--perfetto", "--strict-fit"):
        assert option in stdout


def test_timing_profile_option(run_cli, tmp_path):
    # The 8 x 8 example of SPEC §5.1: quantising the codes keeps the pattern, and timing
    # depends only on the pattern, so eie-cpp at B = 2 gives 19 cycles (derived in
    # test_engines.test_eie_cpp_worked_example: b = 1, 3, ..., 13, the bias last).
    from tests.test_engines import EIE_CPP_ACTS, EIE_CPP_CODES

    np.save(tmp_path / "W.npy", EIE_CPP_CODES.astype(float))
    np.save(tmp_path / "a.npy", EIE_CPP_ACTS)
    args = ["simulate", "--weights", tmp_path / "W.npy", "--acts", tmp_path / "a.npy", "--pes", 4]
    code, stdout, stderr = run_cli(*args, "--queue-depth", 2, "--timing", "eie-cpp", "--engine", "fast",
                                   "--trace", "--json", tmp_path / "out.json")
    assert code == 0, stderr
    doc = json.loads((tmp_path / "out.json").read_text())
    assert (doc["cycles"], doc["timing"], doc["counters"]["lnzd_scan_cycles"]) == (19, "eie-cpp", 1)
    assert "row block 0: T_block = 19 cycles + 0 write-back cycles" in stdout
    assert "   13 | bias a=1" in stdout  # the empty bias column, broadcast last in cycle 13
    code, _, stderr = run_cli(*args, "--queue-depth", 1, "--timing", "eie-cpp")
    assert code != 0 and "queue_depth=1" in stderr and "Traceback" not in stderr
