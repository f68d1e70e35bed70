"""The sweep against direct simulation: every row of a sweep equals ``simulate()`` of its point.

Hypothesis draws a grid over every sweep axis (PE count, queue depth, accumulators, index
and weight bits, SRAM width and size, number format, clock, timing profile and each rule
override, seed, engine) and over layers of every kind the sweep takes (synthetic, with a
bias column and its own codebook, heterogeneous rows, inputs all zero). The sweep runs it
cold (empty memo and cache folder), warm from the cache folder, warm from the memo, and
on a process pool whose workers keep their memos between chunks; each row is compared,
field by field, with a layer generated, compressed and simulated directly for that point
(``compress_layer`` and ``simulate``, no sweep code, no cache). A key of the sweep's
caches that forgets an axis (the shared-layer memo, the cached layer's file name, the
encoding a worker reuses between chunks) hands some point another point's layer, so its
row differs: the whole class of such bugs fails here, including ones not yet written.
``encoded_layer`` (the cache of one-off runs) is checked the same way.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from compressor.csc import compress_layer
from eiesim import clear_caches
from eiesim.config import ArchConfig
from eiesim.simulation import simulate
from eiesim.sweep import ProcessExecutor, SerialExecutor, SweepSpec, run_sweep, sweep_frame
from eiesim.sweep.layers import encoded_layer
from eiesim.sweep.sources import resolve
from eiesim.sweep.tasks import energy_columns

from tests.strategies import examples
from tests.sweep_helpers import TINY

LAYERS = (TINY, "synth:37x19:0.5:0", "synth:24x16:1:1", "mini:40x24:uniform:bias", "mini:45x21:heterogeneous:plain",
          "mini:33x18:heterogeneous:bias")
# Each sweep axis and values a grid draws from (rule overrides: absent means the profile's).
AXES = {
    "n_pe": [1, 2, 3, 4, 8],
    "queue_depth": [1, 2, 3, 8],
    "accumulators_per_pe": [1, 2, 5, 64],
    "index_bits": [1, 2, 4],
    "weight_bits": [1, 2, 3, 4],
    "spmat_width_bits": [8, 13, 64],
    "spmat_sram_kb": [0.25, 128.0],
    "clock_mhz": [400.0, 800.0, 1250.0],
    "precision": ["fixed", "float32"],
    "act_frac_bits": [4, 8],
    "timing": ["spec", "eie-cpp"],
    "lnzd": ["tree", "pack-scan"],
    "queue_slots": ["all", "ring"],
    "queue_refill": ["same-cycle", "next-cycle"],
    "block_end": ["pipeline", "drained"],
    "seed": [0, 1, 7],
}
ENCODING_AXES = ("n_pe", "accumulators_per_pe", "index_bits", "weight_bits", "seed")
MAX_POINTS = 16
# Columns that measure this machine, not the simulated chip.
WALL_CLOCK = {"sim_wall_s", "simulate_s", "load_s", "encode_s"}


@st.composite
def grids(draw) -> SweepSpec:
    """A grid of 1 or 2 layers, some axes varied (1 to 3 values), some fixed in the base."""
    layers = draw(st.lists(st.sampled_from(LAYERS), min_size=1, max_size=2, unique=True))
    # Two axes the sweep's caches key on are always varied, so every grid has points that
    # must not share a layer or an encoding.
    keyed = draw(st.lists(st.sampled_from(ENCODING_AXES), min_size=2, max_size=2, unique=True))
    axes = {name: draw(st.lists(st.sampled_from(AXES[name]), min_size=2, max_size=2, unique=True)) for name in keyed}
    base, points = {}, len(layers) * 4
    for name in draw(st.permutations([name for name in AXES if name not in keyed])):
        role = draw(st.sampled_from(["default", "base", "axis"]))
        if role == "base":
            base[name] = draw(st.sampled_from(AXES[name]))
        elif role == "axis":
            values = draw(st.lists(st.sampled_from(AXES[name]), min_size=1, max_size=3, unique=True))
            if points * len(values) <= MAX_POINTS:
                axes[name], points = values, points * len(values)
    ring = "ring" in axes.get("queue_slots", [base.get("queue_slots")]) or (
        "queue_slots" not in axes and "queue_slots" not in base and "eie-cpp" in axes.get("timing", [base.get("timing")]))
    if ring:  # queue_depth 1 leaves no usable ring slot: ArchConfig refuses it
        if base.get("queue_depth") == 1:
            base["queue_depth"] = 2
        if "queue_depth" in axes:
            axes["queue_depth"] = [d for d in axes["queue_depth"] if d != 1] or [2]
    engine = draw(st.sampled_from(["fast", "fast", "reference"]))
    return SweepSpec.build(layers, axes, base, engine=engine)


def direct_rows(spec: SweepSpec) -> dict[str, dict]:
    """point_hash -> the fields a row must hold, from a layer compressed and simulated
    directly for that point (no sweep cache, no memo)."""
    expected = {}
    for point in spec.points():
        cfg, source = point.config, resolve(point.layer)
        weights, acts = source.generate(point.seed)
        layer = compress_layer(weights, cfg, name=source.name, has_bias=source.has_bias,
                               activation=source.activation)
        r = simulate(layer, acts, cfg, engine=point.engine)
        m, k = layer.shape
        expected[point.point_hash] = {
            "layer": point.layer, "engine": point.engine, "seed": point.seed, **cfg.model_dump(),
            "rows_m": m, "cols_k": k, "weight_density": weights.nnz / (m * k),
            "act_density": np.count_nonzero(acts) / acts.size,
            "cycles": r.cycles, "time_us": r.cycles / cfg.clock_mhz, "n_blocks": len(r.block_cycles),
            **r.counters.to_dict(), **r.metrics,
            "per_pe_busy": list(r.per_pe.busy), "per_pe_starved": list(r.per_pe.starved),
            "per_pe_real": list(r.per_pe.real),
            "fits": r.fit.fits, "spmat_sram_used_bits": r.fit.spmat_bits, "ptr_sram_used_bits": r.fit.ptr_bits,
            "act_sram_used_bits": r.fit.act_bits,
            **energy_columns(r.energy),
        }
    return expected


def same(got, want) -> bool:
    if want is None:
        return got is None or (isinstance(got, float) and math.isnan(got))
    if isinstance(want, list):
        return list(got) == want
    return got == want


def check_rows(df: pd.DataFrame, expected: dict[str, dict], how: str) -> None:
    assert sorted(df["point_hash"]) == sorted(expected), how
    for row in df.to_dict("records"):
        want = expected[row["point_hash"]]
        wrong = {key: (row.get(key), value) for key, value in want.items() if not same(row.get(key), value)}
        assert not wrong, f"{how}: point {row['layer']} seed {row['seed']} differs in (row, direct) {wrong}"
        extra = set(row) - set(want) - WALL_CLOCK - {"point_hash", "config_hash", "code_version"}
        assert not extra, f"{how}: columns not checked: {sorted(extra)}"


def sweep_rows(spec: SweepSpec, root: Path, executor, cache: Path | None, chunk_size: int) -> pd.DataFrame:
    summary = run_sweep(spec, root, executor, cache_dir=cache, chunk_size=chunk_size, progress=False)
    assert (summary.computed, summary.skipped) == (spec.n_points, 0)
    return sweep_frame(spec, root)


@settings(max_examples=examples(10))
@given(spec=grids(), chunk_size=st.sampled_from([1, 2, 64]))
def test_serial_sweep_rows_equal_direct_simulation_cold_and_warm(spec, chunk_size):
    expected = direct_rows(spec)
    clear_caches()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        serial = SerialExecutor()
        check_rows(sweep_rows(spec, tmp / "cold", serial, tmp / "cache", chunk_size), expected, "cold")
        clear_caches()  # a new process: the layers come from the cache folder's files
        check_rows(sweep_rows(spec, tmp / "files", serial, tmp / "cache", chunk_size), expected, "warm files")
        # the same process again: the layers come from the memo
        check_rows(sweep_rows(spec, tmp / "memo", serial, None, chunk_size), expected, "warm memo")


@settings(max_examples=examples(2))
@given(spec=grids(), chunk_size=st.sampled_from([1, 2]))
def test_process_pool_sweep_rows_equal_direct_simulation(spec, chunk_size):
    expected = direct_rows(spec)
    with tempfile.TemporaryDirectory() as tmp, ProcessExecutor(2) as pool:
        tmp = Path(tmp)
        check_rows(sweep_rows(spec, tmp / "cold", pool, tmp / "cache", chunk_size), expected, "pool cold")
        check_rows(sweep_rows(spec, tmp / "warm", pool, tmp / "cache", chunk_size), expected, "pool warm")


def test_a_fixed_grid_over_the_encoding_axes_on_a_pool():
    # Every axis of the encoding varied against the others on two workers that keep their
    # memos between chunks of one point: each worker meets layers it encoded for other keys.
    spec = SweepSpec.build([TINY, "mini:40x24:uniform:bias"],
                           {"n_pe": [2, 3], "accumulators_per_pe": [2, 64], "index_bits": [1, 4],
                            "weight_bits": [2, 4], "seed": [0, 1]})
    expected = direct_rows(spec)
    with tempfile.TemporaryDirectory() as tmp, ProcessExecutor(2) as pool:
        check_rows(sweep_rows(spec, Path(tmp) / "store", pool, Path(tmp) / "cache", 1), expected, "pool")


ENCODED = ("code", "rel", "ptr", "start", "codebook", "bias_codebook")


@settings(max_examples=examples(6))
@given(layer=st.sampled_from(LAYERS), seed=st.sampled_from([0, 3]),
       fields=st.lists(st.fixed_dictionaries({
           name: st.sampled_from(AXES[name]) for name in ("n_pe", "accumulators_per_pe", "index_bits", "weight_bits")
       }), min_size=2, max_size=4))
def test_encoded_layer_cache_holds_one_encoding_per_array(layer, seed, fields):
    # encoded_layer (simulate, energy, baseline) keeps each array's encoding in the cache
    # folder: read back cold, from the files, in any order, it is the direct compression.
    configs = [ArchConfig(**f) for f in fields]
    source = resolve(layer)
    weights, acts = source.generate(seed)
    with tempfile.TemporaryDirectory() as cache:
        for round_ in ("cold", "files", "files again"):
            clear_caches()
            for cfg in configs if round_ != "files again" else configs[::-1]:
                got, got_acts = encoded_layer(layer, seed, cfg, cache)
                want = compress_layer(weights, cfg, name=source.name, has_bias=source.has_bias,
                                      activation=source.activation)
                for name in ENCODED:
                    np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=f"{round_} {name}")
                assert got.encoding == want.encoding
                np.testing.assert_array_equal(got_acts, acts)
