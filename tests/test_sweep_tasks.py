"""A sweep worker's task by hand: the energy columns of a hand-made report, the JIT warm-up
once per engine, the last encoding reused, the chunk's times shared by its points, the
cache folder used and the per-PE columns' types."""

from __future__ import annotations

import types

import numpy as np
import pyarrow as pa
import pytest

from eiesim import clear_caches
from eiesim.energy.base import Line, ModelEnergy
from eiesim.energy.report import EnergyReport
from eiesim.sweep import SweepSpec, tasks
from eiesim.sweep.layers import cache_folder

from tests.sweep_helpers import TINY


@pytest.fixture(autouse=True)
def _as_a_new_worker():
    """Each test starts as a new worker process would: no memo, no last encoding, no engine
    warmed (an earlier test's run would otherwise leave them filled)."""
    clear_caches()


def _line(name: str, module: str, count: float, pj_each: float) -> Line:
    return Line(name, module, count, pj_each, rule="r", count_rule="c", per_pe="p")


def _report(area) -> EnergyReport:
    event = ModelEnergy(  # lines a and b share module spmat, c is act's only line
        "event", "src", total=10.0, per_module={"spmat": 4.0, "act": 6.0}, per_pe=np.array([4.0, 6.0]),
        outside_pes={}, time_us=2.0, lines=[_line("a", "spmat", 2, 1.5), _line("b", "spmat", 4, 0.25), _line("c", "act", 3, 2.0)])
    table2 = ModelEnergy("table2", "src", total=5.0, per_module={"pe": 5.0}, per_pe=np.array([2.0, 3.0]),
                         outside_pes={}, time_us=2.0, lines=[_line("x", "pe", 1, 5.0)])
    return EnergyReport([event, table2], area)


def test_energy_columns_of_a_hand_made_report():
    area = {"total_mm2": 0.5, "per_unit_um2": {"spmat": 100.0, "act": 25.0}, "lnzd_nodes": 3}
    assert tasks.energy_columns(_report(area)) == {
        # event model: 10 pJ in 2 us = 5 uW; a module column only for spmat (two lines)
        "energy_event_total_pj": 10.0, "energy_event_avg_power_mw": 0.005, "energy_event_per_pe_pj": [4.0, 6.0],
        "energy_event_module_spmat_pj": 4.0,
        "energy_event_a_count": 2, "energy_event_a_pj_each": 1.5, "energy_event_a_pj": 3.0,
        "energy_event_b_count": 4, "energy_event_b_pj_each": 0.25, "energy_event_b_pj": 1.0,
        "energy_event_c_count": 3, "energy_event_c_pj_each": 2.0, "energy_event_c_pj": 6.0,
        # Table II: one line per module, so no module column
        "energy_table2_total_pj": 5.0, "energy_table2_avg_power_mw": 0.0025, "energy_table2_per_pe_pj": [2.0, 3.0],
        "energy_table2_x_count": 1, "energy_table2_x_pj_each": 5.0, "energy_table2_x_pj": 5.0,
        "energy_event_over_table2": 2.0,  # 10 / 5
        "area_total_mm2": 0.5, "area_spmat_um2": 100.0, "area_act_um2": 25.0, "lnzd_nodes": 3,
    }


def test_energy_columns_without_an_area_estimate():
    columns = tasks.energy_columns(_report(None))
    assert not [key for key in columns if key.startswith("area") or key == "lnzd_nodes"]
    assert columns["energy_event_over_table2"] == 2.0


class _Spy:
    """Records the keyword arguments of each call, then makes it (with ``fn``)."""

    def __init__(self, fn=None):
        self.fn, self.calls = fn, []

    def __call__(self, *args, **kwargs):
        self.calls.append(kwargs)
        return None if self.fn is None else self.fn(*args, **kwargs)


def test_the_engine_is_warmed_once_per_engine_and_process(monkeypatch):
    spy = _Spy()  # no need to compile anything here
    monkeypatch.setattr(tasks, "simulate", spy)
    tasks.warm_engine("fast")
    tasks.warm_engine("fast")
    assert spy.calls == [{"engine": "fast", "outputs": False}]  # the engine asked for, timing only
    tasks.warm_engine("reference")
    assert [call["engine"] for call in spy.calls] == ["fast", "reference"]


def _points(axes):
    return SweepSpec.build([TINY], axes, engine="fast").points()


def test_a_chunk_shares_its_load_and_encode_time_and_runs_each_point_timing_only(monkeypatch):
    points = _points(["queue_depth=1,2"])  # one encoding key
    # the task's clock: load 103 - 100 = 3 s, encode 110 - 103 = 7 s, then 5 s and 8 s per point
    ticks = iter([100.0, 103.0, 110.0, 200.0, 205.0, 300.0, 308.0])
    monkeypatch.setattr(tasks, "time", types.SimpleNamespace(perf_counter=lambda: next(ticks)))
    tasks.warm_engine("fast")  # outside the spied calls below
    spy = _Spy(tasks.simulate)
    monkeypatch.setattr(tasks, "simulate", spy)
    table = tasks.run_chunk(points)
    assert next(ticks, None) is None
    assert table.column("load_s").to_pylist() == [1.5, 1.5]
    assert table.column("encode_s").to_pylist() == [3.5, 3.5]
    assert table.column("simulate_s").to_pylist() == [5.0, 8.0]
    assert table.column("point_hash").to_pylist() == [p.point_hash for p in points]
    assert spy.calls == [{"engine": "fast", "outputs": False}] * 2
    # per-PE counts stay integers (a float column would differ from direct simulation's)
    for name in ("per_pe_busy", "per_pe_starved", "per_pe_real"):
        assert table.schema.field(name).type == pa.list_(pa.int64()), name


def test_chunks_of_one_key_run_back_to_back_encode_once(monkeypatch):
    spy = _Spy(tasks.encode)
    monkeypatch.setattr(tasks, "encode", spy)
    first, second = _points(["queue_depth=1,2"])
    tasks.run_chunk([first])
    tasks.run_chunk([second])
    assert len(spy.calls) == 1
    (other,) = _points(["n_pe=2"])  # another key: encoded anew
    tasks.run_chunk([other])
    assert len(spy.calls) == 2


def test_a_chunk_takes_its_layer_from_the_cache_folder(tmp_path):
    folder = cache_folder(tmp_path)
    tasks.run_chunk(_points(["n_pe=2"]), str(folder))
    assert len(list(folder.glob("*.eiesim-cache.npz"))) == 1
