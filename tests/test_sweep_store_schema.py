"""The result store as outside tools see it: DuckDB over ``*.parquet``, SQL-safe names with
units, no duplicated columns, the layer's shape and densities on every row."""

import re

import numpy as np
import pytest

from eiesim.simulation import simulate
from eiesim.sweep import ResultStore, SweepSpec, run_sweep
from eiesim.sweep.layers import encode, shared_layer
from tests.sweep_helpers import TINY

duckdb = pytest.importorskip("duckdb")

def query(sql: str):
    """A DuckDB result cursor (``fetchall``, ``df``): the connection API, stable across versions."""
    return duckdb.connect().execute(sql)


UNIT_SUFFIXES = ("_pj", "_pj_each", "_count", "_mw", "_um2", "_mm2")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("store")
    spec = SweepSpec.build([TINY], ["n_pe=1,4", "queue_depth=1,8"], engine="fast")
    run_sweep(spec, ResultStore(path), progress=False)
    return path, spec


def test_duckdb_reads_the_store_glob_even_with_a_writer_mid_part(store):
    path, _ = store
    # A part being written (or left by a killed writer) is a half file under a temporary name.
    (path / ".tmp-part-0123456789ab.parquet.tmp").write_bytes(b"PAR1 half a file")
    try:
        (count,), = query(f"SELECT count(*) FROM read_parquet('{path}/*.parquet')").fetchall()
    finally:
        (path / ".tmp-part-0123456789ab.parquet.tmp").unlink()
    assert count == 4  # 2 PE counts x 2 queue depths, each once


def test_every_part_temporary_is_outside_the_glob(tmp_path, monkeypatch):
    import eiecore.atomic as atomic

    seen = []
    real = atomic._place

    def spy(tmp, path, overwrite):
        seen.append(tmp.name)
        return real(tmp, path, overwrite)

    monkeypatch.setattr(atomic, "_place", spy)
    ResultStore(tmp_path).write([{"point_hash": "a", "x": 1}])
    assert len(seen) == 1 and not seen[0].endswith(".parquet"), seen


def test_column_names_are_sql_safe_and_energy_columns_carry_units(store):
    path, _ = store
    columns = [name for name, *_ in query(f"DESCRIBE SELECT * FROM read_parquet('{path}/*.parquet')").fetchall()]
    bad = [c for c in columns if not re.fullmatch(r"[a-z][a-z0-9_]*", c)]
    assert not bad
    energy = [c for c in columns if c.startswith(("energy_", "area_")) and not c.startswith("energy_event_over_")]
    assert energy and all(c.endswith(UNIT_SUFFIXES) for c in energy), [c for c in energy if not c.endswith(UNIT_SUFFIXES)]
    for gone in ("energy_total", "energy_models_event_total", "area_total_um2"):
        assert gone not in columns


def test_energy_columns_match_the_simulation_and_none_duplicates_another(store):
    path, spec = store
    df = query(f"SELECT * FROM read_parquet('{path}/*.parquet')").df()
    shared = shared_layer(TINY, 0, 4)
    for point in spec.points():
        row = df[df["point_hash"] == point.point_hash].iloc[0]
        result = simulate(encode(shared, point.config), shared.acts, point.config, engine="fast")
        event, table2 = result.energy.estimates
        assert row["energy_event_total_pj"] == pytest.approx(event.total)
        assert row["energy_table2_total_pj"] == pytest.approx(table2.total)
        assert row["energy_event_module_arithmetic_pj"] == pytest.approx(event.per_module["arithmetic"])
        assert row["energy_event_spmat_row_read_pj"] == pytest.approx(event.per_module["spmat_read"])
        assert row["energy_event_over_table2"] == pytest.approx(event.total / table2.total)
    # The old store repeated the event total (energy_total) and modules of a single line
    # (Table II's lines were its modules). Over four different points, no other column may
    # equal a model's total, and no module column a line column. (Different events may
    # still agree: every queue push is popped.)
    floats = df.select_dtypes("float64")
    totals = [c for c in floats.columns if c.endswith("_total_pj")]
    modules = [c for c in floats.columns if "_module_" in c]
    assert len(totals) == 2 and modules
    for c in floats.columns:
        for kept in totals + modules:
            if c != kept and (c in totals or c not in modules):
                assert not np.allclose(floats[c], floats[kept]), (c, kept)


