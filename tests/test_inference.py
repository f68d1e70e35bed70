"""Whole-network inference: chaining, per-layer formats, recurrent stages, statistics, errors."""

import json

import numpy as np
import pytest

from compressor.csc import compress_layer
from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.inference import Network, agreement, choose_formats, infer
from eiesim.modelfile import CompressedModel, save_model
from eiesim.numerics import frac_bits_for

SMALL = ArchConfig(n_pe=2, accumulators_per_pe=4)


def model_of(*layers, config=SMALL, stages=None):
    metadata = {} if stages is None else {"network": {"stages": stages, "skipped": []}}
    return CompressedModel(layers, config, metadata=metadata)


def chain():
    """W1 = [[1, 0.5], [-1, 2]] with ReLU, then W2 = [[1, 1]]: every value exact in fixed point."""
    w1 = compress_layer(np.array([[1.0, 0.5], [-1.0, 2.0]]), SMALL, name="a", activation="relu")
    w2 = compress_layer(np.array([[1.0, 1.0]]), SMALL, name="b", activation="none")
    return model_of(w1, w2)


@pytest.mark.parametrize("max_abs, bits, expected", [
    (1.0, 16, 14),  # 1 * 2^15 = 32768 > 32767; 1 * 2^14 fits
    (0.5, 16, 15),  # 0.5 * 2^15 = 16384 fits; 15 is the most a 16-bit word allows
    (0.0, 16, 15),
    (3.0, 16, 13),  # 3 * 2^14 = 49152 > 32767; 3 * 2^13 = 24576 fits
    (32767.0, 16, 0),
    (1e9, 16, 0),  # nothing fits: 0 fraction bits (and saturation)
    (1.0, 8, 6),  # 1 * 2^7 = 128 > 127
    (4.0, 8, 4),  # 4 * 2^5 = 128 > 127; 4 * 2^4 = 64
    (3.4, 16, 13),  # 3.4 * 2^14 = 55705 > 32767; 3.4 * 2^13 = 27853
    (0.2, 16, 15),  # 0.2 * 2^15 = 6554
])
def test_frac_bits_for(max_abs, bits, expected):
    assert frac_bits_for(max_abs, bits) == expected


def test_auto_formats_cover_partial_sums_not_only_outputs():
    # Row [3, -3] on input [1, 1]: output 0, but the accumulator holds 3 after the first add,
    # so 3 must fit: 13 activation fraction bits (3 * 2^14 > 32767). Codebook max |w| = 3: 13 too.
    layer = compress_layer(np.array([[3.0, -3.0]]), SMALL, name="x", activation="none")
    formats = choose_formats(Network(model_of(layer)), SMALL, np.array([[1.0, 1.0]]))
    assert formats == {"x": {"act_frac_bits": 13, "weight_frac_bits": 13}}
    # Inputs count too: 0.25 * [1, -1] on input [6, 0.5]: partial sums 1.5, 1.375; input 6 -> 12 bits.
    layer = compress_layer(np.array([[0.25, -0.25]]), SMALL, name="x", activation="none")
    formats = choose_formats(Network(model_of(layer)), SMALL, np.array([[6.0, 0.5]]))
    assert formats["x"] == {"act_frac_bits": 12, "weight_frac_bits": 15}  # 6 * 2^13 > 32767; 0.25 * 2^15 fits
    # A bias column is an input of 1.0: 14 bits at most.
    layer = compress_layer(np.array([[0.25, 0.125]]), SMALL, name="x", has_bias=True, activation="none")
    assert choose_formats(Network(model_of(layer)), SMALL, np.array([[0.5]]))["x"]["act_frac_bits"] == 14
    # Fixed numbers apply to every layer.
    assert choose_formats(Network(chain()), SMALL, None, 8, 12) == {
        "a": {"act_frac_bits": 8, "weight_frac_bits": 12}, "b": {"act_frac_bits": 8, "weight_frac_bits": 12}}


