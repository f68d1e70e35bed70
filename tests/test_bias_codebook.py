"""The bias column's own codebook: biases never take the weights' shared values."""

import numpy as np
import pytest

from compressor.csc import compress_layer
from eiesim.config import ArchConfig
from eiesim.functional import functional_output
from eiesim.modelfile import CompressedModel, load_model, save_model
from eiesim.simulation import prepare_activations, simulate

CONFIG = ArchConfig(n_pe=2, accumulators_per_pe=4)


def test_biases_get_their_own_codebook_and_weights_keep_all_15_values():
    # 40 distinct weights in [1, 2] and 8 distinct biases in [-9, -5]: clustered together, the
    # biases would take centroids; apart, the weights use all 15 codes of their codebook.
    rng = np.random.default_rng(0)
    w = np.zeros((8, 11))
    w[:, :10][rng.random((8, 10)) < 0.5] = 1.0
    w[w != 0] = np.linspace(1.0, 2.0, int(np.count_nonzero(w)))
    w[:, 10] = np.linspace(-9.0, -5.0, 8)
    layer = compress_layer(w, CONFIG, name="x", has_bias=True, activation="none")
    row, col, code = layer.real_entries()
    weight_codes = set(code[col < 10].tolist())
    assert weight_codes == set(range(1, 16))
    assert np.all((layer.codebook[1:] >= 1.0) & (layer.codebook[1:] <= 2.0))
    # Eight distinct biases: each its own bias centroid, exactly.
    assert sorted(layer.bias_codebook[1:9]) == pytest.approx(np.linspace(-9.0, -5.0, 8))
    np.testing.assert_array_equal(layer.to_dense()[:, 10], w[:, 10])
    assert layer.codebook_entries == 32


def test_engines_decode_the_bias_column_through_the_bias_codebook(engine):
    # W = [[0.5, 0.25 | 3], [0.5, 0 | -2]]: weight codebook {0.25, 0.5} (codes 1, 2), bias
    # codebook {-2, 3} (codes 1, 2): the same codes, other values. With a = (1, 2):
    # row 0: 0.5 + 0.25 * 2 + 3 = 4; row 1: 0.5 - 2 = -1.5. Decoding the bias through the
    # weight codebook would give 0.5 + 0.5 + 0.5 = 1.5 and 0.5 + 0.25 = 0.75.
    w = np.array([[0.5, 0.25, 3.0], [0.5, 0.0, -2.0]])
    layer = compress_layer(w, CONFIG, name="x", has_bias=True, activation="none")
    assert list(layer.codebook[1:3]) == [0.25, 0.5] and list(layer.bias_codebook[1:3]) == [-2.0, 3.0]
    result = simulate(layer, np.array([1.0, 2.0]), CONFIG, engine=engine)
    np.testing.assert_array_equal(result.output, [4.0, -1.5])
    converted = prepare_activations(layer, np.array([1.0, 2.0]), CONFIG)
    np.testing.assert_array_equal(functional_output(layer, converted, CONFIG), [4.0, -1.5])


def test_engines_agree_on_random_layers_with_bias_codebooks():
    rng = np.random.default_rng(3)
    for trial in range(5):
        w = rng.normal(0, 0.3, (23, 17)) * (rng.random((23, 17)) < 0.3)
        w[:, -1] = rng.normal(0, 2.0, 23)  # biases far outside the weights' range
        layer = compress_layer(w, CONFIG, name="x", has_bias=True, activation="relu")
        a = rng.uniform(-1, 1, 16) * (rng.random(16) < 0.6)
        ref, fast = simulate(layer, a, CONFIG, engine="reference"), simulate(layer, a, CONFIG, engine="fast")
        expected = functional_output(layer, prepare_activations(layer, a, CONFIG), CONFIG)
        np.testing.assert_array_equal(ref.output, expected)
        np.testing.assert_array_equal(fast.output, expected)
        assert ref.cycles == fast.cycles and ref.counters == fast.counters


def test_storage_counts_both_tables_and_files_keep_them(tmp_path):
    from compressor.report import layer_storage

    w = np.array([[0.5, 0.25, 3.0], [0.5, 0.0, -2.0]])
    with_bias = compress_layer(w, CONFIG, name="x", has_bias=True)
    without = compress_layer(w[:, :2], CONFIG, name="y")
    assert layer_storage(with_bias, 16, 16).codebook_bits == 2 * 16 * 16
    assert layer_storage(without, 16, 16).codebook_bits == 16 * 16 and without.bias_codebook is None
    path = save_model(tmp_path / "m.eie", CompressedModel([with_bias, without], CONFIG))
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.layers[0].bias_codebook, with_bias.bias_codebook)
    assert loaded.layers[1].bias_codebook is None
    np.testing.assert_array_equal(loaded.layers[0].to_dense(), w)


def test_version_1_files_keep_the_bias_in_the_weights_codebook(tmp_path):
    """A file from before bias codebooks: the bias column decodes through the one codebook."""
    import json

    from eiesim.modelfile import _checksum
    from compressor.quantize import share_weights
    from compressor.csc import interleave

    w = np.array([[0.5, 0.25, 3.0], [0.5, 0.0, -2.0]])
    rows, cols = np.nonzero(w)
    shared = share_weights(w[rows, cols], 4)
    joint = interleave(rows, cols, shared.codes, w.shape, shared.codebook, CONFIG, name="x", has_bias=True)
    path = save_model(tmp_path / "old.eie", CompressedModel([joint], CONFIG))
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    manifest = json.loads(arrays.pop("manifest").tobytes())
    manifest.pop("sha256")
    manifest["version"] = 1
    del manifest["layers"][0]["bias_codebook"]
    manifest["sha256"] = _checksum(manifest, arrays)
    np.savez(path, manifest=np.frombuffer(json.dumps(manifest).encode(), np.uint8), **arrays)
    old = load_model(path).layers[0]
    assert old.bias_codebook is None and old.bias_column == -1
    np.testing.assert_array_equal(old.to_dense(), w)
    np.testing.assert_array_equal(simulate(old, np.array([1.0, 2.0]), CONFIG).output, [4.0, 0.0])  # relu


def test_one_pass_keeps_the_bias_codebook(engine):
    # eie-cpp runs a layer of several row blocks as one pass (re-encoded): the bias column
    # must still decode through its own codebook. N = 2, R = 1: 6 rows are 3 blocks under
    # spec, one pass under eie-cpp; both outputs equal the functional model.
    w = np.zeros((6, 3))
    w[:, 0] = [0.5, 0.25, 0.5, 0.25, 0.5, 0.25]
    w[:, 2] = [3.0, -2.0, 3.0, -2.0, 3.0, -2.0]
    config = ArchConfig(n_pe=2, accumulators_per_pe=1)
    layer = compress_layer(w, config, name="x", has_bias=True, activation="none")
    for timing in ("spec", "eie-cpp"):
        cfg = config.replace(timing=timing)
        result = simulate(layer, np.array([2.0, 1.0]), cfg, engine=engine)
        # rows: 0.5 * 2 + 3 = 4 and 0.25 * 2 - 2 = -1.5, alternating
        assert result.output.tolist() == [4.0, -1.5] * 3, timing
