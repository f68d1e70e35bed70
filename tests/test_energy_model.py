"""The event model and the EIE Table II model: linear in counters, sums that add up."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from compressor.csc import compress_layer
from compressor.report import storage_report
from eiesim.config import ArchConfig
from eiesim.counters import COUNTER_NAMES, Counters, PerPE
from eiesim.energy import MODULES, EventModel, Table2Model, dram_counterfactual, energy_report, lnzd_nodes
from eiesim.energy.base import Activity
from eiesim.energy import events
from eiesim.energy.events import (
    EVENTS, UNITS, EventSpec, Unit, column_index_bits, event_counts, event_energies, row_address_bits, units_of,
)
from eiesim.energy.rules import Derived
from eiesim.energy.tables import load_table
from eiesim.modelfile import CompressedModel

N = 8
CFG = ArchConfig(n_pe=N)
OUTSIDE_UNITS = [u.name for u in UNITS if u.where == "chip"]  # as declared (pinned by hand below)


@st.composite
def activities(draw, n=N):
    values = {name: draw(st.integers(0, 10**6)) for name in COUNTER_NAMES}
    values["bypass_hits"] = draw(st.integers(0, values["macs"]))
    per_pe = PerPE(*(np.array(draw(st.lists(st.integers(0, 10**5), min_size=n, max_size=n))) for _ in range(3)))
    return Activity(Counters(**values), per_pe, draw(st.integers(1, 10**6)), ArchConfig(n_pe=n))


def scaled(a: Activity, k: int) -> Activity:
    counters = Counters(**{name: k * v for name, v in a.counters.to_dict().items()})
    per_pe = PerPE(*(k * np.asarray(x) for x in (a.per_pe.busy, a.per_pe.starved, a.per_pe.real)))
    return Activity(counters, per_pe, a.cycles, a.config)


@given(activities())
def test_doubling_the_counters_doubles_the_energy(a):
    e1, e2 = EventModel().estimate(a), EventModel().estimate(scaled(a, 2))
    assert e2.total == pytest.approx(2 * e1.total, rel=1e-12)
    np.testing.assert_allclose(e2.per_pe, 2 * e1.per_pe, rtol=1e-12, atol=1e-9)
    for m in MODULES:
        assert e2.per_module[m] == pytest.approx(2 * e1.per_module[m], rel=1e-12)


@given(activities())
def test_modules_and_pes_add_up_to_the_total(a):
    e = EventModel().estimate(a)
    assert set(e.per_module) == set(MODULES)
    assert sum(e.per_module.values()) == pytest.approx(e.total, rel=1e-12)
    assert e.per_pe.shape == (N,)
    # The units outside the PEs are reported by unit; the DRAM fetch unit's byte costs 1300 pJ / 8 = 162.5 pJ.
    assert list(e.outside_pes) == OUTSIDE_UNITS
    assert e.outside_pes["dram"] == pytest.approx(162.5 * a.counters.dram_bytes, rel=1e-12)
    assert e.per_pe.sum() + sum(e.outside_pes.values()) == pytest.approx(e.total, rel=1e-9)
    assert e.total == pytest.approx(sum(ln.pj for ln in e.lines), rel=1e-12)


def test_zero_work_is_zero_dynamic_energy():
    zero = Activity(Counters(), PerPE(np.zeros(N), np.zeros(N), np.zeros(N)), 7, CFG)
    e = EventModel().estimate(zero)
    assert e.total == 0 and not e.per_pe.any() and not any(e.per_module.values())
    assert e.outside_pes == dict.fromkeys(OUTSIDE_UNITS, 0.0)


def test_energy_is_counts_times_derived_energies():
    c = Counters(broadcasts=3, real_entries=5, empty_columns=2, busy_pe_cycles=7, pointer_reads=12,
                 spmat_row_reads=2, accumulator_writes=5, macs=5, codebook_reads=6, bypass_hits=1,
                 act_sram_writes=4, lnzd_scan_cycles=3, dram_bytes=40)
    counts = event_counts(c, ArchConfig(n_pe=2))
    assert counts == {
        "queue_push": 6, "queue_pop": 6, "pointer_read": 12, "spmat_row_read": 2, "codebook_read": 6,
        "row_address_add": 6, "multiply": 5, "accumulate_add": 5, "accumulator_read": 4,
        "accumulator_write": 5, "source_act_read": 3, "writeback_read": 4, "act_sram_write": 4, "lnzd_scan": 3, "dram_read": 40,
    }
    cfg = ArchConfig(n_pe=2)
    each = event_energies(load_table(None, "events"), cfg)
    a = Activity(c, PerPE(np.array([4, 3]), np.array([0, 1]), np.array([3, 2])), 12, cfg)
    e = EventModel().estimate(a)
    assert e.total == pytest.approx(sum(counts[k] * each[k].pj for k in counts))
    # per-PE shares: MACs follow the real entries (3:2), pointer reads split evenly.
    mac_pj = 5 * (each["multiply"].pj + each["accumulate_add"].pj + each["accumulator_write"].pj) + 4 * each["accumulator_read"].pj
    busy_pj = 2 * each["spmat_row_read"].pj + 6 * (each["codebook_read"].pj + each["row_address_add"].pj)
    dram_pj = 40 * each["dram_read"].pj  # the DRAM is outside the PEs: in the total, no PE's share
    lnzd_pj = 3 * 1.0  # a pack of N = 2 16-bit activations: a 32-bit register-file read, outside the PEs
    equal_pj = e.total - mac_pj - busy_pj - dram_pj - lnzd_pj
    assert e.per_pe == pytest.approx([0.6 * mac_pj + 4 / 7 * busy_pj + equal_pj / 2,
                                      0.4 * mac_pj + 3 / 7 * busy_pj + equal_pj / 2])
    assert e.outside_pes == {**dict.fromkeys(OUTSIDE_UNITS, 0.0), "dram": 40 * 162.5, "lnzd": lnzd_pj}  # 1300 pJ per 64 bits / 8 bytes
    assert [ln.per_pe for ln in e.lines if ln.module == "dram"] == ["none"]


@pytest.mark.parametrize("n, nodes", [(1, 1), (4, 1), (5, 3), (16, 5), (64, 21), (256, 85), (1000, 334)])
def test_lnzd_node_count_of_a_4_ary_tree(n, nodes):
    assert lnzd_nodes(ArchConfig(n_pe=n)) == nodes


def test_table2_model_is_power_times_time():
    cfg = ArchConfig()
    a = Activity(Counters(), PerPE(np.zeros(64), np.zeros(64), np.zeros(64)), 8000, cfg)  # 10 us
    e = Table2Model().estimate(a)
    pe_mw = 0.112 + 1.807 + 4.955 + 1.162 + 1.122
    assert e.total == pytest.approx((64 * pe_mw + 21 * 0.023) * 10 * 1000)  # mW x us -> pJ
    assert e.per_module["spmat_read"] == pytest.approx(64 * 4.955 * 10 * 1000)
    assert e.per_module["lnzd"] == pytest.approx(21 * 0.023 * 10 * 1000)
    assert e.outside_pes == {"lnzd": pytest.approx(21 * 0.023 * 10 * 1000)}
    assert e.per_pe.sum() + e.outside_pes["lnzd"] == pytest.approx(e.total)
    assert e.avg_power_mw == pytest.approx(586.6, abs=0.1)  # EIE: about 590 mW
    # At another clock the energy per cycle stays: same cycles, same energy.
    slow = dataclasses.replace(a, config=cfg.replace(clock_mhz=400))
    assert Table2Model().estimate(slow).total == pytest.approx(e.total)


def test_table2_area_of_the_paper_chip():
    area = Table2Model().area(ArchConfig())
    assert area["total_um2"] == 64 * 638024 + 21 * 189  # 40.8 mm^2 in EIE
    assert sum(area["per_unit_um2"].values()) == area["total_um2"]


def test_report_has_both_models_and_their_ratio():
    cfg = ArchConfig(n_pe=2)
    c = Counters(broadcasts=3, real_entries=5, busy_pe_cycles=7, pointer_reads=12, spmat_row_reads=2,
                 accumulator_writes=5, macs=5, codebook_reads=5)
    report = energy_report(c, PerPE(np.array([4, 3]), np.array([0, 1]), np.array([3, 2])), 12, cfg)
    event, table2 = report.estimates
    assert report.ratios() == {"event/table2": pytest.approx(event.total / table2.total)}
    d = json.loads(json.dumps(report.to_dict()))
    assert d["total"] == pytest.approx(event.total)
    assert set(d["per_module"]) == set(MODULES) and len(d["per_pe"]) == 2
    assert d["outside_pes"] == report.outside_pes == dict.fromkeys(OUTSIDE_UNITS, 0.0)
    assert set(d["models"]) == {"event", "table2"} and d["area"]["lnzd_nodes"] == 1
    # Table II's LNZD tree (1 node for 2 PEs) is its unit outside the PEs: 0.023 mW x 12 cycles / 800 MHz.
    assert d["models"]["table2"]["outside_pes"] == {"lnzd": pytest.approx(0.023 * 12 / 800 * 1000)}
    assert d["models"]["event"]["avg_power_mw"] == pytest.approx(event.total / (12 / 800) / 1000)


def test_dram_counterfactual_prices_both_weight_streams():
    cfg = ArchConfig(n_pe=2, accumulators_per_pe=2)
    w = np.zeros((6, 5))
    w[0, 0], w[5, 4], w[3, 1] = 1.0, -2.0, 0.5
    layer = compress_layer(w, cfg, name="w")
    compressed, dense = dram_counterfactual(layer, cfg)
    # 3 entries x 8 bits + 2 blocks x 2 PEs x 6 pointers x 16 bits + 16 codebook values x 16 bits
    assert compressed.bits == 3 * 8 + 2 * 2 * 6 * 16 + 16 * 16 == 664
    assert compressed.pj_32bit == 21 * 640 and compressed.pj_64bit_low == 11 * 1300
    assert compressed.pj_64bit_high == 11 * 2600
    assert dense.bits == 6 * 5 * 32 and dense.pj_32bit == 30 * 640
    # In float32 the 16 codebook values are 32-bit: 3 x 8 + 384 + 16 x 32 = 920 bits, the
    # storage report's total for the same layer.
    f32 = cfg.replace(precision="float32")
    assert dram_counterfactual(layer, f32)[0].bits == 3 * 8 + 2 * 2 * 6 * 16 + 16 * 32 == 920
    assert storage_report(CompressedModel([layer], f32)).total.total_bits == 920


@pytest.mark.parametrize("kb, bits", [(16 / 8192, 1), (32 / 8192, 1), (64 / 8192, 2), (32.0, 14)])
def test_column_index_bits_address_every_pointer(kb, bits):
    # 16-bit pointers: 1, 2, 4 and 16384 pointers need max(1, ceil(log2 P)) = 1, 1, 2, 14 bits.
    assert column_index_bits(ArchConfig(ptr_sram_kb=kb)) == bits


@pytest.mark.parametrize("r, bits", [(1, 1), (2, 1), (3, 2), (64, 6), (65, 7)])
def test_row_address_bits_address_every_accumulator(r, bits):
    assert row_address_bits(ArchConfig(accumulators_per_pe=r)) == bits


def test_event_model_prices_with_the_table_it_is_given(tmp_path):
    # The built-in table with a 32-bit register-file access at 3 pJ instead of 1 pJ: every
    # register-file event costs 3x, at 16 bits 3 x 16/32 = 1.5 pJ.
    text = resources.files("eiesim.energy").joinpath("tables", "horowitz_45nm.toml").read_text("utf-8")
    path = tmp_path / "mine.toml"
    path.write_text(text.replace('what = "32-bit register file access"\nvalue = 1.0',
                                 'what = "32-bit register file access"\nvalue = 3.0'), "utf-8")
    model = EventModel(str(path))
    assert model.derived(CFG)["codebook_read"].pj == pytest.approx(1.5)
    c = Counters(broadcasts=2, codebook_reads=3, busy_pe_cycles=3)
    e = model.estimate(Activity(c, PerPE(np.full(N, 3 / N), np.zeros(N), np.zeros(N)), 1.0, CFG))
    assert e.source == f"horowitz-45nm ({path})"  # the table's name and where it came from
    line = {ln.name: ln for ln in e.lines}["codebook_read"]
    assert (line.module, line.count, line.pj_each, line.per_pe) == ("arithmetic", 3, pytest.approx(1.5), "busy")
    assert line.rule == "16-bit register file access: 3 pJ (32-bit) x 16/32 = 1.5 pJ"
    assert line.count_rule == "codebook_reads (real + filler entries)"
    assert [ln.name for ln in e.lines] == [spec.name for spec in EVENTS]


def test_the_units_follow_from_the_events():
    # Five units in every PE (EIE Table II's), then the DRAM fetch unit outside the PEs.
    assert [(u.name, u.where) for u in UNITS] == [
        ("queue", "pe"), ("pointer_read", "pe"), ("spmat_read", "pe"), ("arithmetic", "pe"), ("act_rw", "pe"),
        ("lnzd", "chip"), ("dram", "chip")]
    assert list(MODULES) == [u.name for u in UNITS] and MODULES["dram"] == "DRAM fetch unit (streamed weights)"
    assert {e.share for e in EVENTS if e.unit.where == "chip"} == {"none"}
    assert all(e.share == e.per_pe for e in EVENTS if e.unit.where == "pe")


def test_an_event_of_a_unit_outside_the_pes_is_that_units(monkeypatch):
    # A unit outside the PEs (the CCU's LNZD, say) declared with its event: 3 scan cycles at
    # 2 pJ add 6 pJ to the total, to the unit's own module and outside-PE entry, to no PE.
    scanner = Unit("scanner", "an activation scanner", "chip", "a test")
    scan = EventSpec("scan", scanner, "one LNZD scan cycle", lambda c, cfg: c.lnzd_scan_cycles,
                     "lnzd_scan_cycles", lambda table, cfg: Derived(2.0, "2 pJ"), "a test")
    a = Activity(Counters(lnzd_scan_cycles=3, broadcasts=1, dram_bytes=2),
                 PerPE(np.ones(2), np.zeros(2), np.zeros(2)), 10, ArchConfig(n_pe=2))
    without = EventModel().estimate(a)
    monkeypatch.setattr(events, "EVENTS", (*events.EVENTS, scan))
    events.event_energies.cache_clear()
    try:
        e = EventModel().estimate(a)
    finally:
        events.event_energies.cache_clear()
    assert [(ln.module, ln.pj, ln.per_pe) for ln in e.lines if ln.name == "scan"] == [("scanner", 6.0, "none")]
    assert e.total == pytest.approx(without.total + 6.0)
    assert e.per_module == {**without.per_module, "scanner": 6.0} and list(e.per_module)[-1] == "scanner"
    assert e.outside_pes == {**without.outside_pes, "scanner": 6.0} and without.outside_pes["dram"] == 2 * 162.5
    np.testing.assert_allclose(e.per_pe, without.per_pe)


def test_a_unit_sits_in_every_pe_or_outside_them():
    with pytest.raises(ValueError, match=r"unit 'ccu': where must be one of \('pe', 'chip'\), got 'pes'"):
        Unit("ccu", "central control unit", "pes", "a test")


@pytest.mark.parametrize("where, per_pe, message", [
    ("pe", None, r"event 'e' of a PE unit: per_pe must be one of \('equal', 'real', 'busy'\), got None"),
    ("pe", "none", "event 'e' of a PE unit: per_pe must be one of .* got 'none'"),
    ("chip", "equal", "event 'e' of a unit outside the PEs is that unit's, shared by no PE: per_pe must be None, "
                      "got 'equal'"),
])
def test_an_event_is_shared_by_the_pes_only_in_a_pe_unit(where, per_pe, message):
    unit = Unit("u", "a unit", where, "a test")
    with pytest.raises(ValueError, match=message):
        EventSpec("e", unit, "an event", lambda c, cfg: 0, "0", lambda t, cfg: Derived(0.0, "0"), "a test", per_pe)


def test_a_unit_name_is_declared_once():
    def event(unit, name):
        return EventSpec(name, unit, "an event", lambda c, cfg: 0, "0", lambda t, cfg: Derived(0.0, "0"), "a test",
                         per_pe="equal")

    a, b = Unit("u", "a unit", "pe", "a test"), Unit("v", "another", "pe", "a test")
    assert units_of((event(b, "x"), event(a, "y"), event(b, "z"))) == (b, a)  # in order of first use, once each
    with pytest.raises(ValueError, match="two different units named 'u'"):
        units_of((event(a, "x"), event(Unit("u", "another label", "pe", "a test"), "y")))
