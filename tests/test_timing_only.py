"""``simulate(..., outputs=False)``: the timing alone, every number but the output unchanged.

Checked on the cross-engine strategies (drawn layers under both timing profiles, broad and
congested layers), for every engine that supports the drawn rules.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compressor.csc import interleave
from eiesim.config import ArchConfig
from eiesim.engines import fast
from eiesim.simulation import simulate
from test_cross_engine import BROAD, drawn_cases
from test_engines import CODEBOOK
from test_fast_engine import CONGESTED, layer_cases


ENGINES = ("fast", "reference")


def assert_same_but_output(full, timing_only) -> None:
    assert timing_only.output is None and full.output is not None
    assert (timing_only.cycles, timing_only.block_cycles) == (full.cycles, full.block_cycles)
    assert timing_only.counters == full.counters
    assert timing_only.metrics == full.metrics
    for name in ("busy", "starved", "real"):
        assert getattr(timing_only.per_pe, name).tolist() == getattr(full.per_pe, name).tolist(), name
    assert timing_only.energy.to_dict() == full.energy.to_dict()
    assert timing_only.fit.to_dict() == full.fit.to_dict()
    full_json, timing_json = full.to_dict(), timing_only.to_dict()
    del full_json["sim_wall_s"], timing_json["sim_wall_s"]
    assert timing_json == full_json


@given(st.one_of(drawn_cases(), layer_cases(**BROAD), layer_cases(**CONGESTED)))
@settings(max_examples=150)
def test_timing_only_gives_every_number_of_the_full_run(case):
    layer, acts, config = case
    for engine in ENGINES:
        full = simulate(layer, acts, config, engine=engine)
        assert_same_but_output(full, simulate(layer, acts, config, engine=engine, outputs=False))


def test_timing_only_skips_the_arithmetic_and_its_tables(monkeypatch):
    # A fresh layer object: its tables are not cached yet.
    rng = np.random.default_rng(0)
    config = ArchConfig(n_pe=4, queue_depth=2, accumulators_per_pe=8)
    rows, cols = np.nonzero(rng.random((40, 30)) < 0.2)
    layer = interleave(rows, cols, rng.integers(1, 16, rows.size), (40, 30), CODEBOOK, config)
    acts = rng.normal(size=30)

    def forbidden(*args):
        raise AssertionError("the functional datapath ran")

    monkeypatch.setattr(fast, "layer_output", forbidden)
    monkeypatch.setattr(fast, "output_tables", forbidden)
    result = simulate(layer, acts, config, engine="fast", outputs=False)
    assert result.output is None and result.cycles > 0
    with pytest.raises(AssertionError, match="functional datapath"):
        simulate(layer, acts, config, engine="fast")


def test_sweep_rows_come_from_the_timing_only_path(tmp_path, monkeypatch):
    from eiesim.sweep import SweepSpec, run_sweep, sweep_frame

    from tests.sweep_helpers import TINY

    monkeypatch.setattr(fast, "layer_output", lambda *args: pytest.fail("a sweep computed outputs"))
    spec = SweepSpec.build([TINY], ["n_pe=2", "queue_depth=1,4"], engine="fast")
    run_sweep(spec, tmp_path / "store", progress=False)
    assert len(sweep_frame(spec, tmp_path / "store")) == 2
    assert np.all(sweep_frame(spec, tmp_path / "store")["cycles"] > 0)
