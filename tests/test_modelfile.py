"""The compressed-model file: exact round trip, and a clear error for every kind of bad file."""

import json

import numpy as np
import pytest

from compressor.csc import compress_layer
from compressor.synthetic import random_sparse_weights
from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.modelfile import VERSION, CompressedModel, _checksum, load_model, save_model

CONFIG = ArchConfig(n_pe=4, accumulators_per_pe=3, index_bits=2)


def small_model() -> CompressedModel:
    rng = np.random.default_rng(5)
    first = compress_layer(random_sparse_weights((30, 9), 0.3, rng), CONFIG, name="fc1")
    second = compress_layer(
        random_sparse_weights((7, 31), 0.2, rng), CONFIG, name="fc2", has_bias=True, activation="none"
    )
    return CompressedModel([first, second], CONFIG, source="unit test", metadata={"seed": 5})


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.npz"
    save_model(path, small_model())
    return path


def rewrite(path, change) -> None:
    """Apply ``change(manifest, arrays)`` and save again with a correct checksum."""
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    manifest = json.loads(arrays.pop("manifest").tobytes())
    manifest.pop("sha256")
    change(manifest, arrays)
    manifest["sha256"] = _checksum(manifest, arrays)
    np.savez(path, manifest=np.frombuffer(json.dumps(manifest).encode(), np.uint8), **arrays)


def test_round_trip_is_exact(saved):
    model, loaded = small_model(), load_model(saved)
    assert loaded.config == CONFIG and loaded.source == "unit test" and loaded.metadata == {"seed": 5}
    assert loaded.names == ["fc1", "fc2"]
    for a, b in zip(model.layers, loaded.layers):
        assert (a.shape, a.has_bias, a.activation) == (b.shape, b.has_bias, b.activation)
        for name in ("code", "rel", "ptr", "start", "codebook"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        np.testing.assert_array_equal(a.to_dense(), b.to_dense())
    assert loaded.layer("fc2").has_bias
    with pytest.raises(EieError, match="no layer 'fc3'"):
        loaded.layer("fc3")


def test_any_path_suffix_is_kept(tmp_path):
    path = save_model(tmp_path / "model.eie", small_model())
    assert path.name == "model.eie" and [p.name for p in tmp_path.iterdir()] == ["model.eie"]
    assert load_model(path).names == ["fc1", "fc2"]


def test_unreadable_files(tmp_path, saved):
    with pytest.raises(EieError, match="not found"):
        load_model(tmp_path / "missing.npz")
    with pytest.raises(EieError, match="is a directory"):
        load_model(tmp_path)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(EieError, match="not an .npz archive"):
        load_model(text)
    single = tmp_path / "single.npy"
    np.save(single, np.ones(3))
    with pytest.raises(EieError, match="not an .npz archive"):
        load_model(single)


def test_truncated_file(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(EieError, match="corrupt or truncated"):
        load_model(saved)


def test_a_flipped_byte_anywhere_gives_an_error_or_the_exact_model(saved, tmp_path):
    data, reference = saved.read_bytes(), small_model()
    errors = 0
    for at in range(0, len(data), 5):
        broken = tmp_path / "broken.npz"
        broken.write_bytes(data[:at] + bytes([data[at] ^ 0x5A]) + data[at + 1 :])
        try:
            loaded = load_model(broken)
        except EieError:
            errors += 1
            continue
        # Bytes outside the checked content (zip timestamps, padding) may change harmlessly.
        assert loaded.config == reference.config and loaded.metadata == reference.metadata
        for a, b in zip(reference.layers, loaded.layers):
            for name in ("code", "rel", "ptr", "start", "codebook"):
                np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert errors > len(data) // 10


def test_modified_array_fails_the_checksum(saved):
    with np.load(saved) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["layer0.code"] = arrays["layer0.code"].copy()
    arrays["layer0.code"][0] ^= 1
    np.savez(saved, **arrays)
    with pytest.raises(EieError, match="checksum mismatch"):
        load_model(saved)


def test_modified_codebook_fails_the_checksum(saved):
    with np.load(saved) as archive:
        arrays = {name: archive[name] for name in archive.files}
    manifest = json.loads(arrays.pop("manifest").tobytes())
    manifest["layers"][0]["codebook"][3] += 1e-9
    np.savez(saved, manifest=np.frombuffer(json.dumps(manifest).encode(), np.uint8), **arrays)
    with pytest.raises(EieError, match="checksum mismatch"):
        load_model(saved)


def _set_layer(field, value, index=0):
    def change(manifest, arrays):
        manifest["layers"][index][field] = value
    return change


def _set_array(name, edit):
    def change(manifest, arrays):
        arrays[name] = edit(arrays[name].copy())
    return change


def _with(arr, index, value):
    arr[index] = value
    return arr


def _trailing_filler(manifest, arrays):
    # Append a filler after the last entry of (block 0, PE 0)'s last column.
    code, rel, ptr = arrays["layer0.code"], arrays["layer0.rel"], arrays["layer0.ptr"].copy()
    at = ptr[0, 0, -1]
    arrays["layer0.code"] = np.insert(code, at, 0)
    arrays["layer0.rel"] = np.insert(rel, at, 3)
    ptr[0, 0, -1] += 1
    arrays["layer0.ptr"] = ptr
    arrays["layer0.start"] = arrays["layer0.start"] + np.r_[0, np.ones(arrays["layer0.start"].size - 1, np.int64)]


def _filler_with_wrong_index(manifest, arrays):
    code = arrays["layer0.code"].copy()
    code[0] = 0  # a filler needs z = 3 with 2-bit indices; the entry keeps its own z
    arrays["layer0.code"] = code
    rel = arrays["layer0.rel"].copy()
    rel[0] = 1
    arrays["layer0.rel"] = rel


def _claim_eight_pes(manifest, arrays):
    # Config and layers agree on N = 8, but the arrays were built for 4 PEs.
    manifest["config"]["n_pe"] = 8
    for layer in manifest["layers"]:
        layer["n_pe"] = 8


def _remove(name):
    def change(manifest, arrays):
        del arrays[name]
    return change


def _add_array(manifest, arrays):
    arrays["extra"] = np.zeros(2)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m, a: m.update(version=VERSION + 1), f"format version {VERSION + 1}"),
        (lambda m, a: m.update(format="something-else"), "not an eiesim compressed model"),
        (_remove("layer1.rel"), "missing array layer1.rel"),
        (_add_array, "unexpected array extra"),
        (lambda m, a: m["config"].update(n_pe=0), "n_pe"),
        (lambda m, a: m["config"].update(bogus=1), "unknown configuration key"),
        (lambda m, a: m.update(metadata=[1]), "'metadata'"),
        (_set_layer("n_pe", 8), "encoded with n_pe=8, the model's config has 4"),
        (_claim_eight_pes, "ptr has shape"),
        (_set_layer("shape", [30, 10]), "ptr has shape"),
        (_set_layer("shape", [29, 9]), "past row 28"),
        (_set_layer("shape", [30]), "positive integers"),
        (_set_layer("weight_bits", 0), "positive integers"),
        (_set_layer("activation", "tanh"), "activation"),
        (_set_layer("has_bias", 1), "'has_bias'"),
        (_set_layer("name", "fc2"), "distinct"),
        (_set_layer("codebook", [0.0, 1.0]), "codebook has 2 entries"),
        (_set_layer("codebook", [1.0] * 16), "codebook entry 0 is not 0"),
        (_set_layer("codebook", ["a"] * 16), "not a list of numbers"),
        (_set_layer("bias_codebook", [0.0, 1.0], 1), "bias codebook has 2 entries"),
        (_set_layer("bias_codebook", [1.0] * 16, 1), "bias codebook entry 0 is not 0"),
        (_set_layer("bias_codebook", "x", 1), "'bias_codebook' is not a list"),
        (_set_layer("bias_codebook", [0.0] * 16, 0), "a layer without a bias column has a bias codebook"),
        (_set_array("layer0.code", lambda a: _with(a, 0, 16)), "weight code lies outside 0..15"),
        (_set_array("layer0.rel", lambda a: _with(a, 0, 4)), "relative index lies outside 0..3"),
        (_set_array("layer0.code", lambda a: a.astype(np.int64)), "code must be uint8"),
        (_set_array("layer0.ptr", lambda a: _with(a, (0, 0, -1), a[0, 0, -1] + 1)), "start offsets"),
        (_set_array("layer0.ptr", lambda a: _with(a, (0, 1, 1), -1)), "does not start at 0|decrease"),
        (_set_array("layer0.start", lambda a: a[:-1]), "start has"),
        (_set_array("layer0.code", lambda a: a[:-1]), "rel has"),
        (_trailing_filler, "column ends with a filler"),
        (_filler_with_wrong_index, "filler's relative index"),
    ],
)
def test_inconsistent_files_name_the_problem(saved, change, message):
    rewrite(saved, change)
    with pytest.raises(EieError, match=message):
        load_model(saved)


