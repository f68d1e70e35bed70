"""LLM decode layers (workloads.llm) and ``eiesim study llm``: pruning patterns, token
activations, and a token's totals added up from its projections."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.paper.llm import break_even, llm_study
from eiesim.simulation import simulate
from workloads import llm
from workloads.llm import LlmModel, Projection, decode_layer, kept_positions, token_activations

TINY = LlmModel("tiny", 2, (Projection("a,b", 48, 32, 2, "attn"), Projection("down", 32, 64, 1, "ffn_mid")), "test")


def test_magnitude_keeps_exactly_the_density():
    flat = kept_positions("magnitude", (40, 50), 0.3, np.random.default_rng(0))
    assert flat.size == 600 and np.unique(flat).size == 600 and flat.min() >= 0 and flat.max() < 2000


def test_wanda_keeps_the_same_count_in_every_row():
    flat = kept_positions("wanda", (300, 40), 0.25, np.random.default_rng(1))  # 300 rows: two row chunks
    per_row = np.bincount(flat // 40, minlength=300)
    assert (per_row == 10).all() and np.unique(flat).size == flat.size


def test_two_four_keeps_two_of_every_four_consecutive_inputs():
    flat = kept_positions("2:4", (6, 16), 0.5, np.random.default_rng(2))
    groups = np.bincount(flat // 4, minlength=6 * 4)  # row-major: group g of row r is r x 4 + g
    assert (groups == 2).all() and np.all(np.diff(flat) > 0)
    with pytest.raises(EieError, match="2:4"):
        kept_positions("2:4", (6, 16), 0.4, np.random.default_rng(2))
    with pytest.raises(EieError, match="unknown pruning method"):
        kept_positions("random", (6, 16), 0.4, np.random.default_rng(2))


def test_balanced_keeps_the_same_count_per_pe_in_every_column():
    flat = kept_positions("balanced", (24, 300), 0.5, np.random.default_rng(4), n_pe=4)  # 300 columns: two chunks
    rows, cols = flat // 300, flat % 300
    counts = np.zeros((4, 300), int)
    np.add.at(counts, (rows % 4, cols), 1)
    assert (counts == 3).all() and np.unique(flat).size == flat.size  # round(0.5 x 24 / 4) each
    with pytest.raises(EieError, match="multiple of the 5 PEs"):
        kept_positions("balanced", (24, 8), 0.5, np.random.default_rng(4), n_pe=5)


def test_token_activations_have_exactly_the_zero_fraction():
    acts = token_activations(100, 0.89, np.random.default_rng(3))
    assert (acts == 0).sum() == 89 and (acts[acts != 0] >= 0.1).all()


def test_a_tokens_totals_are_the_projections_times_their_counts(monkeypatch):
    monkeypatch.setitem(llm.MODELS, "tiny", TINY)
    df = llm_study("tiny", ["magnitude"], [0.5], ["relufied"], [4], [8], seed=7)
    row = df.iloc[0]
    # Re-run the same draws by hand: layers first, then each projection's activations.
    config = ArchConfig.make(n_pe=4, weights="streamed", dram_bytes_per_cycle=8)
    rng = np.random.default_rng([7, 4])
    layers = [decode_layer("magnitude", (p.rows, p.cols), 0.5, config, rng, p.name) for p in TINY.projections]
    acts = [token_activations(p.cols, {"attn": 0.0, "ffn_mid": 0.89}[p.site], rng) for p in TINY.projections]
    runs = [simulate(layer, a, config, outputs=False) for layer, a in zip(layers, acts)]
    assert (acts[1] == 0).sum() == 57  # round(0.89 x 64) of down's inputs are zero, none of the others'
    cycles = 2 * (2 * runs[0].cycles + runs[1].cycles)
    assert row["tokens_per_s"] == pytest.approx(800e6 / cycles)
    assert row["GB_per_token"] * 1e9 == pytest.approx(2 * (2 * runs[0].counters.dram_bytes + runs[1].counters.dram_bytes))
    assert row["int4_tokens_per_s"] == pytest.approx(8 * 800e6 / (2 * (2 * 48 * 32 + 32 * 64) * 0.5))
    assert 0 < row["dram_bound"] <= 1  # cycles >= bytes / bandwidth


def test_break_even_interpolates_between_measured_densities(monkeypatch):
    monkeypatch.setitem(llm.MODELS, "tiny", TINY)
    import pandas as pd

    int4 = TINY.weights_per_token * 0.5 / 1e9
    df = pd.DataFrame({"method": "m", "activations": "dense", "n_pe": 4, "density": [0.2, 0.6],
                       "GB_per_token": [int4 / 2, int4 * 1.5]})
    even = break_even(df, "tiny").iloc[0]
    assert even["int4_break_even_density"] == pytest.approx(0.4)  # halfway between the two points
    assert even["int8_break_even_density"] is None  # INT8's line lies above every measured point


def test_study_llm_cli_writes_json_and_parquet(run_cli, tmp_path, monkeypatch):
    monkeypatch.setitem(llm.MODELS, "tinyllama-1.1b", TINY)  # the command's choices, with tiny shapes
    code, out, err = run_cli("study", "llm", "--methods", "magnitude,2:4", "--densities", "0.5,0.25",
                             "--activations", "dense,teal", "--pes", "4", "--bandwidths", "8,64",
                             "--json", tmp_path / "llm.json", "--out", tmp_path / "o", "--no-progress")
    assert code == 0, err
    assert "no real weights are used" in out
    doc = json.loads((tmp_path / "llm.json").read_text())
    assert len(doc["rows"]) == (2 + 1) * 2 * 2  # 2:4 at density 0.5 only
    assert {r["method"] for r in doc["break_even"]} == {"magnitude", "2:4"}
    assert (tmp_path / "o" / "llm.parquet").exists() and (tmp_path / "o" / "llm_break_even.parquet").exists()
    assert (tmp_path / "o" / "llm_bytes.png").exists()


@pytest.mark.parametrize("args, message", [
    (["--methods", "topk"], "--methods"),
    (["--activations", "sparse"], "--activations"),
    (["--densities", "0"], "--densities"),
    (["--pes", "0"], "--pes"),
])
def test_study_llm_rejects_bad_options(run_cli, args, message):
    code, _, err = run_cli("study", "llm", *args, "--no-progress")
    assert code != 0 and message in err and "Traceback" not in err


def test_measured_baseline_adds_up_every_projection_per_token(monkeypatch):
    pytest.importorskip("torch")
    from eiesim.paper.llm import measured_baseline
    from workloads import baselines

    monkeypatch.setitem(llm.MODELS, "tiny", TINY)
    monkeypatch.setattr(baselines, "default_devices", lambda: ["cpu"])
    seen = []

    def fake_measure(name, weights, frames, devices, batches, repeats, warmup, max_spread):
        seen.append((name, weights.shape, weights.nnz, frames.shape))
        call = baselines.Stats(0.001 if name == "down" else 0.002, 0, 0, 0, 0, repeats)
        return [baselines.Measurement(name, "cpu", kind, 1, call) for kind in ("dense", "sparse")]

    monkeypatch.setattr(baselines, "measure_layer", fake_measure)
    df = measured_baseline("tiny", [0.25])
    assert seen == [("a,b", (48, 32), 384, (32, 1)), ("down", (32, 64), 512, (64, 1))]  # round(0.25 M K) kept
    # Per token: 2 decoder layers x (2 x 2 ms + 1 x 1 ms) = 10 ms, for either kind.
    assert df["ms_per_token"].tolist() == pytest.approx([10.0, 10.0])
    assert df["kind"].tolist() == ["dense", "sparse"] and df["stable"].all()
