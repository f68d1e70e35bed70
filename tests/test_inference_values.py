"""Whole-network inference results by hand: the summary's statistics, the JSON document, the
latency figure and the accuracy of sequence outputs, on results whose numbers are set here."""

import struct

import numpy as np
import pytest

from eiesim.config import ArchConfig
from eiesim.inference import InferenceResult, plot_latency

SMALL = ArchConfig(n_pe=2, accumulators_per_pe=4)  # 800 MHz: 800 cycles are 1 us


def result(**extra) -> InferenceResult:
    """Four inputs through layers a and b, every number chosen by hand."""
    cycles = np.array([[800, 1600], [1600, 800], [2400, 4000], [800, 0]])  # totals 3, 3, 8, 1 us
    energy = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])  # totals 3, 7, 11, 15 pJ
    calls = np.array([[1, 2], [1, 2], [1, 2], [1, 4]])
    density = np.array([[1.0, 0.5], [0.5, 0.5], [0.25, 0.5], [0.25, 0.25]])
    outputs = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    floats = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    formats = {"a": {"act_frac_bits": 12, "weight_frac_bits": 14}, "b": {"act_frac_bits": 10, "weight_frac_bits": 13}}
    return InferenceResult(["a", "b"], cycles, energy, calls, density, outputs, floats, formats, SMALL, "fast",
                           **extra)


def percentiles(p50, p95, top, mean):
    return {"p50": p50, "p95": p95, "max": top, "mean": mean}


def test_summary_by_hand():
    s = result(host_ops={"aten.add": 2.0}, dropped_negative={"b": 0.25}).summary()
    # Totals 3, 3, 8, 1 us sorted 1, 3, 3, 8: p95 at rank 0.95 x 3 = 2.85, 3 + 0.85 x 5.
    assert s["inputs"] == 4
    assert s["latency_us"] == pytest.approx(percentiles(3.0, 7.25, 8.0, 3.75))
    assert s["energy_pj"] == {"mean": 9.0, "max": 15.0}
    a, b = s["layers"]["a"], s["layers"]["b"]
    assert a.pop("latency_us") == pytest.approx(percentiles(1.5, 2.85, 3.0, 1.75))
    assert a == {"mean_cycles": 1400.0, "mean_energy_pj": 4.0, "calls_per_input": 1.0, "input_density": 0.5,
                 "act_frac_bits": 12, "weight_frac_bits": 14}
    assert b.pop("latency_us") == pytest.approx(percentiles(1.5, 4.55, 5.0, 2.0))  # 0, 1, 2, 5: 2 + 0.85 x 3
    assert b == {"mean_cycles": 1600.0, "mean_energy_pj": 5.0, "calls_per_input": 2.5, "input_density": 0.4375,
                 "act_frac_bits": 10, "weight_frac_bits": 13}
    assert list(s["layers"]) == ["a", "b"]
    # Chip against float: errors 1 (input 0) and 1 (input 3), relative to max |float| = 1; argmax
    # 0, 1, 0, 1 against 0, 1, 0, 0. Correlation of the flattened outputs: their centred sums
    # give 1.5 / sqrt(3.875 x 2).
    vs = s["vs_float"]
    assert (vs["max_abs_error"], vs["max_rel_error"], vs["top1_agreement"], vs["not_finite"]) == (1.0, 1.0, 0.75, 0)
    assert vs["correlation"] == pytest.approx(1.5 / np.sqrt(7.75))
    assert s["host_ops_per_input"] == {"aten.add": 2.0} and s["dropped_negative_inputs"] == {"b": 0.25}
    assert "reference" not in s and "vs_reference" not in s and "accuracy" not in s


def test_summary_against_a_reference_and_labels():
    ref = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    s = result(reference=ref, labels=np.array([0, 1, 1, 1]), reference_name="torch").summary()
    assert s["reference"] == "torch"
    # Chip - ref: 1 at input 0, 1 and -1 at input 2: 1, relative to max |ref| = 1 (not max |chip| = 2).
    assert (s["vs_reference"]["max_abs_error"], s["vs_reference"]["max_rel_error"]) == (1.0, 1.0)
    assert s["vs_reference"]["top1_agreement"] == 0.75  # argmax 0, 1, 0, 1 against 0, 1, 1, 1
    assert s["float_vs_reference"]["top1_agreement"] == 0.5  # 0, 1, 0, 0 against 0, 1, 1, 1
    assert s["accuracy"] == {"chip": 0.75, "float": 0.5, "reference": 1.0}
    # Reference statistics relative to max |reference|, chip and float alike.
    swapped = result(reference=np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])).summary()
    assert swapped["float_vs_reference"]["max_rel_error"] == 0.5  # 1 / max |ref| = 1 / 2
    assert result(labels=np.array([0, 1, 1, 1])).summary()["accuracy"] == {"chip": 0.75, "float": 0.5}


def test_accuracy_of_sequence_outputs_takes_the_class_axis():
    # One input, two time steps, three classes: argmax over the last axis is 1, then 0.
    outputs = np.array([[[0.0, 5.0, 1.0], [2.0, 0.0, 1.0]]])
    r = InferenceResult(["a"], np.array([[800]]), np.ones((1, 1)), np.ones((1, 1)), np.ones((1, 1)), outputs,
                        outputs, {"a": {}}, SMALL, "fast", labels=np.array([[1, 1]]))
    assert r.summary()["accuracy"] == {"chip": 0.5, "float": 0.5}


