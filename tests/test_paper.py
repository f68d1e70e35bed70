"""``eiesim paper --smoke``: every stage runs and writes its report, figures and data."""

from __future__ import annotations

import pandas as pd
import pytest

from eiecore.errors import EieError
from eiesim.paper import PaperSettings
from eiesim.paper.report import markdown_table


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One layer cache for the module: NT-We is generated and weight-shared once."""
    return tmp_path_factory.mktemp("layers")


def test_smoke_run_writes_everything(run_cli, tmp_path, cache):
    pytest.importorskip("torch", reason="the paper's baseline and LeNet stages need torch")
    out = tmp_path / "res"
    code, stdout, err = run_cli("paper", "--smoke", "--out", out, "--cache-dir", cache, "--jobs", "1",
                                "--no-progress")
    assert code == 0, err
    report = (out / "report.md").read_text()
    for heading in ("Per-layer results", "Load efficiency against queue depth", "SRAM width",
                    "Scalability with the number of PEs", "Per-PE load", "EIE Table IV explained",
                    "Pruning co-design", "PPR is", "LLM decode with weights streamed", "no real weights are used"):
        assert heading in report
    for name in ("fig08_queue_depth", "fig09_sram_width", "fig11_speedup_pe", "fig12_real_work",
                 "fig13_load_balance", "per_pe_NT-We"):
        for ext in ("png", "svg"):
            assert (out / "figures" / f"{name}.{ext}").stat().st_size > 0
        assert f"figures/{name}.png" in report
        assert not pd.read_parquet(out / "data" / f"{name}.parquet").empty
    for name in ("ppr_speedup", "ppr_lenet_storage_accuracy", "llm_bytes"):  # data: ppr, ppr_lenet, llm.parquet
        assert (out / "figures" / f"{name}.png").stat().st_size > 0 and f"figures/{name}.png" in report
    per_layer = pd.read_parquet(out / "data" / "per_layer.parquet")
    assert list(per_layer["layer"]) == ["NT-We"]
    assert (per_layer["n_pe"] == 64).all() and (per_layer["queue_depth"] == 8).all()
    assert (per_layer["theoretical_ideal_us"] <= per_layer["time_us"]).all()
    # every figure referenced in the report exists
    for line in report.splitlines():
        if line.startswith("!["):
            assert (out / line.split("](")[1].rstrip(")")).exists(), line
    for name in ("baselines", "fig10_precision_error", "lenet_stages", "storage", "sweep_points",
                 "table4_validation", "balance", "ppr", "ppr_lenet", "ppr_lenet_equal_accuracy", "llm",
                 "llm_break_even"):
        assert not pd.read_parquet(out / "data" / f"{name}.parquet").empty, name


def test_modes_and_bad_options(run_cli):
    assert PaperSettings.for_mode("full").full_grid
    assert not PaperSettings.for_mode("default").full_grid
    with pytest.raises(EieError, match="unknown evaluation mode 'huge'"):
        PaperSettings.for_mode("huge")
    code, _, err = run_cli("paper", "--smoke", "--full")
    assert code == 1 and "either --full or --smoke" in err
    code, _, err = run_cli("paper", "--jobs", "-3")
    assert code == 1 and "--jobs must be" in err
    code, _, err = run_cli("paper", "--seed", "-1")
    assert code == 2 and "'--seed': -1 is not in the range 0<=x<=4294967295" in err
    with pytest.raises(EieError, match="seed must be in 0..4294967295, got -1"):
        PaperSettings.for_mode("smoke", seed=-1)


def test_markdown_table_formats_missing_values():
    text = markdown_table(pd.DataFrame({"a": [1.23456, float("nan")], "b": ["x", None]}))
    assert text.splitlines() == ["| a | b |", "|---|---|", "| 1.235 | x |", "| n/a | n/a |"]


def test_full_grid_map_is_drawn(tmp_path):
    from eiesim.paper import figures

    df = pd.DataFrame([{"layer": layer, "n_pe": n, "queue_depth": d, "load_efficiency": 1 / (n * d) ** 0.1}
                       for layer in ("a", "b") for n in (1, 4) for d in (1, 2, 8)])
    paths = figures.pe_queue_map(df, tmp_path / "map")
    assert [p.suffix for p in paths] == [".png", ".svg"] and all(p.stat().st_size > 0 for p in paths)


def test_markdown_table_has_one_number_format_for_counts():
    # .4g would print 45650.0 as 4.565e+04 beside plain 812: large floats are rounded instead.
    text = markdown_table(pd.DataFrame({"cycles": [45650.0, 812.0, 12345.6], "x": [0.000123, 2.5, 1e5]}))
    assert "| 45650 | 0.000123 |" in text and "| 812 | 2.5 |" in text and "| 12346 | 100000 |" in text
    assert "e+0" not in text
    assert "| 1.23e+04 |" not in markdown_table(pd.DataFrame({"t": [12345.6]}), ".3g")
    assert "| 12346 |" in markdown_table(pd.DataFrame({"t": [12345.6]}), ".3g")
