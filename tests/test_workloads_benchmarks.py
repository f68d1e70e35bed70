"""The nine benchmark layers (SPEC §2): shapes, exact densities, activation signs, seeds."""

import numpy as np
import pytest

from compressor.synthetic import exact_count
from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.numerics import convert_activations
from workloads.benchmarks import (
    BENCHMARKS,
    benchmark_activation_batch,
    benchmark_activations,
    benchmark_layer,
    benchmark_names,
    _rngs,
    benchmark_weights,
    get_benchmark,
)

# EIE Table III, verbatim: inputs, outputs, weight density, activation density.
TABLE_III = {
    "Alex-6": (9216, 4096, 0.09, 0.351),
    "Alex-7": (4096, 4096, 0.09, 0.353),
    "Alex-8": (4096, 1000, 0.25, 0.375),
    "VGG-6": (25088, 4096, 0.04, 0.183),
    "VGG-7": (4096, 4096, 0.04, 0.375),
    "VGG-8": (4096, 1000, 0.23, 0.411),
    "NT-We": (4096, 600, 0.10, 1.0),
    "NT-Wd": (600, 8791, 0.11, 1.0),
    "NT-LSTM": (1201, 2400, 0.10, 1.0),
}
# Generating the three largest layers takes seconds each; the code path is the same.
SMALL = ["Alex-8", "VGG-7", "VGG-8", "NT-We", "NT-Wd", "NT-LSTM"]


def test_table_matches_spec():
    assert list(BENCHMARKS) == list(TABLE_III)
    for name, (k, m, wd, ad) in TABLE_III.items():
        b = BENCHMARKS[name]
        assert (b.inputs, b.outputs, b.weight_density, b.act_density) == (k, m, wd, ad)
    assert [b.name for b in BENCHMARKS.values() if b.has_bias] == ["NT-LSTM"]


@pytest.mark.parametrize("name", SMALL)
def test_weights_have_the_exact_density(name):
    k, m, wd, _ = TABLE_III[name]
    w = benchmark_weights(name, seed=3)
    assert w.shape == (m, k)
    w.sum_duplicates()
    assert w.nnz == exact_count(m * k, wd) == np.count_nonzero(w.data)


@pytest.mark.parametrize("name", list(TABLE_III))
def test_activations_have_the_table_density_and_sign(name):
    k, _, _, ad = TABLE_III[name]
    bench = get_benchmark(name)
    a = benchmark_activations(name, seed=3)
    assert a.shape == (k - int(bench.has_bias),)
    assert np.count_nonzero(a) == exact_count(a.size, ad)
    if name.startswith("NT-"):
        assert np.all(a != 0) and np.any(a < 0) and np.any(a > 0)
    else:
        assert np.all(a >= 0)
    # None vanishes in the default fixed-point format, so K' is the table's count.
    assert np.count_nonzero(convert_activations(a, ArchConfig())) == np.count_nonzero(a)


@pytest.mark.parametrize("name", ["VGG-8", "NT-LSTM"])
def test_same_seed_same_layer_other_seed_other_layer(name):
    w0, w0b, w1 = (benchmark_weights(name, s) for s in (0, 0, 1))
    assert (w0 != w0b).nnz == 0
    assert (w0 != w1).nnz > 0
    a0, a0b, a1 = (benchmark_activations(name, s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a0, a0b)
    assert not np.array_equal(a0, a1)


def test_each_layer_draws_from_its_own_stream():
    # Layers of one seed must not share random draws (else Alex-8 and VGG-8, same shape,
    # would place their first weights alike). The streams are SeedSequence([seed, index])
    # spawned into (weights, activations); compare the first draws of every pair.
    firsts = [tuple(rng.random() for rng in _rngs(bench, 0)) for bench in BENCHMARKS.values()]
    draws = [x for pair in firsts for x in pair]
    assert len(set(draws)) == 2 * len(BENCHMARKS)


def test_benchmark_names_expand_all_in_one_place():
    nine = ["Alex-6", "Alex-7", "Alex-8", "VGG-6", "VGG-7", "VGG-8", "NT-We", "NT-Wd", "NT-LSTM"]
    assert benchmark_names() == benchmark_names("all") == benchmark_names("ALL") == nine
    assert benchmark_names(["vgg-8", "All", "alex-6"]) == ["VGG-8", *[n for n in nine if n != "VGG-8"]]
    assert benchmark_names("nt-we") == ["NT-We"]
    with pytest.raises(EieError, match="unknown benchmark 'VGG-9'"):
        benchmark_names(["all", "VGG-9"])


def test_names_are_case_insensitive_and_unknown_names_fail():
    assert get_benchmark("vgg-6").name == "VGG-6"
    with pytest.raises(EieError, match="unknown benchmark 'VGG-9'"):
        get_benchmark("VGG-9")


def test_activation_batch_starts_with_the_single_frame_and_keeps_densities():
    batch = benchmark_activation_batch("Alex-8", 5, seed=2)
    assert batch.shape == (4096, 5)
    np.testing.assert_array_equal(batch[:, 0], benchmark_activations("Alex-8", 2))
    assert all(np.count_nonzero(batch[:, f]) == exact_count(4096, 0.375) for f in range(5))
    assert np.all(batch >= 0)
    assert not np.array_equal(batch[:, 1], batch[:, 2])
    np.testing.assert_array_equal(batch, benchmark_activation_batch("Alex-8", 5, seed=2))
    nt = benchmark_activation_batch("NT-LSTM", 3, seed=2)
    assert nt.shape == (1200, 3) and np.all(nt != 0)


def test_activation_batch_rejects_an_empty_batch():
    with pytest.raises(EieError, match="batch must be at least 1"):
        benchmark_activation_batch("Alex-8", 0)


def test_benchmark_layer_encodes_the_weights_for_the_config():
    config = ArchConfig(n_pe=16)
    layer, acts = benchmark_layer("NT-LSTM", config, seed=4)
    assert layer.shape == (2400, 1201) and layer.n_pe == 16
    assert layer.has_bias and layer.activation == "none" and layer.name == "NT-LSTM"
    assert layer.n_real == benchmark_weights("NT-LSTM", 4).nnz
    np.testing.assert_array_equal(acts, benchmark_activations("NT-LSTM", 4))
    assert [b.name for b in BENCHMARKS.values() if b.activation == "relu"] == [
        "Alex-6", "Alex-7", "VGG-6", "VGG-7"]


def test_cli_seed_selects_the_benchmark_instance(run_cli, tmp_path):
    import json

    runs = []
    for seed in (1, 2):  # the same seed giving the same layer is pinned at function level above
        out = tmp_path / f"s{seed}.json"
        code, _, err = run_cli("simulate", "--benchmark", "NT-We", "--seed", seed, "--json", out)
        assert code == 0, err
        runs.append(json.loads(out.read_text()))
    one, two = ({k: r[k] for k in ("cycles", "counters")} for r in runs)
    assert one != two