def test_chain_feeds_written_back_outputs_forward(engine):
    from eiesim.simulation import simulate

    model = chain()
    x = np.array([[0.25, 0.5], [1.0, -1.0]])
    result = infer(model, x, engine=engine)
    # Input 0: layer a gives relu([0.25 + 0.25, -0.25 + 1]) = [0.5, 0.75]; layer b 0.5 + 0.75 = 1.25.
    # Input 1: relu([1 - 0.5, -1 - 2]) = [0.5, 0]; then 0.5.
    np.testing.assert_array_equal(result.outputs, [[1.25], [0.5]])
    np.testing.assert_array_equal(result.float_outputs, [[1.25], [0.5]])
    # Cycles and energy of each layer are those of a plain simulate() of that layer on that input.
    for i, (a_in, b_in) in enumerate([([0.25, 0.5], [0.5, 0.75]), ([1.0, -1.0], [0.5, 0.0])]):
        cfg_a = SMALL.replace(**result.formats["a"])
        cfg_b = SMALL.replace(**result.formats["b"])
        ra, rb = simulate(model.layers[0], a_in, cfg_a), simulate(model.layers[1], b_in, cfg_b)
        assert result.cycles[i].tolist() == [ra.cycles, rb.cycles]
        np.testing.assert_allclose(result.energy_pj[i], [ra.energy.total, rb.energy.total])
    assert result.calls.tolist() == [[1, 1], [1, 1]]
    np.testing.assert_allclose(result.input_density, [[1.0, 1.0], [1.0, 0.5]])
    s = result.summary()
    total = result.cycles.sum(axis=1) / 800.0
    assert s["latency_us"]["max"] == pytest.approx(total.max())
    assert s["latency_us"]["p50"] == pytest.approx(total.mean())  # two values: the median is their mean
    assert s["vs_float"]["max_abs_error"] == 0.0 and s["vs_float"]["correlation"] == pytest.approx(1.0)
    assert s["vs_float"]["top1_agreement"] is None  # one output: not a classifier


def test_paper_format_saturates_where_auto_does_not():
    # Weight 2 on input 100: the input fits Q8 (100 * 256 = 25600) but the output 200 does not
    # (51200 > 32767), so Q8 saturates at 32767 / 256; auto sees the partial sum 200 and picks
    # 7 bits (200 * 128 = 25600), which hold the exact 200.
    layer = compress_layer(np.array([[2.0]]), SMALL, name="x", activation="none")
    model = model_of(layer)
    x = np.array([[100.0]])
    assert infer(model, x, act_frac_bits=8, weight_frac_bits=12).outputs[0, 0] == 32767 / 256
    auto = infer(model, x)
    assert auto.formats["x"] == {"act_frac_bits": 7, "weight_frac_bits": 13}  # 2 * 2^14 = 32768 > 32767
    assert auto.outputs[0, 0] == 200.0


def test_agreement_statistics_by_hand():
    chip = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0]])
    ref = np.array([[1.0, 2.5, 0.0], [0.0, 1.0, 4.0]])
    a = agreement(chip, ref)
    assert a["max_abs_error"] == 1.0 and a["max_rel_error"] == 0.25  # |3 - 4| / max |ref| = 1 / 4
    assert a["top1_agreement"] == 1.0  # argmax 1 and 2 in both
    expected = np.corrcoef(chip.ravel(), ref.ravel())[0, 1]
    assert a["correlation"] == pytest.approx(expected)
    assert agreement(np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]]))["top1_agreement"] == 0.0


def lstm_model(proj: bool, reverse: bool = False, seed: int = 0):
    """A one-layer LSTM (input 3, hidden 2, optional projection to 1) as compressed layers."""
    rng = np.random.default_rng(seed)
    out = 1 if proj else 2
    gates = rng.uniform(-1, 1, (8, 3 + out + 1))
    layers = [compress_layer(gates, SMALL, name="g", has_bias=True, activation="none")]
    directions = [{"gates": "g", "proj": "p" if proj else None, "reverse": reverse}]
    if proj:
        layers.append(compress_layer(rng.uniform(-1, 1, (1, 2)), SMALL, name="p", activation="none"))
    stage = {"kind": "lstm", "name": "lstm.l0", "input_size": 3, "hidden_size": 2, "proj_size": out if proj else 0,
             "directions": directions}
    return model_of(*layers, stages=[stage])


