"""LeNet-300-100 on the digits, end to end: stages, pruning, weight sharing, EIE, CLI."""

import json
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from eiecore.errors import EieError  # noqa: E402
from eiesim.modelfile import load_model  # noqa: E402
from workloads import lenet  # noqa: E402
from workloads.digits import load_digits_split  # noqa: E402
from compressor.csc import share_matrix  # noqa: E402
from workloads.lenet import LeNetSettings, build_mlp, magnitude_prune, run_lenet  # noqa: E402

# Seconds, not a real training run: enough to exercise every stage.
TINY = LeNetSettings(dense_epochs=2, prune_steps=1, retrain_epochs=1, finetune_epochs=1, eie_images=3, check_images=2)


@pytest.fixture(scope="module")
def reduced():
    return run_lenet(LeNetSettings.reduced(), seed=0)


def test_reduced_run_reports_every_stage(reduced):
    names = [s.name for s in reduced.stages]
    assert names == ["dense", "pruned, before retraining", "pruned + retrained", "4-bit weight sharing",
                     "centroids fine-tuned", "centroids fine-tuned, EIE's images", "EIE fixed point"]
    # Like with like: the chip's accuracy on its 20 images sits under the float model's on
    # the same 20, and every row says how many test images it counts.
    assert [s.images for s in reduced.stages][-2:] == [20, 20] and reduced.test_images == 360
    assert reduced.stages[-2].accuracy == pytest.approx(reduced.float_accuracy_eie_images)
    md = reduced.to_markdown()
    assert "| stage | test images | test accuracy | note |" in md and "| dense | 360 |" in md
    assert "| EIE fixed point | 20 |" in md
    acc = {s.name: s.accuracy for s in reduced.stages}
    assert acc["dense"] > 0.85  # ten classes: chance is 0.1
    assert acc["pruned + retrained"] > 0.8 and acc["centroids fine-tuned"] > 0.8
    assert acc["pruned, before retraining"] <= acc["pruned + retrained"] + 0.05


def test_layers_keep_dc_densities_and_run_on_eie(reduced):
    assert [layer.name for layer in reduced.layers] == ["fc1", "fc2", "fc3"]
    assert [layer.shape for layer in reduced.layers] == [(300, 65), (100, 301), (10, 101)]
    for layer, density in zip(reduced.layers, lenet.DC_LENET_DENSITIES):
        assert layer.kept == round(density * layer.weights)
        assert len(layer.cycles) == 20 and min(layer.cycles) > 0
        assert 0 < layer.act_density <= 1
    assert [layer.activation for layer in reduced.layers] == ["relu", "relu", "none"]
    assert reduced.engine_matches_functional is True
    assert reduced.latency_us == pytest.approx(sum(np.mean(layer.cycles) for layer in reduced.layers) / 800)
    assert reduced.energy_pj == pytest.approx(sum(np.mean(layer.energy_pj) for layer in reduced.layers))
    data = reduced.to_dict()
    json.dumps(data, allow_nan=False)
    assert data["eie"]["images"] == 20 and data["deep_compression_reference"]["ratio"] == 40.0
    assert "| fc2 | 100 x 301 | 9.0% |" in reduced.to_markdown()


def test_storage_in_both_layouts(reduced):
    assert list(reduced.storage) == ["single stream", "EIE 64 PEs"]
    single, eie = reduced.storage.values()
    for report in (single, eie):
        for storage, layer in zip(report.layers, reduced.layers):
            assert storage.shape == layer.shape and storage.dense_bits == 32 * layer.shape[0] * layer.shape[1]
            assert layer.kept <= storage.real <= layer.kept + layer.shape[0]  # kept weights + biases
    # One list per layer needs K + 1 pointers; 64 interleaved lists need 64 x (K + 1).
    assert [s.pointers_bits for s in single.layers] == [16 * k for k in (66, 302, 102)]
    assert [s.pointers_bits for s in eie.layers] == [16 * 64 * k for k in (66, 302, 102)]
    assert single.total.ratio_huffman > 20 > eie.total.ratio_huffman
    assert "| total | 197.7 |" in reduced.storage_markdown()


def test_same_seed_same_result_other_seed_differs():
    a, b = run_lenet(TINY, seed=5), run_lenet(TINY, seed=5)
    assert a.to_dict() == b.to_dict()
    c = run_lenet(TINY, seed=6)
    assert c.to_dict()["stages"] != a.to_dict()["stages"] or c.to_dict()["layers"] != a.to_dict()["layers"]


def test_global_torch_state_is_restored():
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    run_lenet(replace(TINY, eie_images=1), seed=1)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic


def test_magnitude_prune_keeps_the_exact_count_with_ties_by_index():
    model = build_mlp(4, (3, 2))
    with torch.no_grad():
        model.fc1.weight.copy_(torch.tensor([[1.0, -1.0, 0.5, 1.0]] * 3))
    magnitude_prune(model, (0.5, 1.0, 0.5))
    mask = model.fc1.weight_mask.numpy()
    # Six of twelve kept: the nine |w| = 1 tie, so the first six of them by flat index win.
    expected = np.zeros(12)
    expected[[0, 1, 3, 4, 5, 7]] = 1
    np.testing.assert_array_equal(mask.ravel(), expected)
    assert int(model.fc3.weight_mask.sum()) == 10


def test_share_matrix_keeps_pattern_and_uses_15_values():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(20, 9)) * (rng.random((20, 9)) < 0.5)
    shared = share_matrix(m, 4, has_bias=True)
    q = shared.matrix()
    np.testing.assert_array_equal(q != 0, m != 0)
    weights, bias = q[:, :-1], q[:, -1]
    # The last column is the bias, in its own codebook: the 70 distinct weights get all 15
    # values; the 10 non-zero biases (fewer than 15) keep their exact values.
    assert len(np.unique(weights[weights != 0])) == 15 and len(np.unique(bias[bias != 0])) == 10
    np.testing.assert_array_equal(bias, m[:, -1])
    assert shared.codebook[0] == 0 and shared.bias_codebook[0] == 0
    assert set(np.unique(bias[bias != 0])) <= set(shared.bias_codebook[1:])


def test_digits_split_is_fixed_and_nothing_downloaded():
    a, b = load_digits_split(3), load_digits_split(3)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert a.x_train.shape == (1437, 64) and a.x_test.shape == (360, 64)
    assert a.x_train.min() == 0 and a.x_train.max() == 1
    assert not np.array_equal(load_digits_split(4).y_test, a.y_test)
    with pytest.raises(EieError, match="test fraction"):
        load_digits_split(0, 1.5)


@pytest.mark.parametrize("change, message", [
    ({"densities": (0.1, 0.0, 0.2)}, "densities must be three fractions"),
    ({"densities": (0.1, 0.2)}, "densities must be three fractions"),
    ({"hidden": (0, 10)}, "hidden must be two positive"),
    ({"dense_epochs": 0}, "dense_epochs must be at least 1"),
    ({"eie_images": 0}, "eie_images must be at least 1"),
    ({"check_images": -1}, "check_images must be at least 0"),
    ({"eie_settings": (("n_pe", 8),)}, "eie_settings must not hold n_pe: it is a setting of its own"),
])
def test_bad_settings_are_refused(change, message):
    with pytest.raises(EieError, match=message):
        run_lenet(replace(TINY, **change))


def test_cli_lenet_writes_json(run_cli, tmp_path, monkeypatch):
    monkeypatch.setattr(LeNetSettings, "reduced", classmethod(lambda cls: TINY))
    out = tmp_path / "lenet.json"
    code, stdout, err = run_cli("lenet", "--seed", "2", "--pes", "16", "--set", "queue_depth=2", "--json", out,
                                "--export", tmp_path)
    assert code == 0, err
    assert "| EIE fixed point |" in stdout and "(16 PEs" in stdout
    data = json.loads(out.read_text())
    assert data["seed"] == 2 and data["settings"]["n_pe"] == 16 and len(data["layers"]) == 3
    assert data["settings"]["eie_settings"] == [["queue_depth", 2]]
    # --set reaches the chip the network was compressed for and run on.
    assert load_model(tmp_path / "lenet.eie").config.settings() == {"n_pe": 16, "queue_depth": 2}
    # The exported network runs under 'eiesim infer': on the chip, calibrated on the training
    # images, it classifies every test image as the float model does.
    report = tmp_path / "infer.json"
    code, _, err = run_cli("infer", "--model", tmp_path / "lenet.eie", "--inputs", tmp_path / "test_x.npy",
                           "--labels", tmp_path / "test_y.npy", "--calibration", tmp_path / "train_x.npy",
                           "--json", report)
    assert code == 0, err
    summary = json.loads(report.read_text())
    assert summary["vs_float"]["top1_agreement"] == 1.0
    assert summary["accuracy"]["chip"] == summary["accuracy"]["float"] == pytest.approx(data["stages"][4]["accuracy"])
    code, _, err = run_cli("lenet", "--export", tmp_path / "absent" / "deeper")
    assert code == 1 and "--export" in err and "does not exist" in err
    code, _, err = run_cli("lenet", "--pes", "0")
    assert code == 2 and "Invalid value for '--pes'" in err
    code, _, err = run_cli("lenet", "--pes", "8", "--set", "n_pe=4")
    assert code == 1 and err == "eiesim: error: --set n_pe=4: n_pe is already set by a named option\n"
