"""Sweep grid ranges and the result store's order, by hand."""

from __future__ import annotations

import os

import pytest

from eiesim.sweep import ResultStore, parse_values


@pytest.mark.parametrize("text, values", [
    # (1.7 - 1.1) / 0.2 = 2.9999999999999996 in floating point: 4 values, not 3.
    ("1.1..1.7:0.2", [1.1, 1.3, 1.5, 1.7]),
    ("0.1..0.3:0.1", [0.1, 0.2, 0.3]),  # (0.3 - 0.1) / 0.1 = 1.9999999999999998
    ("0..1:0.3", [0.0, 0.3, 0.6, 0.9]),  # 1.2 would pass the end
    ("500..1000:250", [500.0, 750.0, 1000.0]),
    ("2..2", [2.0]),
])
def test_float_ranges_include_an_end_reached_up_to_rounding(text, values):
    assert parse_values("clock_mhz", text) == pytest.approx(values)


def test_store_reads_parts_in_write_order_and_keeps_the_first_of_a_duplicate(tmp_path):
    store = ResultStore(tmp_path / "s")
    names = [f"p{i:02d}" for i in range(12)]
    for i, name in enumerate(names):  # part names are random: only the write order can order them
        store.write([{"point_hash": name, "cycles": i}])
    store.write([{"point_hash": "p03", "cycles": 99}, {"point_hash": "new", "cycles": 100}])  # a later duplicate
    df = store.read()
    assert df["point_hash"].tolist() == [*names, "new"]
    assert df["cycles"].tolist() == [*range(12), 100]  # the first row written for p03 is kept
    # A copy of the store resets modification times (here: newest first): the order stays.
    for i, part in enumerate(sorted(store.parts())):
        os.utime(part, ns=(10**9 * (100 - i), 10**9 * (100 - i)))
    assert ResultStore(tmp_path / "s").read()["cycles"].tolist() == [*range(12), 100]