def numpy_lstm(w, x, proj=None, reverse=False):
    """Textbook LSTM over a sequence with the stacked [W_ih | W_hh | b] (i, f, g, o)."""
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    hidden = w.shape[0] // 4
    h = np.zeros(w.shape[1] - x.shape[1] - 1)
    c = np.zeros(hidden)
    out = np.zeros((len(x), len(h)))
    for t in (reversed(range(len(x))) if reverse else range(len(x))):
        i, f, g, o = np.split(w @ np.concatenate([x[t], h, [1.0]]), 4)
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
        if proj is not None:
            h = proj @ h
        out[t] = h
    return out


@pytest.mark.parametrize("proj, reverse", [(False, False), (True, False), (False, True)])
def test_lstm_runs_over_time_steps_with_the_state_fed_back(proj, reverse):
    model = lstm_model(proj, reverse)
    x = np.random.default_rng(1).uniform(-1, 1, (2, 5, 3))
    result = infer(model, x)
    g = model.layer("g").to_dense()
    p = model.layer("p").to_dense() if proj else None
    expected = np.stack([numpy_lstm(g, seq, p, reverse) for seq in x])
    np.testing.assert_allclose(result.float_outputs, expected, rtol=1e-12, atol=1e-15)
    assert result.outputs.shape == (2, 5, 1 if proj else 2)
    np.testing.assert_allclose(result.outputs, expected, atol=2e-3)  # 16-bit fixed point on the chip
    assert result.calls[:, 0].tolist() == [5, 5]  # one gate-layer run per time step
    if proj:
        assert result.layer_names == ["g", "p"] and result.calls[:, 1].tolist() == [5, 5]


def test_bad_inputs_are_one_line_errors():
    model = chain()
    for bad, message in [
        (np.ones((2, 3)), "inputs have 3 features but the first layer \\(a\\) takes 2"),
        (np.ones(2), "must be a 2-D array \\(inputs x features\\), got shape \\(2,\\)"),
        (np.ones((1, 2, 2)), "must be a 2-D array"),
        (np.zeros((0, 2)), "are empty"),
        (np.array([[1.0, 0.0], [np.nan, 1.0]]), "contain NaN or infinity \\(input 1\\)"),
        (np.array([["a", "b"]]), "must be real numbers"),
    ]:
        with pytest.raises(EieError, match=message):
            infer(model, bad)
    x = np.ones((2, 2))
    with pytest.raises(EieError, match="reference outputs have shape \\(3, 1\\), the chip's have \\(2, 1\\)"):
        infer(model, x, reference=np.ones((3, 1)))
    with pytest.raises(EieError, match="labels must be integers, got dtype float64"):
        infer(model, x, labels=np.ones(2))
    with pytest.raises(EieError, match="labels must be integers of shape \\(2,\\)"):
        infer(model, x, labels=np.ones(3, int))
    with pytest.raises(EieError, match="labels need a network with at least 2 outputs"):
        infer(model, x, labels=np.ones(2, int))
    with pytest.raises(EieError, match="calibration inputs have 1 features"):
        infer(model, x, calibration=np.ones((4, 1)))
    with pytest.raises(EieError, match="act_frac_bits takes a number of bits or 'auto'"):
        infer(model, x, act_frac_bits="many")
    with pytest.raises(EieError, match="act_frac_bits and weight_frac_bits must be smaller than value_bits"):
        infer(model, x, act_frac_bits=9, value_bits=8)
    with pytest.raises(EieError, match="inputs x time steps x features"):
        infer(lstm_model(False), np.ones((2, 3)))