def test_rows_carry_the_layer_shape_and_densities(store):
    path, _ = store
    rows = query(f"SELECT DISTINCT rows_m, cols_k, weight_density, act_density "
                      f"FROM read_parquet('{path}/*.parquet')").fetchall()
    # TINY = synth:96x40:0.2:0.5: exactly round(0.2 x 96 x 40) = 768 of 3840 weights and
    # round(0.5 x 40) = 20 of 40 activations are non-zero.
    assert rows == [(96, 40, pytest.approx(768 / 3840), pytest.approx(20 / 40))]


def test_a_store_mixing_every_kind_of_part_reads_as_one_dataset(tmp_path, run_cli):
    """Parts with and without a rule override, a quarantined part, a layer cache inside the
    store (--cache-dir = --out) and a writer's temporary: DuckDB's glob and
    pandas.read_parquet(store) both read every point once, with typed columns."""
    import pandas as pd
    import pyarrow.parquet as pq

    store = tmp_path / "store"
    base = ("sweep", "--layers", "synth:40x30:0.3:0.5", "--engine", "fast", "--no-progress", "--jobs", "1",
            "--out", store, "--cache-dir", store)
    assert run_cli(*base, "--grid", "n_pe=2,4")[0] == 0  # no override: lnzd unset in every row
    assert run_cli(*base, "--grid", "n_pe=2", "--grid", "lnzd=tree,pack-scan")[0] == 0  # lnzd set
    (store / "part-0000damaged.parquet").write_bytes(b"PAR1 not really")
    code, _, err = run_cli(*base, "--grid", "n_pe=8", "--grid", "queue_slots=ring")  # quarantines it
    assert code == 0 and "moved to _quarantine/" in err, err
    (store / ".eiesim-tmp-1-0123456789ab-00000000-part-x.parquet.tmp").write_bytes(b"PAR1 half")
    assert (store / "_quarantine" / "part-0000damaged.parquet").exists()
    assert any(p.name.startswith("_eiesim-cache-") for p in store.iterdir())
    for part in store.glob("part-*.parquet"):
        schema = pq.read_schema(part)
        assert not [f.name for f in schema if str(f.type) == "null"], part
        assert str(schema.field("lnzd").type) == "string" and str(schema.field("queue_slots").type) == "string"

    expected = {(2, None, None), (4, None, None), (2, "tree", None), (2, "pack-scan", None), (8, None, "ring")}
    by_pandas = pd.read_parquet(store)
    by_duckdb = query(f"SELECT n_pe, lnzd, queue_slots FROM read_parquet('{store}/*.parquet')").fetchall()
    assert len(by_pandas) == len(by_duckdb) == 5
    unset = by_pandas[["lnzd", "queue_slots"]].astype(object).where(by_pandas[["lnzd", "queue_slots"]].notna(), None)
    assert set(zip(by_pandas["n_pe"].astype(int), unset["lnzd"], unset["queue_slots"])) == expected
    assert set(by_duckdb) == expected


def test_no_part_gets_a_null_typed_column(tmp_path):
    import pyarrow as pa

    from eiecore.errors import EieError
    from eiesim.sweep.store import rows_table
    from eiesim.sweep.tasks import config_types

    types = config_types()
    assert types["lnzd"] == pa.string() and types["n_pe"] == pa.int64() and types["strict_fit"] == pa.bool_()
    assert types["clock_mhz"] == pa.float64()
    table = rows_table([{"point_hash": "a", "lnzd": None}], {"lnzd": pa.string()})
    assert table.schema.field("lnzd").type == pa.string()
    with pytest.raises(EieError, match="column 'lnzd' holds only nulls and has no declared type"):
        rows_table([{"point_hash": "a", "lnzd": None}])
    with pytest.raises(EieError, match="column 'x' has no type"):
        ResultStore(tmp_path).write(pa.table({"point_hash": ["a"], "x": pa.array([None])}))
