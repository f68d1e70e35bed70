"""Sweep runs: rows match direct simulation, the Parquet schema, resume without duplicates."""

from __future__ import annotations

import numpy as np
import pytest

from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.counters import COUNTER_NAMES
from eiesim.simulation import simulate
from eiesim.sweep import ProcessExecutor, ResultStore, SweepSpec, run_sweep, sweep_frame
from eiesim.sweep import layers as sweep_layers
from eiesim.sweep.layers import encode, shared_layer
from workloads.benchmarks import benchmark_layer

from tests.sweep_helpers import SMALL, TINY


def test_shared_layer_encodes_like_the_benchmark_and_caches(tmp_path):
    config = ArchConfig(n_pe=16)
    direct, acts = benchmark_layer("NT-We", config, seed=1)
    sweep_layers._MEMO.clear()
    ours = encode(shared_layer("NT-We", 1, 4, str(tmp_path)), config)
    sweep_layers._MEMO.clear()
    cached = shared_layer("NT-We", 1, 4, str(tmp_path))  # now read from the cache file
    assert len(list(tmp_path.glob("NT-We-v1-s1-b4.eiesim-cache.npz"))) == 1
    np.testing.assert_array_equal(cached.acts, acts)
    for layer in (ours, encode(cached, config)):
        for name in ("code", "rel", "ptr", "start", "codebook"):
            np.testing.assert_array_equal(getattr(layer, name), getattr(direct, name))
        assert (layer.has_bias, layer.activation, layer.shape) == (direct.has_bias, direct.activation, direct.shape)


def test_corrupt_cache_file_is_regenerated(tmp_path):
    first = shared_layer(TINY, 2, 4, str(tmp_path))
    (path,) = tmp_path.glob("*.npz")
    path.write_bytes(b"not a zip")
    sweep_layers._MEMO.clear()
    again = shared_layer(TINY, 2, 4, str(tmp_path))
    np.testing.assert_array_equal(first.weights.codes, again.weights.codes)


def test_rows_equal_direct_simulation_and_schema(tmp_path):
    spec = SweepSpec.build([TINY], ["n_pe=1,4", "queue_depth=1,8"], engine="fast")
    summary = run_sweep(spec, tmp_path / "store", cache_dir=tmp_path / "cache", progress=False)
    assert (summary.computed, summary.skipped, summary.chunks) == (4, 0, 2)
    df = sweep_frame(spec, tmp_path / "store")
    assert len(df) == 4 and df["point_hash"].is_unique
    for column in ("point_hash", "config_hash", "layer", "engine", "seed", "cycles", "time_us",
                   "per_pe_busy", "per_pe_starved", "per_pe_real", "encode_s", "simulate_s",
                   *ArchConfig.model_fields, *COUNTER_NAMES, "load_efficiency", "real_work_fraction"):
        assert column in df.columns, column
    assert df["n_pe"].dtype.kind == "i" and df["cycles"].dtype.kind == "i"
    for point in spec.points():
        row = df[df["point_hash"] == point.point_hash].iloc[0]
        layer = encode(shared_layer(TINY, 0, 4), point.config)
        result = simulate(layer, shared_layer(TINY, 0, 4).acts, point.config, engine="fast")
        assert row["cycles"] == result.cycles
        assert {k: row[k] for k in COUNTER_NAMES} == result.counters.to_dict()
        assert list(row["per_pe_busy"]) == list(result.per_pe.busy)
        assert row["load_efficiency"] == pytest.approx(result.metrics["load_efficiency"])
        assert row["n_pe"] == point.config.n_pe and row["queue_depth"] == point.config.queue_depth


def test_resume_skips_finished_points_and_never_duplicates(tmp_path):
    store = ResultStore(tmp_path / "store")
    small = SweepSpec.build([TINY], ["n_pe=2", "queue_depth=1,2"], engine="fast")
    run_sweep(small, store, progress=False)
    again = run_sweep(small, store, progress=False)
    assert (again.computed, again.skipped) == (0, 2)
    bigger = SweepSpec.build([TINY], ["n_pe=2", "queue_depth=1,2,4"], engine="fast")
    more = run_sweep(bigger, store, progress=False)
    assert (more.computed, more.skipped) == (1, 2)
    rows = store.read()
    assert len(rows) == 3 and rows["point_hash"].is_unique
    # a duplicated part (e.g. two runs racing on one store) is read once
    store.write(rows.iloc[:2].to_dict("records"))
    assert len(store.parts()) == 3
    assert len(store.read()) == 3