def test_network_descriptions_that_do_not_fit_the_layers():
    a, b = chain().layers
    with pytest.raises(EieError, match="a has 2 outputs but c takes 3 inputs"):
        Network(model_of(a, compress_layer(np.ones((1, 3)), SMALL, name="c")))
    with pytest.raises(EieError, match="names layer 'zz'"):
        Network(model_of(a, b, stages=[{"kind": "linear", "layer": "a"}, {"kind": "linear", "layer": "zz"}]))
    with pytest.raises(EieError, match="leaves out layer\\(s\\) b"):
        Network(model_of(a, b, stages=[{"kind": "linear", "layer": "a"}]))
    with pytest.raises(EieError, match=r"network.stages\[0\].kind: must be linear, lstm or gru, got 'conv'"):
        Network(model_of(a, b, stages=[{"kind": "conv"}]))


def test_cli_infer_writes_json_outputs_and_plot(run_cli, tmp_path):
    save_model(tmp_path / "m.eie", chain())
    np.save(tmp_path / "x.npy", np.array([[0.25, 0.5], [1.0, -1.0], [0.5, 0.5]]))
    code, stdout, stderr = run_cli("infer", "--model", tmp_path / "m.eie", "--inputs", tmp_path / "x.npy",
                                   "--json", tmp_path / "r.json",
                                   "--outputs", tmp_path / "out.npy", "--plot", tmp_path / "lat.png",
                                   "--act-frac-bits", "8", "--weight-frac-bits", "12")
    assert code == 0, stderr
    # Third input: relu([0.5 + 0.25, -0.5 + 1]) = [0.75, 0.5], then 1.25.
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), [[1.25], [0.5], [1.25]])
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["layers"]["a"]["act_frac_bits"] == 8 and doc["layers"]["b"]["weight_frac_bits"] == 12
    assert len(doc["per_input"]["cycles"]) == 3 and "accuracy" not in doc  # one output: no classes
    assert (tmp_path / "lat.png").read_bytes()[:4] == b"\x89PNG"
    assert "network" in stdout and "accuracy" not in stdout


@pytest.mark.parametrize("args, message", [
    (["--act-frac-bits", "x"], "--act-frac-bits takes a number of bits or 'auto'"),
    (["--weight-frac-bits", "-1"], "--weight-frac-bits must be at least 0"),
    (["--inputs", "{d}/bad.npy"], "inputs have 3 features"),
    (["--inputs", "{d}/nan.npy"], "NaN"),
    (["--inputs", "{d}/missing.npy"], "inputs file not found"),
    (["--json", "{d}/no/such/r.json"], "does not exist"),
    (["--plot", "{d}/lat.gif"], "--plot {d}/lat.gif: give a file ending in .png, .pdf, .svg"),
    (["--json", "{d}/x.npy"], "refusing to overwrite an input"),
    (["--labels", "{d}/y.npy"], "labels need a network with at least 2 outputs"),
])
def test_cli_infer_bad_input(run_cli, tmp_path, args, message):
    save_model(tmp_path / "m.eie", chain())
    np.save(tmp_path / "x.npy", np.ones((2, 2)))
    np.save(tmp_path / "bad.npy", np.ones((2, 3)))
    np.save(tmp_path / "nan.npy", np.array([[np.nan, 1.0]]))
    np.save(tmp_path / "y.npy", np.array([0, 0]))
    argv = ["infer", "--model", tmp_path / "m.eie", "--inputs", tmp_path / "x.npy"]
    argv += [a.format(d=tmp_path) for a in args]
    code, _, stderr = run_cli(*argv)
    assert code != 0 and message.format(d=tmp_path) in stderr and stderr.count("\n") == 1
    assert not (tmp_path / "no").exists()


