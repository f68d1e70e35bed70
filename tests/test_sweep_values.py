"""Sweep grid ranges and the result store's order, by hand."""

from __future__ import annotations

import hashlib
import json
import os
import re
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eiecore.errors import EieError, EieWarning
from eiesim.config import ArchConfig
from eiesim.engines import ENGINES
from eiesim.sweep import ResultStore, SweepSpec, fingerprint, grid, parse_axis, parse_values
from eiesim.sweep.grid import MAX_AXIS_VALUES
from eiesim.sweep.store import QUARANTINE

from tests.sweep_helpers import TINY


@pytest.mark.parametrize("text, values", [
    # (1.7 - 1.1) / 0.2 = 2.9999999999999996 in binary floating point: 4 values, not 3, and
    # 1.1 + 3 x 0.2 = 1.7000000000000002.
    ("1.1..1.7:0.2", [1.1, 1.3, 1.5, 1.7]),
    ("0.1..0.3:0.1", [0.1, 0.2, 0.3]),  # (0.3 - 0.1) / 0.1 = 1.9999999999999998
    ("0..1:0.3", [0.0, 0.3, 0.6, 0.9]),  # 1.2 would pass the end
    ("500..1000:250", [500.0, 750.0, 1000.0]),
    ("2..2", [2.0]),
])
def test_float_ranges_step_in_decimal_as_written(text, values):
    got = parse_values("clock_mhz", text)
    assert got == values  # exactly: 1.7, not 1.7000000000000002
    assert [repr(v) for v in got] == [repr(float(v)) for v in values]


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


def test_an_axis_may_hold_exactly_the_most_values():
    assert len(parse_values("seed", "0..65535")) == MAX_AXIS_VALUES == 65536
    with pytest.raises(EieError, match=r"^range '0\.\.65536' for seed has 65537 values, more than 65536$"):
        parse_values("seed", "0..65536")


def test_an_axis_splits_at_its_first_equals_sign():
    with pytest.raises(EieError, match=r"^bad value 'fixed=x' for field precision: choose one of fixed, float32$"):
        parse_axis("precision=fixed=x")


def test_config_hash_is_the_configs_own():
    a, b, a_again = (SweepSpec.build(TINY, [f"n_pe={n}"]).points()[0] for n in (1, 2, 1))
    assert a.config_hash == a_again.config_hash != b.config_hash
    c = SweepSpec.build(TINY, ["n_pe=1", "seed=5"]).points()[0]  # the seed is not configuration
    assert c.config_hash == a.config_hash and c.point_hash != a.point_hash


@pytest.mark.parametrize("text, message", [
    ("layers = 3", "layers must be a string or a list of strings, got 3"),
    (f'layers = "{TINY}"\nengine = 1', "engine must be a string, got 1"),
    (f'layers = "{TINY}"\ngrid = 1', "grid must be a table, got 1"),
    (f'layers = "{TINY}"\nbase = "x"', "base must be a table, got 'x'"),
])
def test_sweep_file_entries_of_the_wrong_type_are_named(tmp_path, text, message):
    path = tmp_path / "grid.toml"
    path.write_text(text)
    with pytest.raises(EieError, match=f"^bad sweep file {re.escape(str(path))}: {re.escape(message)}$"):
        SweepSpec.from_toml(path)


def test_sweep_file_defaults_and_layers_given_beside_it(tmp_path):
    import workloads.benchmarks  # noqa: F401  (registers the benchmark layers: "all")

    path = tmp_path / "grid.toml"
    path.write_text("# no layers, no grid, no base: every benchmark layer, one point each\n")
    spec = SweepSpec.from_toml(path)
    assert spec.layers == list(workloads.benchmarks.BENCHMARKS) and spec.axes == {} and spec.base == {}
    assert spec.engine == "fast"
    path.write_text('layers = "synth:8x8:0.5:0.5"\n[base]\nn_pe = 2\n')
    given = SweepSpec.from_toml(path, layers=[TINY])  # layers given beside the file replace its own
    assert given.layers == [TINY] and given.base == {"n_pe": 2}


def test_parts_named_before_write_times_read_back_in_modification_order(tmp_path):
    # Parts named part-<random>.parquet (older stores), or with a 20-letter word where the
    # time goes: ordered by their modification times.
    store = ResultStore(tmp_path / "s")
    for i, name in enumerate(["part-0fe.parquet", "part-abcdefghijabcdefghij-x.parquet", "part-07.parquet"]):
        written = store.write([{"point_hash": f"h{i}", "cycles": i}])
        written.rename(store.path / name)
        os.utime(store.path / name, ns=(10**9 * (50 - i), 10**9 * (50 - i)))  # newest name first
    assert store.read()["cycles"].tolist() == [2, 1, 0]