def test_entry_past_the_last_local_row(tmp_path):
    # R = 3: the single entry of a column may sit at local rows 0..2 only.
    config = ArchConfig(n_pe=1, accumulators_per_pe=3)
    w = np.zeros((6, 1))
    w[2, 0] = 1.0
    path = save_model(tmp_path / "m.npz", CompressedModel([compress_layer(w, config, name="x")], config))
    rewrite(path, _set_array("layer0.rel", lambda a: _with(a, 0, 3)))
    with pytest.raises(EieError, match="past local row 2"):
        load_model(path)


def test_invalid_models_cannot_be_built_or_saved(tmp_path):
    layer = small_model().layers[0]
    with pytest.raises(EieError, match="at least one layer"):
        CompressedModel([], CONFIG)
    with pytest.raises(EieError, match="distinct"):
        CompressedModel([layer, layer], CONFIG)
    with pytest.raises(EieError, match="n_pe=4"):
        CompressedModel([layer], CONFIG.replace(n_pe=8))
    target = tmp_path / "m.npz"
    target.write_bytes(b"old")
    with pytest.raises(EieError, match="not plain JSON"):
        save_model(target, CompressedModel([layer], CONFIG, metadata={"x": object()}))
    # A failed save leaves the old file and no temporary file behind.
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_a_version_1_file_loads_and_info_names_its_version(saved, run_cli):
    def to_version_1(manifest, arrays):  # version 1 had no bias codebook
        manifest["version"] = 1
        for spec in manifest["layers"]:
            spec.pop("bias_codebook")

    rewrite(saved, to_version_1)
    assert load_model(saved).format_version == 1
    code, out, err = run_cli("info", saved)
    assert code == 0, err
    assert "eiesim compressed model, format version 1" in out
    assert small_model().format_version == VERSION
