"""Energy tables: the built-in ones load with units and citations; broken ones fail clearly."""

from __future__ import annotations

import math

import pytest

from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.energy import EventModel, Table2Model, load_table
from eiesim.energy.tables import SCHEMAS, parse_table
from tests.energy_helpers import EVENTS_TOML, TABLE2_TOML, drop_entry, replace_value


def test_builtin_tables_have_every_key_with_unit_and_citation():
    for kind in SCHEMAS:
        table = load_table(None, kind)
        assert set(table.entries) == set(SCHEMAS[kind])
        for key, entry in table.entries.items():
            assert entry.unit == SCHEMAS[kind][key][0]
            assert entry.citation.strip() and entry.what.strip()
            assert entry.value > 0


def test_builtin_numbers_are_the_source_figures():
    t = load_table(None, "events")
    expected = {
        "int_add_8": 0.03, "int_add_32": 0.1, "int_mult_8": 0.2, "int_mult_32": 3.1,
        "float_add_16": 0.4, "float_add_32": 0.9, "float_mult_16": 1.1, "float_mult_32": 3.7,
        "regfile_32": 1.0, "sram_32bit_32kb": 5.0, "sram_64bit_8kb": 10.0, "sram_64bit_32kb": 20.0,
        "sram_64bit_1mb": 100.0, "dram_32bit": 640.0, "dram_64bit_low": 1300.0, "dram_64bit_high": 2600.0,
    }
    assert {k: t[k] for k in expected} == expected
    assert "Horowitz" in t.citation and "ISSCC 2014" in t.citation
    t2 = load_table(None, "table2")
    assert (t2["pe_power"], t2["pe_area"], t2["lnzd_node_power"], t2["lnzd_node_area"]) == (9.157, 638024, 0.023, 189)
    assert "Table II" in t2.citation


def test_a_custom_table_changes_the_result_as_expected(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(replace_value(EVENTS_TOML, "sram_64bit_1mb", "value", "200.0"))
    cfg = ArchConfig()
    mine, base = EventModel(str(path)).derived(cfg), EventModel().derived(cfg)
    k = math.log(200 / 20) / math.log(1024 / 32)
    assert mine["spmat_row_read"].pj == pytest.approx(20 * (128 / 32) ** k)
    # Only events priced from the 32 KB-1 MB segment change.
    assert {n for n in base if base[n].pj != mine[n].pj} == {"spmat_row_read"}


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: drop_entry(t, "int_mult_8"), "missing entry 'int_mult_8'"),
        (lambda t: replace_value(t, "regfile_32", "unit", '"nJ"'), "entry 'regfile_32' has unit 'nJ', expected 'pJ'"),
        (lambda t: replace_value(t, "int_add_8", "value", "-0.03"), "entry 'int_add_8' value must be a positive"),
        (lambda t: replace_value(t, "int_add_8", "value", "0"), "entry 'int_add_8' value must be a positive"),
        (lambda t: replace_value(t, "dram_32bit", "value", '"lots"'), "entry 'dram_32bit' value must be a number"),
        (lambda t: replace_value(t, "dram_32bit", "value", "true"), "entry 'dram_32bit' value must be a number"),
        (lambda t: replace_value(t, "dram_32bit", "value", "nan"), "entry 'dram_32bit' value must be a positive finite"),
        (lambda t: replace_value(t, "int_add_32", "citation", '""'), "entry 'int_add_32' citation must be"),
        (lambda t: t.replace('citation = "Horowitz, ISSCC 2014 (45 nm)"\n', "", 1), "entry 'int_add_8' lacks 'citation'"),
        (lambda t: t + '\n[entries.int_add_64]\nwhat = "x"\nvalue = 1\nunit = "pJ"\ncitation = "x"\n', "unknown entry 'int_add_64'"),
        (lambda t: t.replace('kind = "events"', 'kind = "table2"'), "'kind' must be 'events'"),
        (lambda t: t.replace("eiesim-energy-table/1", "eiesim-energy-table/9"), "'schema' must be"),
        (lambda t: t + "\n[entries.int_add_8\n", "is not valid TOML"),
        (lambda t: "not = toml = at all", "is not valid TOML"),
    ],
)
def test_broken_event_tables_fail_naming_the_problem(edit, message):
    with pytest.raises(EieError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        parse_table(edit(EVENTS_TOML), "events", "bad.toml")
    assert "bad.toml" in str(info.value) and "\n" not in str(info.value)


def test_unreadable_table_file_is_one_clear_error(tmp_path):
    with pytest.raises(EieError, match="cannot read energy table .*nope.toml"):
        load_table(tmp_path / "nope.toml", "events")
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(EieError, match="bin.toml"):
        load_table(binary, "events")


def test_table_of_the_wrong_kind_is_rejected():
    with pytest.raises(EieError, match="kind 'table2', expected 'events'"):
        EventModel(load_table(None, "table2"))
    with pytest.raises(EieError, match="unknown energy table kind"):
        load_table(None, "cacti")


def test_inconsistent_table2_names_the_total(tmp_path):
    path = tmp_path / "t2.toml"
    path.write_text(replace_value(TABLE2_TOML, "spmat_read_power", "value", "6.0"))
    with pytest.raises(EieError, match="'pe_power' = 9.157 but act_queue_power \\+ .* = 10.2"):
        Table2Model(str(path))
    path.write_text(replace_value(TABLE2_TOML, "filler_cell_area", "value", "99999.0"))
    with pytest.raises(EieError, match="'pe_area'"):
        Table2Model(str(path))


def test_consistent_custom_table2_changes_the_result(tmp_path):
    text = replace_value(TABLE2_TOML, "spmat_read_power", "value", "5.955")
    text = replace_value(text, "pe_power", "value", "10.157")
    text = replace_value(text, "memory_power", "value", "6.416")
    path = tmp_path / "t2.toml"
    path.write_text(text)
    cfg = ArchConfig()
    assert Table2Model(str(path)).array_power_mw(cfg) - Table2Model().array_power_mw(cfg) == pytest.approx(64.0)
