"""``eiesim energy`` and the energy report that ``simulate`` attaches to every result."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compressor.csc import interleave
from eiesim.config import ArchConfig
from eiesim.energy import EVENTS, MODULES, UNITS
from eiesim.energy.events import event_counts, event_energies
from eiesim.energy.tables import load_table
from eiesim.simulation import simulate


def worked_example():
    """SPEC §5's worked example: N = 2, D = 1, M = 4, K = 3."""
    cfg = ArchConfig(n_pe=2, queue_depth=1)
    rows, cols = np.array([0, 1, 2, 3, 0]), np.array([0, 0, 0, 1, 2])
    codebook = np.linspace(0.0, 1.0, 16)
    layer = interleave(rows, cols, np.full(5, 3), (4, 3), codebook, cfg, name="worked")
    return layer, np.ones(3), cfg


def test_simulate_attaches_the_energy_of_its_counters(engine):
    layer, acts, cfg = worked_example()
    result = simulate(layer, acts, cfg, engine=engine)
    each = event_energies(load_table(None, "events"), cfg)
    counts = event_counts(result.counters, cfg)
    assert result.energy.total == pytest.approx(sum(counts[k] * each[k].pj for k in counts))
    d = json.loads(json.dumps(result.to_dict()))["energy_pj"]
    assert d["total"] == pytest.approx(result.energy.total)
    assert set(d["per_module"]) == set(MODULES) and len(d["per_pe"]) == 2
    assert sum(d["per_pe"]) == pytest.approx(d["total"]) and d["outside_pes"]["dram"] == 0.0
    assert sum(d["outside_pes"].values()) == 0.0
    assert d["models"]["table2"]["total"] > 0 and "event/table2" in d["ratios"]


def test_simulate_takes_a_custom_energy_table(engine, tmp_path):
    from tests.energy_helpers import EVENTS_TOML, replace_value

    path = tmp_path / "t.toml"
    path.write_text(replace_value(EVENTS_TOML, "regfile_32", "value", "2.0"))
    layer, acts, cfg = worked_example()
    base = simulate(layer, acts, cfg, engine=engine).energy
    mine = simulate(layer, acts, cfg, engine=engine, energy_table=str(path)).energy
    assert mine.per_module["spmat_read"] == base.per_module["spmat_read"]
    assert mine.per_module["queue"] == pytest.approx(2 * base.per_module["queue"])


def test_energy_command_lists_every_event(run_cli):
    code, out, err = run_cli("energy")
    assert code == 0, err
    for spec in EVENTS:
        assert spec.name in out
    assert "38.07" in out and "21 LNZD nodes" in out and "40.84 mm^2" in out


def test_explain_shows_rules_counts_and_shares(run_cli):
    code, out, _ = run_cli("energy", "--explain", "--pes", "16")
    assert code == 0
    assert "log-log interpolated between 32 KB (20 pJ) and 1024 KB (100 pJ)" in out
    assert "count:  macs - bypass_hits" in out and "per-PE share: busy" in out
    # each unit with where it sits, its events below it; the DRAM fetch unit's event is shared by no PE
    assert "act_rw [activation read/write, in every PE]: EIE (ISCA 2016) §IV, Fig. 4: activation read/write unit\n" \
           "  accumulator_read: an accumulator" in out
    assert "dram [DRAM fetch unit (streamed weights), outside the PEs]: SPEC §5.2" in out
    assert "count:  dram_bytes (0 with weights on chip); per-PE share: none" in out
    assert "Horowitz" in out and "Table II" in out and "5 LNZD nodes" in out


def test_json_output(run_cli, tmp_path):
    out_path = tmp_path / "e.json"
    code, _, err = run_cli("energy", "--json", out_path)
    assert code == 0, err
    doc = json.loads(out_path.read_text())
    assert doc["per_event"]["spmat_row_read"]["pj"] == pytest.approx(38.07, abs=0.01)
    assert doc["table2"]["area"]["lnzd_nodes"] == 21


@pytest.mark.parametrize(
    "args, message",
    [
        (["--pes", "0"], "n_pe"),
        (["--benchmark", "Alex-9"], "unknown benchmark 'Alex-9'"),
        (["--table", "/nonexistent/t.toml"], "cannot read energy table /nonexistent/t.toml"),
        (["--table2", "/nonexistent/t2.toml"], "cannot read energy table /nonexistent/t2.toml"),
        (["--plot-dir", "/nonexistent/dir", "--sram-width-study"], "--plot-dir /nonexistent/dir: folder /nonexistent does not exist"),
        (["--engine", "warp"], "Invalid value for '--engine'"),
    ],
)
def test_bad_input_is_one_line(run_cli, args, message):
    code, out, err = run_cli("energy", *args)
    assert code != 0 and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_broken_table_file_is_one_line(run_cli, tmp_path):
    from tests.energy_helpers import EVENTS_TOML, drop_entry

    path = tmp_path / "broken.toml"
    path.write_text(drop_entry(EVENTS_TOML, "regfile_32"))
    code, _, err = run_cli("energy", "--table", path)
    assert code == 1 and "missing entry 'regfile_32'" in err and err.count("\n") == 1


def test_benchmark_layer_table(run_cli, tmp_path):
    out_path = tmp_path / "e.json"
    code, out, err = run_cli("energy", "--benchmark", "nt-lstm", "--pes", "16", "--json", out_path)
    assert code == 0, err
    assert "NT-LSTM" in out and "event/table2" in out and "DRAM counterfactual" in out
    layer = json.loads(out_path.read_text())["layers"][0]
    e = layer["energy_pj"]
    assert sum(e["per_module"].values()) == pytest.approx(e["total"])
    assert "PEs_uJ" in out and "dram_uJ" in out
    assert "outside the PEs: " + ", ".join(u.name for u in UNITS if u.where == "chip") in out
    assert e["ratios"]["event/table2"] == pytest.approx(e["total"] / e["models"]["table2"]["total"])
    assert [s["stream"] for s in layer["dram"]] == ["compressed", "dense float32"]


def test_plot_dir_is_created_and_gets_png_and_svg(run_cli, tmp_path):
    folder = tmp_path / "new"  # does not exist yet: the command creates it
    code, out, err = run_cli("energy", "--benchmark", "NT-We", "--pes", "8", "--sram-width-study",
                             "--precision-study", "--plot-dir", folder)
    assert code == 0, err
    assert sorted(p.name for p in folder.iterdir()) == [
        "precision.png", "precision.svg", "sram_width.png", "sram_width.svg"]
    assert "µJ" in (folder / "sram_width.svg").read_text()