def test_process_pool_matches_serial(tmp_path):
    spec = SweepSpec.build([TINY, SMALL], ["n_pe=2,8", "queue_depth=2"], engine="fast")
    run_sweep(spec, tmp_path / "serial", progress=False)
    run_sweep(spec, tmp_path / "pool", ProcessExecutor(2), cache_dir=tmp_path / "cache", progress=False)
    a = sweep_frame(spec, tmp_path / "serial").sort_values("point_hash").reset_index(drop=True)
    b = sweep_frame(spec, tmp_path / "pool").sort_values("point_hash").reset_index(drop=True)
    assert a[["point_hash", "cycles", *COUNTER_NAMES]].equals(b[["point_hash", "cycles", *COUNTER_NAMES]])


def test_store_ignores_and_cleans_temporaries(tmp_path):
    import os
    import subprocess
    import sys

    from eiecore.atomic import TMP_PREFIX, _HOST

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(gone.stdout)  # that process has exited
    root = tmp_path / "store"
    store = ResultStore(root)
    store.write([{"point_hash": "a", "cycles": 1}])
    old = root / f"{TMP_PREFIX}{dead_pid}-{'0' * 12}-{_HOST}-part-x.parquet"
    old.write_bytes(b"PAR1 half written")
    live = root / f"{TMP_PREFIX}{os.getpid()}-{'1' * 12}-{_HOST}-part-y.parquet"
    live.write_bytes(b"being written")
    other_host = root / f"{TMP_PREFIX}{dead_pid}-{'2' * 12}-{'f' * 8 if _HOST != 'f' * 8 else 'e' * 8}-part-z.parquet"
    other_host.write_bytes(b"written on another machine")
    store = ResultStore(root)
    assert not old.exists() and live.exists()  # only temporaries of gone processes are removed
    assert other_host.exists()  # a pid on another host says nothing about its process
    assert store.read()["point_hash"].tolist() == ["a"]
    assert store.write([]) is None


def test_a_part_keeps_every_rows_columns_and_their_types(tmp_path):
    # Rows of one chunk need not share their keys (an energy line only some configurations
    # have): a key missing from the first row must still become a column, null where absent.
    store = ResultStore(tmp_path / "s")
    store.write([{"point_hash": "a", "cycles": 7, "per_pe": [1, 2], "fits": True, "layer": "x"},
                 {"point_hash": "b", "cycles": 9, "per_pe": [3], "fits": False, "layer": "y", "late": 2.5}])
    df = store.read()
    assert df.columns.tolist() == ["point_hash", "cycles", "per_pe", "fits", "layer", "late"]
    assert df["cycles"].tolist() == [7, 9] and df["cycles"].dtype == np.int64
    assert [list(v) for v in df["per_pe"]] == [[1, 2], [3]]
    assert df["fits"].tolist() == [True, False] and df["fits"].dtype == bool
    assert np.isnan(df["late"][0]) and df["late"][1] == 2.5


def test_store_path_must_be_a_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(EieError, match="is not a folder"):
        ResultStore(tmp_path / "file")


def test_empty_store_reads_empty(tmp_path):
    assert ResultStore(tmp_path / "s").read().empty


def test_pool_after_openmp_threads_ran_in_the_parent(tmp_path):
    # A forked worker of a process whose OpenMP threads ran (scikit-learn's k-means here)
    # can hang; workers must come from a fork server or spawn. Run in a fresh interpreter
    # with a time limit, so a hang fails the test instead of stalling the suite.
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import numpy as np
        from sklearn.cluster import KMeans
        from threadpoolctl import threadpool_limits
        from eiesim.sweep import ProcessExecutor, SweepSpec, run_sweep, sweep_frame

        with threadpool_limits(2):
            KMeans(15, n_init=1, random_state=0).fit(np.random.default_rng(0).normal(size=(200000, 1)))
        spec = SweepSpec.build([{TINY!r}, {SMALL!r}], ["n_pe=2,4"], engine="fast")
        with ProcessExecutor(2) as pool:
            run_sweep(spec, {str(tmp_path / "store")!r}, pool, cache_dir={str(tmp_path / "cache")!r}, progress=False)
        print(len(sweep_frame(spec, {str(tmp_path / "store")!r})))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "4"


def test_pool_workers_live_across_maps_and_close(tmp_path):
    import os

    with ProcessExecutor(2) as pool:
        first = set(pool.map_unordered(os.getpid, [()] * 4))
        second = set(pool.map_unordered(os.getpid, [()] * 4))
        assert first <= second | first and len(first | second) <= 2 and os.getpid() not in first
    assert pool._pool is None
