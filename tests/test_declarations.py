"""Declared once: the ArchConfig fields, the profiles, ``--set`` on every command, the
configuration's identity and the generated docs all follow the declarations."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import Field, create_model

from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.declarations import PARAMETERS, field_names
from eiesim.machine_doc import machine_doc
from eiesim.sweep.grid import Point
from eiesim.timing import OVERRIDABLE, PROFILES, RULES
from tests.test_csc_golden import golden_matrix

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_ACTS = np.array([0, 0, 0.5, 0, 1.0, 0.25, 0, 2.0])
CONFIG_COMMANDS = ("simulate", "infer", "energy", "compress", "sweep")


def test_committed_docs_table_is_what_the_declarations_generate():
    # Fails when a parameter, rule or event changes without `python -m eiesim.machine_doc`.
    assert (ROOT / "docs" / "machine.md").read_text(encoding="utf-8") == machine_doc()


def test_docs_table_lists_every_declaration():
    doc = machine_doc()
    for name in (*field_names(), *(r.name for r in RULES), "pointer_read"):
        assert f"| `{name}` |" in doc


def test_archconfig_fields_are_the_declared_parameters_then_the_overridable_rules():
    assert tuple(ArchConfig.model_fields) == field_names()
    assert OVERRIDABLE == ("lnzd", "queue_slots", "queue_refill", "block_end", "pointer_banks")
    default = ArchConfig()
    for p in PARAMETERS:
        assert getattr(default, p.name) == p.default
    assert all(getattr(default, name) is None for name in OVERRIDABLE)


@pytest.mark.parametrize("p", [p for p in PARAMETERS if p.bounds], ids=lambda p: p.name)
def test_every_declared_bound_is_enforced(p):
    for kind, bound in p.bounds:
        outside = {"ge": bound - 1, "gt": bound, "le": bound + 1}[kind]
        fields = {p.name: p.kind(outside)}
        if p.name in ("act_frac_bits", "weight_frac_bits"):
            fields["value_bits"] = 32
        with pytest.raises(EieError, match=f"invalid configuration: {p.name}: "):
            ArchConfig.make(**fields)


def test_profiles_follow_the_rule_declarations():
    # Written out by hand from SPEC §5 and §5.1.
    assert vars(PROFILES["spec"]) == dict(row_blocks="accumulators", broadcast="nonzero", bias="input", lnzd="tree",
                                          queue_slots="all", queue_refill="same-cycle", block_end="pipeline", pointer_banks="two")
    assert vars(PROFILES["eie-cpp"]) == dict(row_blocks="one-pass", broadcast="positive", bias="own-pack",
                                             lnzd="pack-scan", queue_slots="ring", queue_refill="next-cycle",
                                             block_end="drained", pointer_banks="two")
    with pytest.raises(EieError, match="lnzd: Input should be 'tree' or 'pack-scan'"):
        ArchConfig.make(lnzd="scan")
    assert ArchConfig.make(timing="eie-cpp", lnzd="tree").rules.lnzd == "tree"


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:20]


def test_a_configuration_is_identified_by_its_non_default_fields():
    assert ArchConfig().settings() == {}
    config = ArchConfig.make(n_pe=4, lnzd="pack-scan", clock_mhz=800)  # 800 MHz is the default
    assert config.settings() == {"n_pe": 4, "lnzd": "pack-scan"}
    point = Point("synth:8x8:0.5:1", 0, "fast", config)
    assert point.config_hash == _sha({"lnzd": "pack-scan", "n_pe": 4})
    assert point.point_hash == _sha({"layer": "synth:8x8:0.5:1", "layer_version": point.source.version, "seed": 0,
                                     "engine": "fast", "config": {"lnzd": "pack-scan", "n_pe": 4}, "code": ""})


def test_a_new_field_with_a_default_changes_no_stored_identity():
    # A future ArchConfig with one more field: the same settings, so the same hashes.
    future = create_model("ArchConfig", __base__=ArchConfig, ports=(int, Field(1)))
    old, new = ArchConfig.make(n_pe=4), future(n_pe=4)
    assert new.settings() == old.settings() == {"n_pe": 4}
    assert future(n_pe=4, ports=2).settings() == {"n_pe": 4, "ports": 2}


@pytest.mark.parametrize("command", CONFIG_COMMANDS)
def test_every_command_that_takes_a_configuration_has_set(run_cli, command):
    code, stdout, _ = run_cli(command, "--help")
    assert code == 0 and "--set FIELD=VALUE" in stdout


@pytest.fixture
def golden(tmp_path):
    np.save(tmp_path / "W.npy", golden_matrix())
    np.save(tmp_path / "a.npy", GOLDEN_ACTS)
    return tmp_path


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_simulate_set_reaches_the_engine_and_the_json(run_cli, golden, engine):
    out = golden / "out.json"
    code, stdout, stderr = run_cli("simulate", "--weights", golden / "W.npy", "--acts", golden / "a.npy",
                                   "--pes", 4, "--set", "lnzd=pack-scan", "--engine", engine, "--json", out)
    assert code == 0, stderr
    doc = json.loads(out.read_text())
    assert doc["timing"] == "spec" and doc["settings"] == {"n_pe": 4, "lnzd": "pack-scan"}
    # Packs of 4 slots over a = [0, 0, .5, 0 | 1, .25, 0, 2]: j2 waits 1 (pending starts at 1),
    # slot 3 of pack 0 is zero so j4 waits 1, j5 and j7 wait 0: 2 scan cycles (0 under the tree).
    assert doc["counters"]["lnzd_scan_cycles"] == 2
    assert "timing spec, lnzd=pack-scan, engine" in stdout


@pytest.mark.parametrize("args, message", [
    (["--pes", "4", "--set", "n_pe=8"], "--set n_pe=8: n_pe is already set by a named option"),
    (["--set", "lnzd=tree", "--set", "lnzd=pack-scan"], "--set lnzd=pack-scan: lnzd is already set"),
    (["--set", "n_pe=2,4"], "--set n_pe=2,4: give exactly one value"),
    (["--set", "seed=3"], "--set seed=3: seed is not a configuration field"),
    (["--set", "lnzd=scan"], "eiesim: error: --set lnzd=scan: bad value 'scan' for field lnzd: choose one of tree, "
                             "pack-scan\n"),  # the option named, no "sweep" outside a sweep
    (["--set", "nope=1"], "eiesim: error: --set nope=1: unknown field 'nope'"),
    (["--set", "n_pe"], "expected FIELD=VALUES"),
])
def test_bad_set_is_one_line(run_cli, golden, args, message):
    code, _, stderr = run_cli("simulate", "--weights", golden / "W.npy", "--acts", golden / "a.npy", *args)
    assert code == 1 and message in stderr and stderr.count("\n") == 1


def test_energy_takes_the_configuration_options(run_cli, tmp_path):
    out = tmp_path / "e.json"
    code, _, stderr = run_cli("energy", "--timing", "eie-cpp", "--set", "n_pe=8", "--set", "queue_slots=all",
                              "--json", out)
    assert code == 0, stderr
    doc = json.loads(out.read_text())
    assert doc["settings"] == {"n_pe": 8, "timing": "eie-cpp", "queue_slots": "all"}
    code, _, stderr = run_cli("energy", "--pes", "4", "--set", "n_pe=8")
    assert code == 1 and "n_pe is already set by a named option" in stderr


def test_compress_set_reaches_the_model_file(run_cli, golden):
    from eiesim.modelfile import load_model

    code, _, stderr = run_cli("compress", "--weights", golden / "W.npy", "--set", "index_bits=2", "--pes", "4",
                              "--out", golden / "m.eie")
    assert code == 0, stderr
    config = load_model(golden / "m.eie").config
    assert (config.index_bits, config.n_pe) == (2, 4)


def test_infer_set_reaches_the_json(run_cli, tmp_path):
    from eiesim.modelfile import save_model
    from tests.test_inference import chain

    save_model(tmp_path / "m.eie", chain())
    np.save(tmp_path / "x.npy", np.array([[0.25, 0.5], [1.0, -1.0]]))
    code, _, stderr = run_cli("infer", "--model", tmp_path / "m.eie", "--inputs", tmp_path / "x.npy", "--no-progress",
                              "--set", "block_end=drained", "--queue-depth", "4", "--json", tmp_path / "r.json")
    assert code == 0, stderr
    settings = json.loads((tmp_path / "r.json").read_text())["settings"]
    assert settings["block_end"] == "drained" and settings["queue_depth"] == 4


def test_auto_picks_the_reference_engine_for_a_small_layer_under_any_rules(run_cli, golden):
    out = golden / "out.json"
    code, _, stderr = run_cli("simulate", "--weights", golden / "W.npy", "--acts", golden / "a.npy", "--pes", 4,
                              "--timing", "eie-cpp", "--json", out)
    assert code == 0, stderr
    assert json.loads(out.read_text())["engine"] == "reference"
