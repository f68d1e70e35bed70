"""Derivation rules: every derived energy equals the rule applied to the table by hand."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eiesim.config import ArchConfig
from eiesim.energy import load_table, rules
from eiesim.energy.events import EVENTS, event_energies
from eiesim.errors import EieError

T = load_table(None, "events")


def loglog(x, x0, y0, x1, y1):
    return y0 * math.exp(math.log(x / x0) * math.log(y1 / y0) / math.log(x1 / x0))


def sram64(kb):
    if kb <= 8:
        return 10.0
    if kb <= 32:
        return loglog(kb, 8, 10, 32, 20)
    return loglog(kb, 32, 20, 1024, 100)


def int_op(op, bits):
    e8, e32 = {"add": (0.03, 0.1), "mult": (0.2, 3.1)}[op]
    return loglog(bits, 8, e8, 32, e32)


def expected_events(cfg: ArchConfig) -> dict[str, float]:
    """Each event's energy by hand from the Horowitz figures (SPEC §7 rules)."""
    floating = cfg.precision == "float32"
    v = 32 if floating else cfg.value_bits
    column_bits = math.ceil(math.log2(cfg.ptr_sram_kb * 8192 / cfg.ptr_bits))
    queue = 1.0 * (v + column_bits) / 32
    reg = 1.0 * v / 32
    mult = 3.7 if floating else int_op("mult", v)
    add = 0.9 if floating else int_op("add", v)
    return {
        "queue_push": queue, "queue_pop": queue,
        "pointer_read": sram64(cfg.ptr_sram_kb / 2) * cfg.ptr_bits / 64,
        "spmat_row_read": sram64(cfg.spmat_sram_kb) * cfg.spmat_width_bits / 64,
        "codebook_read": reg,
        "row_address_add": int_op("add", math.ceil(math.log2(cfg.accumulators_per_pe))),
        "multiply": mult, "accumulate_add": add,
        "accumulator_read": reg, "accumulator_write": reg, "source_act_read": reg, "writeback_read": reg,
        "act_sram_write": sram64(cfg.act_sram_kb) * v / 64,
    }


CONFIGS = [
    ArchConfig(),
    ArchConfig(spmat_width_bits=256, spmat_sram_kb=2048, ptr_sram_kb=8, act_sram_kb=64, value_bits=8,
               act_frac_bits=4, weight_frac_bits=6, accumulators_per_pe=256),
    ArchConfig(precision="float32", spmat_sram_kb=16, ptr_bits=32),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=["paper", "wide-8bit", "float32"])
def test_every_derived_event_energy_is_its_rule(cfg):
    derived = event_energies(T, cfg)
    expected = expected_events(cfg)
    assert set(derived) == set(expected) == {e.name for e in EVENTS}
    for name, value in expected.items():
        assert derived[name].pj == pytest.approx(value, rel=1e-12), name
        assert derived[name].rule and f"{derived[name].pj:.4g}" in derived[name].rule


def test_paper_chip_figures():
    d = event_energies(T, ArchConfig())
    assert d["spmat_row_read"].pj == pytest.approx(38.07, abs=0.01)  # 128 KB, 64-bit
    assert d["pointer_read"].pj == pytest.approx(3.536, abs=0.001)  # 16 KB bank, 16-bit
    assert d["multiply"].pj == pytest.approx(0.7874, abs=1e-4)  # 16-bit int
    assert d["act_sram_write"].pj == 2.5  # 2 KB clamps to the 8 KB figure


def test_sram_rule_hits_the_table_points_and_clamps_below_8kb():
    assert [rules.sram_access(T, kb, 64).pj for kb in (8, 32, 1024)] == pytest.approx([10, 20, 100])
    assert rules.sram_access(T, 0.5, 64).pj == 10
    assert "clamped" in rules.sram_access(T, 2, 64).rule
    # Above 1 MB the 32 KB - 1 MB line is extended.
    assert rules.sram_access(T, 4096, 64).pj == pytest.approx(loglog(4096, 32, 20, 1024, 100))
    assert "extended" in rules.sram_access(T, 4096, 64).rule


@given(st.floats(0.1, 1e5), st.floats(0.1, 1e5), st.integers(1, 2048))
def test_sram_energy_grows_with_capacity_and_is_linear_in_width(kb_a, kb_b, width):
    lo, hi = sorted((kb_a, kb_b))
    assert rules.sram_access(T, lo, width).pj <= rules.sram_access(T, hi, width).pj * (1 + 1e-12)
    assert rules.sram_access(T, hi, width).pj == pytest.approx(rules.sram_access(T, hi, 64).pj * width / 64)


@given(st.integers(1, 64))
def test_integer_ops_follow_one_power_law(bits):
    for op in ("add", "mult"):
        assert rules.int_op(T, op, bits).pj == pytest.approx(int_op(op, bits))
    assert rules.register_file(T, bits).pj == pytest.approx(bits / 32)


def test_integer_op_endpoints_are_the_table_figures():
    assert rules.int_op(T, "add", 8).pj == pytest.approx(0.03)
    assert rules.int_op(T, "mult", 32).pj == pytest.approx(3.1)
    assert "extended" in rules.int_op(T, "add", 6).rule
    assert "interpolated" in rules.int_op(T, "add", 16).rule


def test_float_ops_exist_for_16_and_32_bits_only():
    assert rules.float_op(T, "mult", 16).pj == 1.1 and rules.float_op(T, "add", 32).pj == 0.9
    with pytest.raises(EieError, match="16 and 32 bits only, not 8"):
        rules.float_op(T, "add", 8)