def test_torch_lstm_and_gru_through_import_match_torch(tmp_path):
    torch = pytest.importorskip("torch")
    from workloads.torch_import import layers_from_module

    torch.manual_seed(0)
    for module in (torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2), torch.nn.GRU(3, 4)):
        module = module.double()
        net = layers_from_module(module)
        layers = [compress_layer(w, SMALL, name=n, has_bias=b, activation="none") for n, w, b in net.layers]
        model = model_of(*layers, stages=list(net.stages))
        x = np.random.default_rng(2).uniform(-1, 1, (2, 4, 3))
        result = infer(model, x, engine="fast")
        # The float model uses the quantized (4-bit shared) weights: compare torch with those.
        quantized = {layer.name: layer.to_dense() for layer in layers}
        reference = _torch_with_weights(torch, module, net, quantized, x)
        np.testing.assert_allclose(result.float_outputs, reference, rtol=1e-9, atol=1e-12)
        assert agreement(result.outputs, reference)["correlation"] > 0.999


def _torch_with_weights(torch, module, net, quantized, x):
    """Run ``module`` with its weights replaced by the quantized matrices of the import."""
    import copy

    m = copy.deepcopy(module)
    kind = "lstm" if isinstance(m, torch.nn.LSTM) else "gru"
    with torch.no_grad():
        for stage in net.stages:
            for d in stage["directions"]:
                tag = d["gates"].split(".", 1)[1]
                w = quantized[d["gates"]]
                n_in = stage["input_size"]
                h = stage["hidden_size"]
                if kind == "lstm":
                    getattr(m, f"weight_ih_{tag}").copy_(torch.from_numpy(w[:, :n_in]))
                    getattr(m, f"weight_hh_{tag}").copy_(torch.from_numpy(w[:, n_in:-1]))
                    getattr(m, f"bias_ih_{tag}").copy_(torch.from_numpy(w[:, -1]))
                    getattr(m, f"bias_hh_{tag}").zero_()
                    if d["proj"]:
                        getattr(m, f"weight_hr_{tag}").copy_(torch.from_numpy(quantized[d["proj"]]))
                else:
                    w_ih = np.concatenate([w[: 2 * h, :n_in], w[2 * h : 3 * h, :n_in]])
                    w_hh = np.concatenate([w[: 2 * h, n_in:-1], w[3 * h :, n_in:-1]])
                    b_ih = np.concatenate([w[: 2 * h, -1], w[2 * h : 3 * h, -1]])
                    b_hh = np.concatenate([np.zeros(2 * h), w[3 * h :, -1]])
                    for name, value in (("weight_ih", w_ih), ("weight_hh", w_hh), ("bias_ih", b_ih), ("bias_hh", b_hh)):
                        getattr(m, f"{name}_{tag}").copy_(torch.from_numpy(value))
        out, _ = m(torch.from_numpy(x).transpose(0, 1))  # (T, B, features)
    return out.transpose(0, 1).numpy()


def test_alexnet_shaped_chain_correlates_with_torch_at_default_settings():
    """A 1/16-width AlexNet classifier chain (576 -> 256 -> 256 -> 63, default init, l1-pruned
    to 9/9/25 %, uniform [0, 1) inputs): >= 0.99 correlation with torch by default, and
    well under the paper's fixed Q8 activations' error."""
    torch = pytest.importorskip("torch")
    from workloads.alexnet_classifier import pruned_classifier
    from workloads.torch_import import layers_from_module

    net = pruned_classifier(0, widths=(576, 256, 256, 63))
    x = torch.rand(24, 576)
    with torch.no_grad():
        y = net(x).double().numpy()
    imported = layers_from_module(net)
    layers = [compress_layer(w, ArchConfig(), name=n, has_bias=b, activation=a)
              for (n, w, b), a in zip(imported.layers, ["relu", "relu", "none"])]
    model = CompressedModel(layers, ArchConfig())
    auto = infer(model, x.double().numpy(), reference=y).summary()["vs_reference"]
    paper = infer(model, x.double().numpy(), reference=y, act_frac_bits=8, weight_frac_bits=12).summary()
    assert auto["correlation"] >= 0.99
    # Measured: auto 0.998 correlation, max error 6.3 % of max |y|; Q8/Q12 0.983 and 33 % (the
    # narrower the layer, the larger its default-init weights, so Q8 hurts less here than at
    # full AlexNet width, where the issue measured 0.56).
    assert auto["max_abs_error"] < paper["vs_reference"]["max_abs_error"] / 2
