"""EIE Table II model by hand at PE counts other than the paper's 64: every figure scales
with N (and the LNZD tree with its node count), nothing is fixed at the paper's chip."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from eiesim.config import ArchConfig
from eiesim.counters import Counters, PerPE
from eiesim.energy import Table2Model
from eiecore.errors import EieError
from eiesim.energy.base import Activity

from tests.energy_helpers import TABLE2_TOML, replace_value

PE_MW = 0.112 + 1.807 + 4.955 + 1.162 + 1.122  # queue, pointer, sparse matrix, arithmetic, act r/w: 9.158
UNIT_MW = {"queue": 0.112, "pointer_read": 1.807, "spmat_read": 4.955, "arithmetic": 1.162, "act_rw": 1.122}
WHAT = {"queue": "activation queue power", "pointer_read": "pointer read unit power",
        "spmat_read": "sparse-matrix read unit power", "arithmetic": "arithmetic unit power",
        "act_rw": "activation read/write unit power"}


@pytest.mark.parametrize("n, nodes", [(1, 1), (16, 5)])  # 16: ceil(16 / 4) + ceil(16 / 16)
def test_table2_energy_power_and_area_scale_with_the_pe_count(n, nodes):
    cfg = ArchConfig(n_pe=n)
    # 1600 cycles at the table's 800 MHz: 2 us, so 1 mW costs 2000 pJ.
    a = Activity(Counters(), PerPE(np.zeros(n), np.zeros(n), np.zeros(n)), 1600, cfg)
    e = Table2Model().estimate(a)
    assert e.total == pytest.approx((n * PE_MW + nodes * 0.023) * 2000)
    assert (e.model, e.source) == ("table2", "eie-table2 (built-in eie_table2.toml)")
    assert [line.name for line in e.lines] == [*UNIT_MW, "lnzd"]
    for line in e.lines:
        if line.module == "lnzd":
            assert (line.name, line.count, line.pj_each) == ("lnzd", nodes, pytest.approx(0.023 * 2000))
            assert (line.rule, line.count_rule, line.per_pe) == (
                "power of one LNZD node = 0.023 mW x 1600 cycles / 800 MHz",
                "LNZD nodes: sum over levels of ceil(N / 4^l)", "none")
        else:
            assert (line.name, line.count, line.pj_each) == (line.module, n, pytest.approx(UNIT_MW[line.module] * 2000))
            assert (line.rule, line.count_rule, line.per_pe) == (
                f"{WHAT[line.module]} = {UNIT_MW[line.module]:g} mW x 1600 cycles / 800 MHz", "N PEs", "equal")
            assert e.per_module[line.module] == pytest.approx(n * UNIT_MW[line.module] * 2000)
    assert e.per_module["lnzd"] == pytest.approx(nodes * 0.023 * 2000)
    assert e.per_pe.shape == (n,) and e.per_pe == pytest.approx(np.full(n, PE_MW * 2000))
    assert e.avg_power_mw == pytest.approx(n * PE_MW + nodes * 0.023)
    model = Table2Model()
    assert model.pe_power_mw == pytest.approx(PE_MW)
    assert model.array_power_mw(cfg) == pytest.approx(n * PE_MW + nodes * 0.023)
    assert model.power_by_type_mw(cfg) == pytest.approx(
        {"memory": n * 5.416, "clock_network": n * 1.874, "register": n * 1.026, "combinational": n * 0.841})
    area = model.area(cfg)
    assert area["total_um2"] == n * 638024 + nodes * 189 and area["lnzd_nodes"] == nodes
    assert area["total_mm2"] == (n * 638024 + nodes * 189) / 1e6
    assert area["per_unit_um2"] == {"queue": n * 758, "pointer_read": n * 121849, "spmat_read": n * 469412,
                                    "arithmetic": n * 3110, "act_rw": n * 18934, "filler_cells": n * 23961,
                                    "lnzd": nodes * 189}
    # Half the clock: twice the time, the same energy per cycle, half the power.
    slow = Table2Model().estimate(dataclasses.replace(a, config=cfg.replace(clock_mhz=400)))
    assert slow.total == pytest.approx(e.total) and slow.avg_power_mw == pytest.approx(e.avg_power_mw / 2)


def test_a_table_off_by_exactly_the_tolerance_is_accepted_and_one_past_it_refused(tmp_path):
    # Unit powers 1 + 1 + 1 + 1 + 97 = 101 against a PE total of 100: off by 1 % exactly,
    # which the 1 % tolerance accepts (power types 97 + 1 + 1 + 1 = 100); 102 is refused.
    text = replace_value(TABLE2_TOML, "pe_power", "value", "100.0")
    for key, value in (("act_queue_power", 1), ("ptr_read_power", 1), ("spmat_read_power", 1),
                       ("arithm_unit_power", 1), ("act_rw_power", 97), ("memory_power", 97),
                       ("clock_network_power", 1), ("register_power", 1), ("combinational_power", 1)):
        text = replace_value(text, key, "value", f"{value}.0")
    path = tmp_path / "t2.toml"
    path.write_text(text)
    assert Table2Model(str(path)).pe_power_mw == 101.0
    path.write_text(replace_value(text, "act_rw_power", "value", "98.0"))
    with pytest.raises(EieError, match=r"'pe_power' = 100 but act_queue_power \+ .* = 102$"):
        Table2Model(str(path))