def test_a_store_folder_is_made_with_its_parents(tmp_path):
    ResultStore(tmp_path / "a" / "b" / "store").write([{"point_hash": "x", "cycles": 1}])
    assert len(list((tmp_path / "a" / "b" / "store").glob("part-*.parquet"))) == 1


def test_a_part_being_written_is_not_a_part(tmp_path, monkeypatch):
    # Outside readers glob part-*.parquet: the temporary ends in .tmp until it is complete.
    from eiesim.sweep import store as store_module

    seen = []
    monkeypatch.setattr(store_module.pq, "write_table", lambda table, tmp: seen.append(Path(tmp).name))
    ResultStore(tmp_path / "s").write([{"point_hash": "x"}])
    (name,) = seen
    assert name.endswith(".parquet.tmp") and not fnmatch(name, store_module.PART_GLOB)


def test_done_hashes_read_the_point_hash_column_wherever_it_is(tmp_path):
    store = ResultStore(tmp_path / "s")
    store.write([{"cycles": 1, "point_hash": "a"}, {"cycles": 2, "point_hash": "b"}])
    assert store.done_hashes() == {"a", "b"}


def test_a_part_without_point_hash_is_quarantined_with_the_reason(tmp_path):
    store = ResultStore(tmp_path / "s")
    good = store.write([{"point_hash": "a", "cycles": 1}])
    for name in ("part-foreign.parquet", "part-other.parquet"):  # the second finds quarantine/ made
        foreign = tmp_path / "s" / name
        pq.write_table(pa.table({"cycles": [1]}), foreign)
        with pytest.warns(EieWarning) as caught:
            assert store.parts() == [good]
        assert [str(w.message) for w in caught] == [
            f"result store {store.path}: part {name} is unreadable (no point_hash column); moved to {QUARANTINE}/, "
            "its points will be computed again"]
        assert (tmp_path / "s" / QUARANTINE / name).exists() and not foreign.exists()


@pytest.mark.parametrize("reader", ["done_hashes", "read"])
def test_a_part_damaged_past_its_footer_is_quarantined_by_its_reader(tmp_path, reader):
    store = ResultStore(tmp_path / "s")
    kept = store.write([{"point_hash": "a", "cycles": 1}])
    damaged = store.write([{"point_hash": f"p{i}", "cycles": i} for i in range(2000)])
    data = bytearray(damaged.read_bytes())
    data[4:200] = b"\xff" * 196  # the first page's header and data: the footer still reads
    damaged.write_bytes(bytes(data))
    assert len(store.parts()) == 2
    # The reason is pyarrow's own message (not "None").
    with pytest.warns(EieWarning, match=rf"part {damaged.name} is unreadable \((?!None\)).+\); moved to {QUARANTINE}/"):
        got = getattr(store, reader)()
    assert (set(got) if reader == "done_hashes" else set(got["point_hash"])) == {"a"}
    assert store.parts() == [kept] and (tmp_path / "s" / QUARANTINE / damaged.name).exists()


def test_point_hash_is_the_digest_of_its_inputs_and_the_code():
    # The store's identity of a point: sha256 of the sorted JSON of the layer, its version,
    # the seed, the engine, the config's non-default fields (here n_pe alone) and the
    # simulator's fingerprint, 20 hex digits.
    point = SweepSpec.build(TINY, ["n_pe=3"], base={"seed": 5}).points()[0]
    fields = {"layer": TINY, "layer_version": 1, "seed": 5, "engine": "fast", "config": {"n_pe": 3},
              "code": fingerprint.simulator()}
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
    assert point.seed == 5 and point.code == fingerprint.simulator()
    assert point.point_hash == digest[:20]
    assert point.config_hash == hashlib.sha256(json.dumps({"n_pe": 3}, sort_keys=True).encode()).hexdigest()[:20]


@pytest.mark.parametrize("name, text, values", [
    ("strict_fit", "true,1,yes,YES", [True]),
    ("strict_fit", "false,0,no,NO", [False]),
    ("n_pe", " 4 ,8", [4, 8]),
    ("seed", "0,4294967295", [0, 4294967295]),
])
def test_axis_values_in_every_spelling(name, text, values):
    assert parse_values(name, text) == values


@pytest.mark.parametrize("name, text, message", [
    ("strict_fit", "maybe", "bad value 'maybe' for field strict_fit: expected true or false"),
    ("n_pe", "abc", "bad value 'abc' for field n_pe: expected int"),
    ("clock_mhz", "abc", "bad value 'abc' for field clock_mhz: expected float"),
    ("clock_mhz", "inf", "bad value 'inf' for field clock_mhz: expected a finite number"),
    ("seed", "-1", "field seed must be in 0..4294967295, got -1"),
    ("colour", "1", "unknown field 'colour'; choose an ArchConfig field (" + ", ".join(ArchConfig.model_fields)
     + ") or seed"),
])
def test_bad_axis_values_are_named(name, text, message):
    with pytest.raises(EieError, match=f"^{re.escape(message)}$"):
        parse_values(name, text)


