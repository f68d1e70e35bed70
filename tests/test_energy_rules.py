"""Derivation rules: every derived energy equals the rule applied to the table by hand."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.energy import load_table, rules
from eiesim.energy.events import EVENTS, event_energies

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
        "pointer_read": sram64(cfg.ptr_sram_kb / {"two": 2, "one": 1}[cfg.rules.pointer_banks]) * cfg.ptr_bits / 64,
        "spmat_row_read": sram64(cfg.spmat_sram_kb) * cfg.spmat_width_bits / 64,
        "codebook_read": reg,
        "row_address_add": int_op("add", math.ceil(math.log2(cfg.accumulators_per_pe))),
        "multiply": mult, "accumulate_add": add,
        "accumulator_read": reg, "accumulator_write": reg, "source_act_read": reg, "writeback_read": reg,
        "act_sram_write": sram64(cfg.act_sram_kb) * v / 64,
        "lnzd_scan": 1.0 * cfg.n_pe * v / 32,  # a pack of N activations: an N x v-bit register-file read
        "dram_read": 1300.0 / 8,  # a byte: Horowitz's 64-bit DRAM access (low end, 1300 pJ) / 8
    }


CONFIGS = [
    ArchConfig(),
    ArchConfig(spmat_width_bits=256, spmat_sram_kb=2048, ptr_sram_kb=8, act_sram_kb=64, value_bits=8,
               act_frac_bits=4, weight_frac_bits=6, accumulators_per_pe=256),
    ArchConfig(precision="float32", spmat_sram_kb=16, ptr_bits=32),
    ArchConfig(pointer_banks="one", ptr_sram_kb=64),  # a pointer read accesses the whole 64 KB SRAM
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=["paper", "wide-8bit", "float32", "one-bank"])
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


# Every rule's sentence is shown in the energy report (SPEC §7): pinned word for word where
# a boundary picks the segment or the verb. 128 KB: k = ln(100/20) / ln(1024/32) = ln 5 / ln 32
# = 0.4644; 20 x 4^0.4644 = 38.07 pJ. 2048 KB: 20 x 64^0.4644 = 138 pJ.
@pytest.mark.parametrize(("kb", "how"), [
    (4, "4 KB is at most 8 KB: clamped to the 8 KB figure 10 pJ; x 64/64 bits = 10 pJ"),
    (8, "8 KB is at most 8 KB: clamped to the 8 KB figure 10 pJ; x 64/64 bits = 10 pJ"),
    # 9 KB: just past the clamp, 10 x (9/8)^0.5 = 10.61 pJ on the 8-32 KB line (k = ln 2 / ln 4 = 0.5).
    (9, "log-log interpolated between 8 KB (10 pJ) and 32 KB (20 pJ): 10 x (9/8)^0.5000 = 10.61 pJ; "
        "x 64/64 bits = 10.61 pJ"),
    (32, "log-log interpolated between 8 KB (10 pJ) and 32 KB (20 pJ): 10 x (32/8)^0.5000 = 20 pJ; "
         "x 64/64 bits = 20 pJ"),
    (128, "log-log interpolated between 32 KB (20 pJ) and 1024 KB (100 pJ): 20 x (128/32)^0.4644 = 38.07 pJ; "
          "x 64/64 bits = 38.07 pJ"),
    (1024, "log-log interpolated between 32 KB (20 pJ) and 1024 KB (100 pJ): 20 x (1024/32)^0.4644 = 100 pJ; "
           "x 64/64 bits = 100 pJ"),
    (2048, "log-log extended between 32 KB (20 pJ) and 1024 KB (100 pJ): 20 x (2048/32)^0.4644 = 138 pJ; "
           "x 64/64 bits = 138 pJ"),
])
def test_sram_rule_sentences(kb, how):
    assert rules.sram_access(T, kb, 64).rule == f"64-bit access of a {kb} KB SRAM, {how}"


@pytest.mark.parametrize(("bits", "where", "value"), [
    (4, "extended (outside 8..32 bits)", "0.01643"), (8, "interpolated", "0.03"),
    (32, "interpolated", "0.1"), (33, "extended (outside 8..32 bits)", "0.1027"),
    (64, "extended (outside 8..32 bits)", "0.1826"),
])
def test_integer_rule_sentences(bits, where, value):
    # k = ln(0.1 / 0.03) / ln 4 = 0.8685; 0.03 x (4/8)^0.8685 = 0.01643, x (33/8)^0.8685 = 0.1027,
    # x (64/8)^0.8685 = 0.1826.
    assert rules.int_op(T, "add", bits).rule == (
        f"{bits}-bit int ADD: log-log {where} between 8 bits (0.03 pJ) and 32 bits (0.1 pJ): "
        f"0.03 x ({bits}/8)^0.8685 = {value} pJ")


def test_float_and_register_file_rule_sentences():
    assert rules.float_op(T, "mult", 16).rule == "16-bit float MULT: table figure 1.1 pJ"
    assert rules.register_file(T, 16).rule == "16-bit register file access: 1 pJ (32-bit) x 16/32 = 0.5 pJ"


def test_arithmetic_picks_float_or_integer_by_the_datapath():
    # 16-bit float MULT is the table's 1.1 pJ; 16-bit int MULT is 0.2 x (16/8)^k with
    # k = log2(3.1 / 0.2) / 2, i.e. 0.2 x sqrt(15.5) = 0.7874 pJ; ADD 0.03 x sqrt(0.1/0.03) = 0.05477.
    assert rules.arithmetic(T, "mult", 16, True) == rules.float_op(T, "mult", 16)
    assert rules.arithmetic(T, "mult", 16, True).pj == 1.1
    assert rules.arithmetic(T, "mult", 16, False).pj == pytest.approx(0.2 * 15.5**0.5)
    assert rules.arithmetic(T, "add", 16, False).pj == pytest.approx(0.03 * (0.1 / 0.03) ** 0.5)
    assert rules.arithmetic(T, "add", 32, True).pj == 0.9
