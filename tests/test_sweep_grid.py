"""Sweep grids: parsing, validation before anything runs, point identity and grouping."""

from __future__ import annotations

import pytest

from eiecore.errors import EieError
from eiesim.sweep import SweepSpec, parse_axis, parse_layers, parse_values, plan_chunks
from workloads.benchmarks import BENCHMARKS

from tests.sweep_helpers import SMALL, TINY


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("n_pe=1,2,4", [1, 2, 4]),
        ("n_pe=1..256:pow2", [1, 2, 4, 8, 16, 32, 64, 128, 256]),
        ("queue_depth=3..20:pow2", [4, 8, 16]),
        ("queue_depth=2..5", [2, 3, 4, 5]),
        ("spmat_width_bits=32..128:32", [32, 64, 96, 128]),
        ("clock_mhz=500..1000:250", [500.0, 750.0, 1000.0]),
        ("precision=fixed,float32", ["fixed", "float32"]),
        ("strict_fit=true,false", [True, False]),
        ("seed=0,1,1", [0, 1]),
    ],
)
def test_axis_parsing(text, values):
    assert parse_axis(text)[1] == values


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("n_pes=1,2", "unknown field 'n_pes'"),
        ("n_pe=two", "bad value 'two' for field n_pe"),
        ("n_pe=1.5", "bad value '1.5' for field n_pe"),
        ("n_pe=8..2", "empty range '8..2' for field n_pe"),
        ("n_pe=1..8:0", "step must be positive"),
        ("n_pe=0..8:pow2", "pow2 needs integers >= 1"),
        ("precision=double", "bad value 'double' for field precision: choose one of fixed, float32"),
        ("strict_fit=maybe", "expected true or false"),
        ("n_pe", "expected FIELD=VALUES"),
        ("=1,2", "expected FIELD=VALUES"),
        ("n_pe=", "no values for field n_pe"),
    ],
)
def test_bad_axis_names_the_problem(text, message):
    with pytest.raises(EieError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_axis(text)


def test_layers_all_and_synthetic():
    assert parse_layers("all") == list(BENCHMARKS)
    assert parse_layers("alex-6, VGG-8,alex-6") == ["Alex-6", "VGG-8"]
    assert parse_layers(["synth:10x20:0.50:1"]) == ["synth:10x20:0.5:1"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [("Alex-9", "unknown benchmark 'Alex-9'"), ("synth:0x4:0.1:0.5", "bad synthetic layer"),
     ("synth:4x4:0:0.5", "bad synthetic layer"), (",", "no layers given")],
)
def test_bad_layers(spec, message):
    with pytest.raises(EieError, match=message):
        parse_layers(spec)


def test_every_point_is_validated_before_running():
    with pytest.raises(EieError, match=r"grid point n_pe=1 spmat_width_bits=4: .*spmat_width_bits"):
        SweepSpec.build(TINY, ["n_pe=1", "spmat_width_bits=4,64"])
    with pytest.raises(EieError, match="field n_pe given twice"):
        SweepSpec.build(TINY, ["n_pe=1", "n_pe=2"])
    with pytest.raises(EieError, match="unknown engine 'turbo'"):
        SweepSpec.build(TINY, ["n_pe=1"], engine="turbo")
    with pytest.raises(EieError, match="unknown field 'colour'"):
        SweepSpec.build(TINY, [], base={"colour": 1})


def test_points_product_base_and_seed():
    spec = SweepSpec.build([TINY, SMALL], ["n_pe=1,2", "seed=3,4"], base={"queue_depth": 2})
    points = spec.points()
    assert spec.n_points == len(points) == 8
    assert {p.seed for p in points} == {3, 4}
    assert all(p.config.queue_depth == 2 for p in points)
    assert len({p.point_hash for p in points}) == 8


def test_point_hash_depends_on_every_input():
    base = SweepSpec.build(TINY, ["n_pe=2"]).points()[0]
    others = [
        SweepSpec.build(SMALL, ["n_pe=2"]).points()[0],
        SweepSpec.build(TINY, ["n_pe=2", "seed=1"]).points()[0],
        SweepSpec.build(TINY, ["n_pe=2"], engine="reference").points()[0],
        SweepSpec.build(TINY, ["n_pe=2", "clock_mhz=801"]).points()[0],
    ]
    assert base.point_hash == SweepSpec.build(TINY, ["n_pe=2"]).points()[0].point_hash
    assert len({base.point_hash, *(p.point_hash for p in others)}) == 5
    assert base.config_hash == others[0].config_hash


def test_chunks_share_one_encoding_key():
    spec = SweepSpec.build([TINY, SMALL], ["n_pe=1,2,4", "queue_depth=1..8:pow2", "spmat_width_bits=64,128"])
    chunks = plan_chunks(spec.points(), chunk_size=3)
    assert sum(map(len, chunks)) == spec.n_points
    assert all(len({p.encoding_key for p in chunk}) == 1 and len(chunk) <= 3 for chunk in chunks)
    # 2 layers x 3 PE counts = 6 keys of 8 points each -> 3 chunks per key
    assert len(chunks) == 18
    # queue depth, SRAM width, precision and clock do not change the encoding
    pa = SweepSpec.build(TINY, ["n_pe=4"]).points()[0]
    pb = SweepSpec.build(TINY, ["n_pe=4", "queue_depth=64", "spmat_width_bits=128", "clock_mhz=1",
                                "precision=float32"]).points()[0]
    assert pa.encoding_key == pb.encoding_key and pa.point_hash != pb.point_hash


def test_toml_spec(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(f'layers = ["{TINY}"]\nengine = "reference"\n[grid]\nn_pe = [1, 2]\n'
                    'queue_depth = "1..4:pow2"\n[base]\nclock_mhz = 1000\n')
    spec = SweepSpec.from_toml(path)
    assert spec.layers == [TINY] and spec.engine == "reference"
    assert spec.axes == {"n_pe": [1, 2], "queue_depth": [1, 2, 4]}
    assert all(p.config.clock_mhz == 1000 for p in spec.points())
    # the command line overrides the file
    assert SweepSpec.from_toml(path, axes=["n_pe=8"]).axes["n_pe"] == [8]


@pytest.mark.parametrize(
    ("text", "message"),
    [("layers = [", "bad sweep file"), ("colour = 1", "unknown key 'colour'"),
     ("[grid]\nn_pe = [0]", "grid point n_pe=0"), ("[grid]\nn_pe = [1.5]", "bad value 1.5")],
)
def test_bad_toml(tmp_path, text, message):
    path = tmp_path / "grid.toml"
    path.write_text(f'layers = "{TINY}"\n' + text if not text.startswith("layers") else text)
    with pytest.raises(EieError, match=message):
        SweepSpec.from_toml(path)


def test_parse_values_keeps_order_and_drops_duplicates():
    assert parse_values("n_pe", "4,1,4,2") == [4, 1, 2]