def test_toml_values_that_are_not_integers():
    with pytest.raises(EieError, match=r"^bad value 2\.5 for field n_pe: expected an integer$"):
        SweepSpec.build(TINY, {"n_pe": [2.5]})
    # Only the seed is a seed: other integer fields keep their own checks and messages.
    with pytest.raises(EieError, match=r"^grid point n_pe=-1: invalid configuration: n_pe: "):
        SweepSpec.build(TINY, ["n_pe=-1"])


def test_build_takes_a_single_value_and_refuses_none_or_an_unknown_engine():
    assert SweepSpec.build(TINY, {"n_pe": 4}).axes == {"n_pe": [4]}
    with pytest.raises(EieError, match=r"^no values for field n_pe$"):
        SweepSpec.build(TINY, {"n_pe": []})
    with pytest.raises(EieError, match=rf"^unknown engine 'x'; choose one of {', '.join(ENGINES)}$"):
        SweepSpec.build(TINY, engine="x")


def test_a_grid_may_hold_exactly_the_most_points(monkeypatch):
    monkeypatch.setattr(grid, "MAX_POINTS", 4)
    assert len(SweepSpec.build(TINY, ["n_pe=1,2", "seed=0,1"]).points()) == 4
    with pytest.raises(EieError, match=r"^the grid has 6 points, more than 4; split the sweep$"):
        SweepSpec.build(TINY, ["n_pe=1,2,3", "seed=0,1"])


def test_every_point_is_checked_to_be_encodable_with_the_layers_name():
    # 2^20 outputs on one PE with one accumulator: 2^20 row blocks x 1 PE x 201 pointers > 2^27.
    big = "synth:1048576x200:1e-06:0.5"  # the canonical name
    with pytest.raises(EieError, match=rf"^layer {re.escape(big)}: its pointer table needs 1048576 row blocks"):
        SweepSpec.build(big, ["n_pe=1", "accumulators_per_pe=1"])


def _tampered(path: Path, **changes) -> None:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(changes)
    np.savez(path, **arrays)


@pytest.mark.parametrize("change", [
    lambda z: {"meta": np.array(["other", z["meta"][1], z["meta"][2]])},  # another layer's name
    lambda z: {"codes": np.where(np.arange(z["codes"].size) == 0, 16, z["codes"]).astype(np.uint8)},  # code 2^b
    lambda z: {"codes": np.where(np.arange(z["codes"].size) == 0, 0, z["codes"]).astype(np.uint8)},  # code 0
    lambda z: {"codes": z["codes"].astype(np.int64)},
    lambda z: {"rows": np.where(np.arange(z["rows"].size) == 0, z["shape"][0], z["rows"])},  # row M
    lambda z: {"rows": np.where(np.arange(z["rows"].size) == 0, -1, z["rows"])},
    lambda z: {"cols": np.where(np.arange(z["cols"].size) == 0, z["shape"][1], z["cols"])},  # column K
    lambda z: {"cols": np.where(np.arange(z["cols"].size) == 0, -1, z["cols"])},
    lambda z: {"rows": z["rows"][:-1]},
    lambda z: {"codebook": z["codebook"][:-1]},
    lambda z: {"codebook": np.where(np.arange(16) == 1, np.nan, z["codebook"])},
    lambda z: {"bias_codebook": z["bias_codebook"][:-1]},
    lambda z: {"acts": np.stack([z["acts"], z["acts"]])},
    lambda z: {"shape": np.array([z["shape"][0], z["shape"][1], 1])},
])
def test_a_cached_layer_that_reads_but_is_not_the_layer_is_made_again(tmp_path, change):
    from eiesim import clear_caches
    from eiesim.sweep.layers import cache_folder, shared_layer

    name, cache = "mini:40x24:uniform:bias", str(cache_folder(tmp_path))
    clear_caches()  # not from this process's memo: generated and written
    fresh = shared_layer(name, 2, 4, cache)
    (path,) = Path(cache).glob("*.npz")
    with np.load(path, allow_pickle=False) as z:
        _tampered(path, **change(z))
    clear_caches()
    again = shared_layer(name, 2, 4, cache)
    for field in ("rows", "cols", "codes", "codebook", "bias_codebook"):
        np.testing.assert_array_equal(getattr(again.weights, field), getattr(fresh.weights, field))
    np.testing.assert_array_equal(again.acts, fresh.acts)
    assert (again.name, again.weights.shape) == (fresh.name, fresh.weights.shape)