NOT_MODELLED = ("work outside the PE array (host operations: LSTM/GRU gate nonlinearities and state update, and "
                "every operation of host_ops_per_input; moving x_t and h_t into the source register file); the "
                "register-file swap between layers costs 0 cycles")


def test_json_document():
    r = result()
    doc = r.to_dict()
    assert {k: doc[k] for k in ("engine", "n_pe", "queue_depth", "timing", "settings", "clock_mhz", "precision",
                                "value_bits", "layer_names")} == {
        "engine": "fast", "n_pe": 2, "queue_depth": 8, "timing": "spec", "settings": SMALL.settings(),
        "clock_mhz": 800.0, "precision": "fixed", "value_bits": 16, "layer_names": ["a", "b"]}
    assert doc["per_input"] == {"cycles": r.cycles.tolist(), "energy_pj": r.energy_pj.tolist(),
                                "latency_us": [3.0, 3.0, 8.0, 1.0]}
    assert doc["not_modelled"] == NOT_MODELLED
    assert doc["latency_us"] == r.summary()["latency_us"] and doc["inputs"] == 4


def png_size(path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    return struct.unpack(">II", path.read_bytes()[16:24])


def test_latency_figure_by_hand(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    # One layer over 100 inputs of 1..100 us: the whiskers end at the last values inside p5 = 5.95
    # and p95 = 95.05 (6 and 95), the 10 values past them are drawn as outliers.
    cycles = 800 * np.arange(1, 101)[:, None]
    r = InferenceResult(["fc"], cycles, np.ones((100, 1)), np.ones((100, 1)), np.ones((100, 1)),
                        np.zeros((100, 1)), np.zeros((100, 1)), {"fc": {}}, SMALL, "fast")
    figures = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig: (figures.append(fig), close(fig)))
    path = tmp_path / "lat.png"
    plot_latency(r, path)
    (fig,) = figures
    # Two panels (the layer, the network) of 1.6 in each + 1 in, 3.4 in high, at 120 dpi.
    assert png_size(path) == (504, 408)
    assert len(fig.axes) == 2
    for ax, label in zip(fig.axes, ["fc", "network"]):
        assert [t.get_text() for t in ax.get_xticklabels()] == [label] and list(ax.get_xticks()) == [1]
        tick = ax.get_xticklabels()[0]
        assert (tick.get_rotation(), tick.get_horizontalalignment()) == (20.0, "right")
        assert all(line.get_visible() and line.get_alpha() == 0.3 for line in ax.yaxis.get_gridlines())
        assert not any(line.get_visible() for line in ax.xaxis.get_gridlines())
        box, low, high, _, _, median, outliers = ax.lines
        assert (min(low.get_ydata()), max(high.get_ydata())) == (6.0, 95.0)
        assert list(median.get_ydata()) == [50.5, 50.5]
        assert sorted(outliers.get_ydata()) == [1, 2, 3, 4, 5, 96, 97, 98, 99, 100]
        assert (min(box.get_xdata()), max(box.get_xdata())) == pytest.approx((0.7, 1.3))  # 0.6 wide
    a, b = fig.axes
    assert a.get_position().x1 < b.get_position().x0  # side by side, in one row
    assert a.get_shared_y_axes().joined(a, b)
    assert (a.get_ylabel(), b.get_ylabel()) == ("latency per input (us)", "")
    title = fig._suptitle
    assert title.get_text() == "100 inputs, 2 PEs at 800 MHz (box: quartiles, whiskers: p5-p95)"
    assert title.get_fontsize() == 9


def test_a_latency_figure_in_an_unknown_format_is_one_line(tmp_path):
    with pytest.raises(Exception) as info:
        plot_latency(result(), tmp_path / "lat.xyz")
    message = str(info.value)
    assert type(info.value).__name__ == "EieError" and "\n" not in message
    assert message.startswith(f"cannot draw {tmp_path / 'lat.xyz'}: Format 'xyz' is not supported (supported "
                              "formats: ")


@pytest.mark.parametrize("chip, ref, expected", [
    # One value not finite: left out; the rest 1, 2, 3 against 1, 2, 4 (max |ref| 4); the
    # correlation of those three: centred products sum to 3 over sqrt(2 x 14/3).
    ([[np.inf, 1.0], [2.0, 3.0]], [[1.0, 1.0], [2.0, 4.0]],
     {"max_abs_error": 1.0, "max_rel_error": 0.25, "correlation": 3 / np.sqrt(28 / 3), "top1_agreement": 1.0,
      "not_finite": 1}),
    # A reference of zeros: no relative error and no correlation (it does not vary).
    ([[1.0, 0.0]], [[0.0, 0.0]],
     {"max_abs_error": 1.0, "max_rel_error": None, "correlation": None, "top1_agreement": 1.0, "not_finite": 0}),
    ([[0.0, 0.0]], [[0.0, 0.0]],
     {"max_abs_error": 0.0, "max_rel_error": None, "correlation": None, "top1_agreement": 1.0, "not_finite": 0}),
    # Nothing finite: nothing to say.
    ([[np.nan, 1.0]], [[1.0, np.inf]],
     {"max_abs_error": None, "max_rel_error": None, "correlation": None, "top1_agreement": None, "not_finite": 2}),
    # One value: no correlation, no top-1.
    ([[3.0]], [[1.0]],
     {"max_abs_error": 2.0, "max_rel_error": 2.0, "correlation": None, "top1_agreement": None, "not_finite": 0}),
    # A chip output that does not vary (1 wherever finite): no correlation. Top-1 over the rows
    # left whole (rows 0 and 1, argmax 0 against 1).
    ([[1.0, 1.0], [1.0, 1.0], [np.nan, 1.0]], [[0.0, 1.0], [1.0, 3.0], [0.0, 0.0]],
     {"max_abs_error": 2.0, "max_rel_error": 2 / 3, "correlation": None, "top1_agreement": 0.0, "not_finite": 1}),
    # Values near the top of float64 compare without overflow: the error of 1e308 is exact and
    # the two points lie on a falling line.
    ([[1e308, 0.5e308]], [[0.0, 0.5e308]],
     {"max_abs_error": 1e308, "max_rel_error": 2.0, "correlation": -1.0, "top1_agreement": 0.0, "not_finite": 0}),
    # A chip output far larger than the reference: the scale is the larger of the two, so
    # nothing overflows; the reference, 1e-300 over 1e308, is 0 after scaling and does not vary.
    ([[1e308, -1e308]], [[1e-300, 0.0]],
     {"max_abs_error": 1e308, "max_rel_error": 1e308 / 1e-300, "correlation": None, "top1_agreement": 1.0,
      "not_finite": 0}),
    # Sequence outputs (input, time, class): top-1 over the last axis; one class: no top-1.
    ([[[0.0, 1.0], [0.0, 1.0]]], [[[0.0, 1.0], [1.0, 0.0]]],
     {"max_abs_error": 1.0, "max_rel_error": 1.0, "correlation": 0.0, "top1_agreement": 0.5, "not_finite": 0}),
    ([[[1.0], [3.0]]], [[[1.0], [2.0]]],
     {"max_abs_error": 1.0, "max_rel_error": 0.5, "correlation": 1.0, "top1_agreement": None, "not_finite": 0}),
])
def test_agreement_edges_by_hand(chip, ref, expected):
    from eiesim.inference import agreement

    got = agreement(np.array(chip), np.array(ref))
    assert got == pytest.approx(expected) and list(got) == list(expected)


@pytest.mark.parametrize("value, expected", [
    (None, None), ("auto", "auto"), (0, 0), (8, 8), ("8", 8), (np.int64(3), 3), (np.uint8(5), 5)])
def test_fraction_bit_settings(value, expected):
    from eiesim.inference import parse_frac_bits

    got = parse_frac_bits(value, "--bits")
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("value, message", [
    (True, "--bits takes a number of bits or 'auto', got True"),
    (np.bool_(False), "--bits takes a number of bits or 'auto', got np.False_"),
    (8.7, "--bits takes a number of bits or 'auto', got 8.7"),
    (8.0, "--bits takes a number of bits or 'auto', got 8.0"),
    ("8.7", "--bits takes a number of bits or 'auto', got '8.7'"),
    ("Auto", "--bits takes a number of bits or 'auto', got 'Auto'"),
    ([8], "--bits takes a number of bits or 'auto', got [8]"),
    (-1, "--bits must be at least 0, got -1"),
    ("-2", "--bits must be at least 0, got -2"),
])
def test_bad_fraction_bit_settings(value, message):
    from eiecore.errors import EieError
    from eiesim.inference import parse_frac_bits

    with pytest.raises(EieError) as info:
        parse_frac_bits(value, "--bits")
    assert str(info.value) == message


# ----- runs of small networks ------------------------------------------------------------


def chain_model(config=SMALL):
    """a = relu([[1, 0.5], [-1, 2]] x), then b = [1, 1] a: every value exact in fixed point."""
    from compressor.csc import compress_layer
    from eiesim.modelfile import CompressedModel

    a = compress_layer(np.array([[1.0, 0.5], [-1.0, 2.0]]), config, name="a", activation="relu")
    b = compress_layer(np.array([[1.0, 1.0]]), config, name="b", activation="none")
    return CompressedModel([a, b], config)


def test_negative_inputs_dropped_under_a_positive_only_broadcast():
    from eiesim.inference import infer

    # Input 0 gives layer a one negative input of its four over both inputs: 1/4. Under eie-cpp
    # it is dropped: a sees [1, 0], relu([1, -1]) = [1, 0], b = 1. Layer b reads a ReLU's output.
    r = infer(chain_model(), np.array([[1.0, -1.0], [0.5, 0.5]]), timing="eie-cpp")
    assert r.dropped_negative == {"a": 0.25}
    np.testing.assert_array_equal(r.outputs, [[1.0], [1.25]])
    np.testing.assert_array_equal(r.input_density, [[1.0, 0.5], [1.0, 1.0]])  # a's [1, 0] is half zero
    assert r.summary()["dropped_negative_inputs"] == {"a": 0.25}
    assert infer(chain_model(), np.array([[1.0, -1.0]])).dropped_negative == {}  # spec timing: none dropped


def test_float32_overflow_is_a_warning_and_left_out_of_the_statistics():
    from compressor.csc import compress_layer
    from eiecore.errors import EieWarning
    from eiesim.inference import infer
    from eiesim.modelfile import CompressedModel

    big = CompressedModel([compress_layer(np.array([[3e38, 3e38]]), SMALL, name="x", activation="none")], SMALL)
    with pytest.warns(EieWarning) as caught:
        r = infer(big, np.array([[3.0, 3.0], [0.0, 0.0]]), precision="float32")
    assert [str(w.message) for w in caught] == [
        "float32 arithmetic overflowed: 1 of the chip's 2 outputs are infinite or NaN; the statistics leave them out"]
    assert np.isinf(r.outputs[0, 0]) and r.outputs[1, 0] == 0.0
    assert r.summary()["vs_float"]["not_finite"] == 1


def test_run_time_checks_of_infer_word_for_word():
    from eiecore.errors import EieError
    from eiesim.inference import infer

    model, x = chain_model(), np.ones((2, 2))
    for kwargs, message in [
        ({"reference": np.array([[np.nan], [1.0]])}, "reference outputs contain NaN or infinity"),
        ({"reference": np.ones((2, 2))}, "reference outputs have shape (2, 2), the chip's have (2, 1)"),
        ({"labels": np.array([0, 1])}, "labels need a network with at least 2 outputs (a class is the largest output)"),
        ({"calibration": np.ones((2, 3)), "act_frac_bits": 8},
         "calibration inputs have 3 features but the first layer (a) takes 2"),
    ]:
        with pytest.raises(EieError) as info:
            infer(model, x, **kwargs)
        assert str(info.value) == message
    with pytest.raises(EieError) as info:
        infer("model.eie", x)
    assert str(info.value) == ("model must be a CompressedModel (load a file with eiesim.modelfile.load_model), "
                               "got str")


def two_class_model():
    from compressor.csc import compress_layer
    from eiesim.modelfile import CompressedModel

    return CompressedModel([compress_layer(np.array([[1.0, 0.0], [0.0, 1.0]]), SMALL, name="id",
                                           activation="none")], SMALL)


@pytest.mark.parametrize("labels, message", [
    ([0, 2], "labels must be classes 0..1 (the network has 2 outputs), got 0..2"),
    ([-1, 1], "labels must be classes 0..1 (the network has 2 outputs), got -1..1"),
    ([[0, 1]], "labels must be integers of shape (2,), got int64 (1, 2)"),
])
def test_labels_out_of_range(labels, message):
    from eiecore.errors import EieError
    from eiesim.inference import infer

    with pytest.raises(EieError) as info:
        infer(two_class_model(), np.array([[1.0, 0.0], [0.0, 1.0]]), labels=np.array(labels))
    assert str(info.value) == message


def test_labels_at_both_ends_and_the_settings_passed_on():
    from eiesim.inference import infer

    # Identity: input 0 is class 0, input 1 class 1 (the last class allowed).
    r = infer(two_class_model(), np.array([[1.0, 0.0], [0.0, 1.0]]), labels=np.array([0, 1]), queue_depth=2,
              config={"clock_mhz": 400.0}, value_bits=12, progress=True)
    assert r.summary()["accuracy"] == {"chip": 1.0, "float": 1.0}
    assert (r.config.queue_depth, r.config.clock_mhz, r.config.value_bits) == (2, 400.0, 12)
    # Inputs, partial sums and weights reach 1: 1 x 2^11 = 2048 > 2047, so 10 fraction bits of a
    # 12-bit word (the model's own 12 weight fraction bits would not fit it).
    assert r.formats == {"id": {"act_frac_bits": 10, "weight_frac_bits": 10}}
    np.testing.assert_array_equal(r.outputs, [[1.0, 0.0], [0.0, 1.0]])


def lstm_stage(*directions, hidden=1):
    return {"kind": "lstm", "name": "rec", "input_size": 1, "hidden_size": hidden, "proj_size": 0,
            "directions": [{"gates": g, "proj": p, "reverse": r} for g, p, r in directions]}


def layer(rows, cols, name, **kwargs):
    from compressor.csc import compress_layer

    return compress_layer(np.ones((rows, cols)), SMALL, name=name, **{"activation": "none", **kwargs})


@pytest.mark.parametrize("layers, stage, message", [
    # Hidden 1: 4 gate rows over x (1) and h (1).
    ([layer(4, 2, "g"), layer(1, 1, "p", has_bias=True)], lstm_stage(("g", "p", False)),
     "projection layer p must be 1 wide, without bias or activation"),
    ([layer(4, 2, "g"), layer(1, 2, "p")], lstm_stage(("g", "p", False)),
     "projection layer p must be 1 wide, without bias or activation"),
    ([layer(4, 2, "g"), layer(1, 1, "p", activation="relu")], lstm_stage(("g", "p", False)),
     "projection layer p must be 1 wide, without bias or activation"),
    ([layer(3, 2, "g")], lstm_stage(("g", None, False)),
     "LSTM layer g is 3 x 2: not 4 x 1 gate rows over input and state, without activation"),
    ([layer(4, 1, "g")], lstm_stage(("g", None, False)),  # no input column left
     "LSTM layer g is 4 x 1: not 4 x 1 gate rows over input and state, without activation"),
    ([layer(4, 2, "g", activation="relu")], lstm_stage(("g", None, False)),
     "LSTM layer g is 4 x 2: not 4 x 1 gate rows over input and state, without activation"),
    ([layer(4, 2, "g"), layer(4, 3, "h")], lstm_stage(("g", None, False), ("h", None, True)),
     "LSTM stage rec needs directions of one size"),
])
def test_recurrent_stages_that_do_not_fit_their_layers(layers, stage, message):
    from eiecore.errors import EieError
    from eiesim.inference import Network
    from eiesim.modelfile import CompressedModel

    with pytest.raises(EieError) as info:
        Network(CompressedModel(layers, SMALL, metadata={"network": {"stages": [stage], "skipped": []}}))
    assert str(info.value) == message


def test_a_projected_bidirectional_stage_and_its_chain():
    from eiecore.errors import EieError
    from eiesim.inference import Network
    from eiesim.modelfile import CompressedModel

    # Hidden 2 projected to 1, input 3: gates 8 x (3 + 1); two directions give 2 outputs.
    layers = [layer(8, 4, "f"), layer(1, 2, "fp"), layer(8, 4, "r"), layer(1, 2, "rp"), layer(5, 2, "head")]
    stage = {"kind": "gru", "name": "rec", "input_size": 3, "hidden_size": 2, "proj_size": 1,
             "directions": [{"gates": "f", "proj": "fp", "reverse": False}, {"gates": "r", "proj": "rp",
                                                                            "reverse": True}]}
    meta = {"network": {"stages": [stage, {"kind": "linear", "layer": "head"}], "skipped": []}}
    net = Network(CompressedModel(layers, SMALL, metadata=meta))
    first, head = net.stages
    assert (first.kind, first.name, first.hidden_size, first.n_inputs, first.n_outputs) == ("gru", "rec", 2, 3, 2)
    assert first.layers == (("f", "fp", False), ("r", "rp", True))
    assert (head.kind, head.name, head.layers, head.n_inputs, head.n_outputs) == ("linear", "head",
                                                                                 (("head", None, False),), 2, 5)
    assert net.recurrent and net.n_inputs == 3
    assert net.call_order() == ["f", "fp", "r", "rp", "head"]
    meta["network"]["stages"][1] = {"kind": "linear", "layer": "wide"}
    with pytest.raises(EieError) as info:
        Network(CompressedModel([*layers[:4], layer(5, 3, "wide")], SMALL, metadata=meta))
    assert str(info.value) == "rec has 2 outputs but wide takes 3 inputs: the layers do not form a chain"


# ----- a graph built by hand ---------------------------------------------------------------


def graph_model(width=2, module="fc", dtype="float", steps=None, tail=None):
    """x -> fc (layer a: [[1, 2], [3, 4]]) -> relu on the host -> times 0.5 on the host -> y."""
    from compressor.csc import compress_layer
    from eiesim.modelfile import CompressedModel

    a = compress_layer(np.array([[1.0, 2.0], [3.0, 4.0]]), SMALL, name="a", activation="none")
    node = lambda name, op, args, **extra: {"name": name, "op": op, "module": module, "args": args,  # noqa: E731
                                            "kwargs": {}, **extra}
    shape = [1, width] if steps is None else [1, steps, width]
    graph = {"inputs": [{"name": "x", "shape": shape, "dtype": dtype}],
             "nodes": [node("fc", "eie.linear", [{"ref": "x"}], layers=["a"]),
                       node("r", "aten.relu.default", [{"ref": "fc"}]),
                       node("h", "aten.mul.Tensor", [{"ref": "r"}, 0.5]) if tail is None else
                       node("h", "aten.mean.dim", [{"ref": "r"}, tail])],
             "outputs": [{"ref": "h"}]}
    return CompressedModel([a], SMALL, metadata={"network": {"graph": graph, "skipped": []}})


def test_a_graph_runs_its_host_operations_after_the_chip():
    from eiesim.inference import Network, infer

    # [1, -1]: fc gives [-1, -1], relu 0, 0; [1, 1]: [3, 7] -> [1.5, 3.5]. Each input as a batch
    # of one: outputs (2, 2), not (2, 1, 2).
    r = infer(graph_model(), np.array([[1.0, -1.0], [1.0, 1.0]]))
    np.testing.assert_array_equal(r.outputs, [[0.0, 0.0], [1.5, 3.5]])
    np.testing.assert_array_equal(r.float_outputs, r.outputs)
    assert r.host_ops == {"aten.relu.default": 1.0, "aten.mul.Tensor": 1.0}  # per input
    assert r.layer_names == ["a"] and r.calls.tolist() == [[1], [1]]
    net = Network(graph_model())
    assert net.stages == [] and net.node_stages == {} and not net.recurrent
    assert net.call_order() == ["a"]
    assert Network(chain_model()).host_ops_after() == [("", [])]  # a chain has no host operations
    assert [(group, [n["name"] for n in nodes]) for group, nodes in net.host_ops_after()] == [("", []), ("a", ["r", "h"])]


@pytest.mark.parametrize("inputs, message", [
    (np.ones((2, 3)), "inputs must have shape (inputs, 2) like the example input the model was captured with, "
                      "got (2, 3)"),
    (np.ones((0, 2)), "inputs must have shape (inputs, 2) like the example input the model was captured with, "
                      "got (0, 2)"),
    (np.ones(2), "inputs must have shape (inputs, 2) like the example input the model was captured with, got (2,)"),
    (np.array([[1.0, 1.0], [1.0, np.inf]]), "inputs contain NaN or infinity (input 1)"),
])
def test_graph_inputs_word_for_word(inputs, message):
    from eiecore.errors import EieError
    from eiesim.inference import infer

    with pytest.raises(EieError) as info:
        infer(graph_model(), inputs)
    assert str(info.value) == message


def test_graph_inputs_of_more_axes():
    from eiecore.errors import EieError
    from eiesim.inference import infer

    with pytest.raises(EieError) as info:
        infer(graph_model(steps=3), np.ones((1, 2, 2)))
    assert str(info.value) == ("inputs must have shape (inputs, 3, 2) like the example input the model was captured "
                               "with, got (1, 2, 2)")
    # Each of the 3 vectors of an input goes through layer a: [1, 1] -> [3, 7] -> relu, x 0.5.
    r = infer(graph_model(steps=3), np.ones((2, 3, 2)))
    np.testing.assert_array_equal(r.outputs, np.full((2, 3, 2), [1.5, 3.5]))
    assert r.calls.tolist() == [[3], [3]]
    # Three identical calls per input: three times one call's cycles and energy, summed.
    from eiesim.simulation import simulate

    one = simulate(graph_model().layers[0], np.ones(2), SMALL.replace(**r.formats["a"]))
    assert r.cycles.tolist() == [[3 * one.cycles]] * 2
    np.testing.assert_allclose(r.energy_pj, [[3 * one.energy.total]] * 2)


def test_a_graph_layer_fed_the_wrong_width_names_the_module():
    from eiecore.errors import EieError
    from eiesim.inference import infer

    for module, label in (("fc", "fc"), ("", "(model)")):
        with pytest.raises(EieError) as info:
            infer(graph_model(width=3, module=module), np.ones((1, 3)))
        assert str(info.value) == f"layer a takes 2 inputs, but module {label} gives it shape (1, 3)"


@pytest.mark.parametrize("inputs, message", [
    (np.ones(2), "inputs must be a 2-D array (inputs x features), got shape (2,)"),
    (np.ones((0, 2)), "inputs are empty (shape (0, 2))"),
    (np.ones((2, 3)), "inputs have 3 features but the first layer (a) takes 2"),
    (np.array([[1.0, 1.0], [np.nan, 1.0]]), "inputs contain NaN or infinity (input 1)"),
])
def test_chain_inputs_word_for_word(inputs, message):
    from eiecore.errors import EieError
    from eiesim.inference import infer

    with pytest.raises(EieError) as info:
        infer(chain_model(), inputs)
    assert str(info.value) == message


@pytest.mark.parametrize("inputs, message", [
    (np.ones((2, 1)), "inputs must be a 3-D array (inputs x time steps x features), got shape (2, 1)"),
    (np.ones((1, 0, 1)), "inputs are empty (shape (1, 0, 1))"),
    (np.ones((0, 2, 1)), "inputs are empty (shape (0, 2, 1))"),
    (np.ones((1, 3, 2)), "inputs have 2 features but the first layer (rec) takes 1"),
])
def test_sequence_inputs_word_for_word(inputs, message):
    from eiecore.errors import EieError
    from eiesim.inference import infer
    from eiesim.modelfile import CompressedModel

    model = CompressedModel([layer(4, 2, "g")], SMALL,
                            metadata={"network": {"stages": [lstm_stage(("g", None, False))], "skipped": []}})
    with pytest.raises(EieError) as info:
        infer(model, inputs)
    assert str(info.value) == message


def test_automatic_activation_bits_need_calibration_in_fixed_point_only():
    from eiecore.errors import EieError
    from eiesim.inference import Network, choose_formats

    net = Network(chain_model())
    with pytest.raises(EieError) as info:
        choose_formats(net, SMALL, None)
    assert str(info.value) == "automatic activation fraction bits need calibration inputs"
    # float32 reads no fraction bits: no calibration run, value_bits - 1 for the activations;
    # the weights' largest magnitude 2 (layer a) and 1 (layer b) in a 16-bit word.
    assert choose_formats(net, SMALL.replace(precision="float32"), None) == {
        "a": {"act_frac_bits": 15, "weight_frac_bits": 13}, "b": {"act_frac_bits": 15, "weight_frac_bits": 14}}


def token_gru_model(table_width=2, feed="emb"):
    """Token ids -> embedding (host) -> one-layer GRU (chip, hidden 1) -> [0] (host) -> layers p
    and q side by side (chip). The GRU's gate rows over [x (2) | h (1)]: r and z 0 (both gates
    0.5), n's input term x_0, n's hidden term 0: h_t = 0.5 tanh(x_0) + 0.5 h_(t-1)."""
    from compressor.csc import compress_layer
    from eiesim.modelfile import CompressedModel

    gates = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    layers = [compress_layer(gates, SMALL, name="g", activation="none"),
              compress_layer(np.array([[2.0]]), SMALL, name="p", activation="none"),
              compress_layer(np.array([[-1.0]]), SMALL, name="q", activation="none")]
    stage = {"kind": "gru", "name": "rnn.l0", "input_size": 2, "hidden_size": 1, "proj_size": 0,
             "directions": [{"gates": "g", "proj": None, "reverse": False}]}
    node = lambda name, op, args, **extra: {"name": name, "op": op, "module": name, "args": args,  # noqa: E731
                                            "kwargs": {}, **extra}
    graph = {"inputs": [{"name": "x", "shape": [1, 2], "dtype": "int"}],
             "nodes": [node("emb", "aten.embedding.default", [{"array": "table"}, {"ref": "x"}]),
                       node("rnn", "eie.gru", [{"ref": feed}, {"array": "h0"}], stages=[stage], batch_first=True),
                       node("out", "getitem", [{"ref": "rnn"}, 0]),
                       node("fc", "eie.linear", [{"ref": "out"}], layers=["p", "q"])],
             "outputs": [{"ref": "fc"}]}
    table = np.zeros((3, table_width))
    table[:, 0] = [0.5, 0.0, 1.0]
    arrays = {"table": table, "h0": np.zeros((1, 1, 1))}
    return CompressedModel(layers, SMALL, metadata={"network": {"graph": graph, "skipped": []}}, host_arrays=arrays)


def test_a_graph_of_token_ids_through_a_gru():
    from eiecore.errors import EieError
    from eiesim.inference import Network, infer

    model = token_gru_model()
    net = Network(model)
    assert [(group, [n["name"] for n in nodes]) for group, nodes in net.host_ops_after()] == [
        ("", ["emb"]), ("g", ["out"]), ("p + q", [])]
    assert net.call_order() == ["g", "p", "q"]
    r = infer(model, np.array([[0, 2]]))
    h1 = 0.5 * np.tanh(0.5)
    h2 = 0.5 * np.tanh(1.0) + 0.5 * h1
    np.testing.assert_allclose(r.float_outputs, [[[2 * h1, -h1], [2 * h2, -h2]]], rtol=1e-12)
    np.testing.assert_allclose(r.outputs, r.float_outputs, atol=1e-3)
    assert r.calls.tolist() == [[2, 2, 2]] and r.host_ops == {"aten.embedding.default": 1.0, "getitem": 1.0}
    with pytest.raises(EieError) as info:
        infer(model, np.array([[0.0, 2.5]]))
    assert str(info.value).startswith("inputs (token ids, like the example input) must be integers")


@pytest.mark.parametrize("model, message", [
    (lambda: token_gru_model(table_width=3), "GRU rnn.l0 takes (batch, time, 2) inputs, got shape (1, 2, 3)"),
    (lambda: token_gru_model(feed="x"), "GRU rnn.l0 takes (batch, time, 2) inputs, got shape (1, 2)"),
])
def test_a_recurrent_node_fed_the_wrong_shape(model, message):
    from eiecore.errors import EieError
    from eiesim.inference import infer

    with pytest.raises(EieError) as info:
        infer(model(), np.array([[0, 2]]))
    assert str(info.value) == message


def test_calibration_given_to_choose_formats_is_checked():
    from eiecore.errors import EieError
    from eiesim.inference import Network, choose_formats

    with pytest.raises(EieError) as info:
        choose_formats(Network(chain_model()), SMALL, np.ones((1, 3)))
    assert str(info.value) == "calibration inputs have 3 features but the first layer (a) takes 2"


def test_calibration_inputs_set_the_formats_not_the_inputs():
    from eiesim.inference import infer

    # Calibrated on [8, 8]: layer a's partial sums reach 8 + 0.5 x 8 = 12 (12 x 2^11 fits, 2^12
    # does not: 11 bits); b reads relu([12, 8]) and sums to 20 (10 bits). On the inputs alone
    # ([0.25, 0.5]) a would see at most 0.75 (15 bits).
    r = infer(chain_model(), np.array([[0.25, 0.5]]), calibration=np.array([[8.0, 8.0]]), reference=np.array([[1.25]]),
              reference_name="torch")
    assert {name: f["act_frac_bits"] for name, f in r.formats.items()} == {"a": 11, "b": 10}
    assert infer(chain_model(), np.array([[0.25, 0.5]])).formats["a"]["act_frac_bits"] == 15
    assert r.summary()["reference"] == "torch" and r.summary()["vs_reference"]["max_abs_error"] == 0.0


def test_an_energy_table_reaches_every_layer_call(tmp_path):
    from eiesim.inference import infer
    from eiesim.simulation import simulate
    from tests.energy_helpers import EVENTS_TOML, replace_value

    path = tmp_path / "t.toml"
    path.write_text(replace_value(EVENTS_TOML, "regfile_32", "value", "2.0"))
    model, x = chain_model(), np.array([[0.25, 0.5]])
    r = infer(model, x, energy_table=str(path), engine="reference")
    assert r.engine == "reference"
    a_in, b_in = [0.25, 0.5], [0.5, 0.75]
    want = [simulate(layer, acts, SMALL.replace(**r.formats[layer.name]), energy_table=str(path)).energy.total
            for layer, acts in zip(model.layers, (a_in, b_in))]
    np.testing.assert_allclose(r.energy_pj, [want])
    assert r.energy_pj.sum() > infer(model, x).energy_pj.sum()


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_a_sequence_first_recurrent_graph_with_initial_states_matches_torch(kind):
    """torch's LSTM / GRU in its default (time, batch, features) layout, two layers both ways,
    from given initial states, returning its output and final states: the captured graph with
    the imported matrices gives torch's numbers (torch computes in float32)."""
    torch = pytest.importorskip("torch")
    from compressor.csc import compress_layer
    from eiesim.inference import Network, forward
    from eiesim.modelfile import CompressedModel
    from workloads.torch_graph import capture
    from workloads.torch_zoo import torch_outputs

    class SequenceFirst(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(7)
            self.rnn = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(3, 2, num_layers=2, bidirectional=True)
            self.h0, self.c0 = torch.nn.Parameter(torch.randn(4, 1, 2)), torch.nn.Parameter(torch.randn(4, 1, 2))

        def forward(self, x):
            h0 = self.h0 + 0.0 * x[:, :1, :1]  # a computed initial state (a reference), and a stored one (c0)
            if kind == "lstm":
                out, (h, c) = self.rnn(x.transpose(0, 1), (h0, self.c0))
                return torch.cat([out.flatten(), h.flatten(), c.flatten()])[None]
            out, h = self.rnn(x.transpose(0, 1), h0)
            return torch.cat([out.flatten(), h.flatten()])[None]

    module, x = SequenceFirst(), np.random.default_rng(0).uniform(-1, 1, (2, 4, 3))
    net = capture(module, x)
    assert [node["batch_first"] for node in net.graph["nodes"] if node["op"] == f"eie.{kind}"] == [False]
    layers = [compress_layer(w, SMALL, name=n, has_bias=b, activation=net.activations.get(n, "none"))
              for n, w, b in net.layers]
    model = CompressedModel(layers, SMALL, metadata={"network": {"graph": net.graph, "skipped": []}},
                            host_arrays=net.host_arrays)
    matrices = {n: (w, b) for n, w, b in net.layers}
    exact = forward(Network(model), x, call=lambda layer, a: matrices[layer.name][0] @ (
        np.append(a, 1.0) if matrices[layer.name][1] else a))
    reference = torch_outputs(module, x)
    assert exact.shape == reference.shape == (2, 4 * 4 + 4 * 2 * (2 if kind == "lstm" else 1))
    np.testing.assert_allclose(exact, reference, atol=1e-6)
    groups = [group for group, _ in Network(model).host_ops_after()]
    assert groups == ["", "rnn.l0 + rnn.l0_reverse + rnn.l1 + rnn.l1_reverse"]


def test_a_graph_keeps_the_batch_axis_through_its_layers():
    from eiesim.inference import infer

    # x (1, 3, 2) -> fc (1, 3, 2) -> relu -> mean over axis 1 (the 3 vectors, not the batch):
    # [1, 1] -> [3, 7], [1, 0] -> [1, 3], [0, 1] -> [2, 4]: means 2 and 14/3.
    x = np.array([[[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]]])
    r = infer(graph_model(steps=3, tail=[1]), x)
    np.testing.assert_allclose(r.outputs, [[2.0, 14 / 3]])
    # Calls of differing density: 1, 1/2, 1/2 averaged over the 3 calls.
    assert r.calls.tolist() == [[3]] and r.input_density[0, 0] == pytest.approx(2 / 3)
    assert r.cycles.dtype == np.int64 and r.calls.dtype == np.int64
    # The mean over both axes is one number per input (no batch axis left to drop).
    scalar = infer(graph_model(tail=[0, 1]), np.array([[1.0, 1.0], [1.0, -1.0]]))
    np.testing.assert_allclose(scalar.outputs, [5.0, 0.0])  # mean(3, 7); relu(-1, -1)


def test_labels_of_sequence_outputs_and_default_names():
    from eiecore.errors import EieError
    from eiesim.inference import infer
    from eiesim.modelfile import CompressedModel

    # Hidden 2 over input 1: outputs (inputs, 3 steps, 2 classes), labels (inputs, 3 steps).
    model = CompressedModel([layer(8, 3, "g")], SMALL,
                            metadata={"network": {"stages": [lstm_stage(("g", None, False), hidden=2)], "skipped": []}})
    x = np.ones((1, 3, 1))
    r = infer(model, x, labels=np.array([[0, 1, 1]]), reference=np.zeros((1, 3, 2)))
    assert r.outputs.shape == (1, 3, 2) and r.labels.shape == (1, 3)
    assert r.summary()["reference"] == "the reference outputs"
    with pytest.raises(EieError) as info:
        infer(model, x, labels=np.array([[0, 1, 2]]))
    assert str(info.value) == "labels must be classes 0..1 (the network has 2 outputs), got 0..2"
    with pytest.raises(EieError) as info:
        infer(model, x, labels=np.array([[0, 1]]))
    assert str(info.value) == "labels must be integers of shape (1, 3), got int64 (1, 2)"
    for kwargs, message in [
        ({"reference": np.array([[["a", "b"]] * 3])}, "reference outputs must be real numbers, got dtype <U1"),
        ({"weight_frac_bits": "x"}, "weight_frac_bits takes a number of bits or 'auto', got 'x'"),
    ]:
        with pytest.raises(EieError) as info:
            infer(model, x, **kwargs)
        assert str(info.value) == message


def test_the_progress_bar_only_when_asked(monkeypatch):
    import tqdm

    from eiesim.inference import infer

    bars = []

    class Bar(list):
        def __init__(self, rows, **kwargs):
            super().__init__(rows)
            bars.append(kwargs)

        def close(self):
            bars.append("closed")

    monkeypatch.setattr(tqdm, "tqdm", Bar)
    infer(chain_model(), np.ones((2, 2)))
    assert bars == []
    infer(chain_model(), np.ones((2, 2)), progress=True)
    assert bars == [{"desc": "inputs", "unit": "input", "leave": False, "disable": None}, "closed"]


def test_an_all_zero_layer_calibrates():
    from compressor.csc import compress_layer
    from eiesim.inference import infer
    from eiesim.modelfile import CompressedModel

    # No weight left: no partial sum; the input 2 sets the bits (2 x 2^14 = 32768 > 32767: 13).
    zero = CompressedModel([compress_layer(np.zeros((1, 2)), SMALL, name="z", activation="none")], SMALL)
    r = infer(zero, np.array([[2.0, 1.0]]))
    assert r.formats["z"]["act_frac_bits"] == 13 and r.outputs.tolist() == [[0.0]]


@pytest.mark.parametrize("model, inputs, message", [
    (chain_model, np.array([["a", "b"]]), "inputs must be real numbers, got dtype <U1"),
    (graph_model, np.array([["a", "b"]]), "inputs must be real numbers, got dtype <U1"),
])
def test_inputs_that_are_not_numbers(model, inputs, message):
    from eiecore.errors import EieError
    from eiesim.inference import infer

    with pytest.raises(EieError) as info:
        infer(model(), inputs)
    assert str(info.value) == message
