"""The layer cache shared by simulate, energy, baseline and paper: the cached layer is
exactly the freshly compressed one, and a warm cache skips k-means and interleaving."""

import numpy as np
import pytest

import compressor.csc
from compressor.csc import compress_layer
import compressor.quantize
from eiesim.config import ArchConfig
from eiesim.sweep import layers
from workloads.benchmarks import benchmark_activations, benchmark_layer, benchmark_weights

FIELDS = ("code", "rel", "ptr", "start", "codebook", "bias_codebook")


def same_layer(a, b) -> None:
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    assert (a.shape, a.n_pe, a.accumulators_per_pe, a.name, a.has_bias, a.activation) == (
        b.shape, b.n_pe, b.accumulators_per_pe, b.name, b.has_bias, b.activation)


@pytest.fixture
def cold_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    layers._MEMO.clear()
    return tmp_path / "eiesim" / "layers"


def test_cached_benchmark_layer_is_the_compressed_layer_cold_and_warm(cold_cache, monkeypatch):
    config = ArchConfig(n_pe=8, accumulators_per_pe=16)
    fresh = compress_layer(benchmark_weights("NT-LSTM", 3), config, name="NT-LSTM", has_bias=True,
                           activation="none")
    cold, acts = benchmark_layer("NT-LSTM", config, seed=3)
    same_layer(cold, fresh)
    np.testing.assert_array_equal(acts, benchmark_activations("NT-LSTM", 3))
    assert len(list(cold_cache.glob("_eiesim-cache-code-*/*.eiesim-cache.npz"))) == 2  # the shared layer and its encoding

    # Warm, in a new process (empty memo): neither k-means nor interleaving may run.
    layers._MEMO.clear()

    def forbidden(*args, **kwargs):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(compressor.quantize, "share_weights", forbidden)
    monkeypatch.setattr(layers, "share_matrix", forbidden)
    monkeypatch.setattr(compressor.csc, "interleave", forbidden)
    warm, warm_acts = benchmark_layer("NT-LSTM", config, seed=3)
    same_layer(warm, fresh)
    np.testing.assert_array_equal(warm_acts, acts)


def test_each_array_gets_its_own_encoding_and_a_corrupt_one_is_rebuilt(cold_cache):
    small, big = ArchConfig(n_pe=4), ArchConfig(n_pe=16)
    a, _ = benchmark_layer("NT-We", small)
    b, _ = benchmark_layer("NT-We", big)
    assert (a.n_pe, b.n_pe) == (4, 16) and a.ptr.shape != b.ptr.shape
    encoded = sorted(cold_cache.glob("_eiesim-cache-code-*/NT-We-v1-s0-b4-n*.npz"))
    assert len(encoded) == 2
    encoded[0].write_bytes(b"not an npz")  # n16 sorts first
    again, _ = benchmark_layer("NT-We", big)
    same_layer(again, b)


def test_an_unwritable_cache_still_gives_the_layer(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    layers._MEMO.clear()
    assert layers.default_cache_folder() is None
    layer, _ = benchmark_layer("NT-We", ArchConfig(n_pe=4))
    same_layer(layer, compress_layer(benchmark_weights("NT-We", 0), ArchConfig(n_pe=4), name="NT-We",
                                     activation="none"))
