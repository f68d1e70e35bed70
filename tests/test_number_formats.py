"""Number formats by hand (SPEC §6): exact rounding ties in every conversion, narrow words,
per-layer fraction bits from calibration over several inputs and from both codebooks.

Every expected value is worked out in the comments: a tie is where round-half-up, ties to
even and half away from zero part, so each tie below fails the other two rules.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from compressor.csc import compress_layer
from eiesim.config import ArchConfig
from eiesim.functional import functional_output
from eiesim.inference import Network, choose_formats, infer
from eiesim.modelfile import CompressedModel
from eiesim.numerics import (
    accumulate, codebook_table, convert_activations, convert_codebook, frac_bits_for, scaled_product, to_fixed, to_real,
    value_range,
)
from eiesim.paper.studies import precision_variants
from eiesim.simulation import prepare_activations, simulate

SMALL = ArchConfig(n_pe=2, accumulators_per_pe=4)
LSB = 2.0**-8  # one step of an activation with 8 fraction bits


@pytest.mark.parametrize("steps, even", [
    # x.5 steps: ties to even takes the even neighbour; half-up (floor(x + 0.5)) would give
    # 1, 2, 3, 0, -1, -2 and half away from zero 1, 2, 3, -1, -2, -3.
    ([0.5, 1.5, 2.5, -0.5, -1.5, -2.5], [0, 2, 2, 0, -2, -2]),
    # Not ties: nearest, either side.
    ([0.49, 0.51, -0.49, -0.51, 3.0], [0, 1, 0, -1, 3]),
])
def test_conversions_round_ties_to_even(steps, even):
    cfg = ArchConfig(act_frac_bits=8, weight_frac_bits=3)
    assert convert_activations(np.array(steps) * LSB, cfg).tolist() == even
    assert convert_codebook(np.array(steps) / 8, cfg).tolist() == even  # 3 fraction bits: a step is 1/8
    assert to_fixed(np.array(steps) / 32, 5, cfg).tolist() == even  # any fraction bits: 5 here


def test_conversions_saturate_at_the_words_ends():
    # 16 bits: [-32768, 32767]; 8 bits: [-128, 127]. 127.5 steps is a tie that rounds to 128
    # (even), then saturates to 127; -128.5 rounds to -128 and stays.
    assert value_range(ArchConfig(value_bits=8, act_frac_bits=0, weight_frac_bits=0)) == (-128, 127)
    narrow = ArchConfig(value_bits=8, act_frac_bits=1, weight_frac_bits=0)
    assert convert_activations(np.array([63.75, -64.25, 1e300, -np.inf, 63.0]), narrow).tolist() == [127, -128, 127,
                                                                                                      -128, 126]
    wide = ArchConfig()
    assert convert_activations(np.array([32767.5 * LSB, -32768.5 * LSB, 200.0]), wide).tolist() == [32767, -32768,
                                                                                                   32767]


def test_a_product_past_float64_saturates_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 1e308 x 2^8 overflows float64 to inf, which saturates
        assert convert_activations(np.array([1e308, -1e308]), ArchConfig()).tolist() == [32767, -32768]


@pytest.mark.parametrize("max_abs, bits, expected", [
    (127 / 64, 8, 6),  # 127 / 64 x 2^6 = 127 exactly: the largest word, it fits
    (127.5 / 64, 8, 5),  # 127.5 > 127
    (32767 / 2**14, 16, 14),  # exactly 32767 at 14 bits
])
def test_frac_bits_hold_a_value_exactly_at_the_words_end(max_abs, bits, expected):
    assert frac_bits_for(max_abs, bits) == expected


def test_float32_arithmetic_and_readout():
    f32 = ArchConfig(precision="float32")
    product = scaled_product(0.5, 3.0, f32)
    assert product == 1.5 and product.dtype == np.float32  # no shift, no rounding to a word
    real = to_real(np.array([1.5, -2.25], np.float32), f32)
    assert real.dtype == np.float64 and real.tolist() == [1.5, -2.25]
    assert to_real(np.array([384, -64]), ArchConfig()).tolist() == [1.5, -0.25]  # Q8: / 256


def test_float32_conversion_rounds_ties_to_even():
    # 1 + 2^-24 lies halfway between the float32 neighbours 1 and 1 + 2^-23: it becomes 1;
    # 1 + 3 x 2^-24 lies halfway between 1 + 2^-23 and 1 + 2^-22: it becomes 1 + 2^-22.
    f32 = ArchConfig(precision="float32")
    got = convert_activations(np.array([1 + 2.0**-24, 1 + 3 * 2.0**-24]), f32)
    assert got.dtype == np.float32 and got.tolist() == [1.0, 1 + 2.0**-22]
    assert convert_codebook(np.array([1 + 2.0**-24]), f32).tolist() == [1.0]


@pytest.mark.parametrize("weight, act, product", [
    # weight_frac_bits 2: (w x a + 2) >> 2, i.e. w x a / 4 rounded half up.
    (1, 2, 1),  # 0.5 -> 1
    (1, 6, 2),  # 1.5 -> 2
    (1, 10, 3),  # 2.5 -> 3 (ties to even would give 2)
    (-1, 2, 0),  # -0.5 -> 0 (half away from zero would give -1)
    (-1, 6, -1),  # -1.5 -> -1 (ties to even and away from zero: -2)
    (-1, 10, -2),  # -2.5 -> -2
    (3, 3, 2),  # 2.25 -> 2 (not a tie)
    (-3, 3, -2),  # -2.25 -> -2
])
def test_products_round_half_up(weight, act, product):
    cfg = ArchConfig(weight_frac_bits=2)
    assert scaled_product(weight, act, cfg) == product


def test_accumulate_saturates_both_ways():
    cfg = ArchConfig(value_bits=8, act_frac_bits=0, weight_frac_bits=0)
    assert [accumulate(120, 7, cfg), accumulate(120, 8, cfg), accumulate(-120, -9, cfg), accumulate(-120, -8, cfg)] \
        == [127, 127, -128, -128]
    f32 = ArchConfig(precision="float32")
    assert accumulate(np.float32(1e30), np.float32(1e30), f32) == np.float32(2e30)  # no saturation in float32


def tie_layer():
    """4 x 3 with 2 codebook fraction bits. Codebook: 0.625 = 2.5 steps (a tie) -> 2;
    0.25 -> 1, -0.25 -> -1, 1.0 -> 4. Activations (8 fraction bits): 6.5 steps (a tie) -> 6,
    10 steps exact -> 10, -1.5 steps (a tie) -> -2."""
    w = np.array([[0.625, 0.0, 0.0],
                  [0.0, 0.25, 0.0],
                  [-0.25, 0.0, 0.0],
                  [0.0, 0.0, 1.0]])
    cfg = ArchConfig(n_pe=1, accumulators_per_pe=4, act_frac_bits=8, weight_frac_bits=2)
    acts = np.array([6.5, 10.0, -1.5]) * LSB
    return compress_layer(w, cfg, activation="none"), acts, cfg


def test_every_conversion_ties_through_the_engines_and_the_functional_model(engine):
    layer, acts, cfg = tie_layer()
    assert codebook_table(layer, cfg)[1:5].tolist() == [-1, 1, 2, 4]  # sorted centroids -0.25, 0.25, 0.625, 1
    # Row 0: 2 x 6 = 12, (12 + 2) >> 2 = 3 (codebook half-up: 3 x 6 -> 5; activation half-up: 2 x 7 -> 4).
    # Row 1: 1 x 10 = 10, (10 + 2) >> 2 = 3, the product's tie 2.5 rounded up.
    # Row 2: -1 x 6 = -6, (-6 + 2) >> 2 = -1, the product's tie -1.5 rounded up.
    # Row 3: 4 x -2 = -8, (-8 + 2) >> 2 = -2 (the activation half-up would give -1: (-4 + 2) >> 2 = -1).
    want = np.array([3, 3, -1, -2]) * LSB
    result = simulate(layer, acts, cfg, engine=engine)
    np.testing.assert_array_equal(result.output, want)
    converted = prepare_activations(layer, acts, cfg)
    assert converted.tolist() == [6, 10, -2]
    np.testing.assert_array_equal(functional_output(layer, converted, cfg), want)
    # 0.5 steps rounds to 0 (even): that column is not broadcast, so 3 broadcasts, not 4.
    wider = compress_layer(np.c_[layer.to_coo().toarray(), [0.25, 0, 0, 0]], cfg, activation="none")
    assert simulate(wider, np.r_[acts, 0.5 * LSB], cfg, engine=engine).counters.broadcasts == 3


# ----- per-layer formats in whole-network inference -------------------------------------


def model_of(*layers, config=SMALL):
    return CompressedModel(list(layers), config, metadata={})


def chain():
    """a: [[1, 0.5], [-1, 2]] with ReLU, then b: [[1, 1]]."""
    a = compress_layer(np.array([[1.0, 0.5], [-1.0, 2.0]]), SMALL, name="a", activation="relu")
    b = compress_layer(np.array([[1.0, 1.0]]), SMALL, name="b", activation="none")
    return model_of(a, b)


@pytest.mark.parametrize("calibration", [[[0.0, 2.0], [2.0, 0.0]], [[2.0, 0.0], [0.0, 2.0]]])
def test_calibration_keeps_the_running_maximum_over_its_inputs(calibration):
    # Input [0, 2]: a's partial sums row 0: 0, 1; row 1: 0, 4 -> 4 (inputs 2); output [1, 4];
    # b's inputs 1, 4, partial sums 1, 5 -> 5. Input [2, 0]: a's largest 2, b's 2.
    # Over both (either order): a 4 -> 12 bits (4 x 2^13 = 32768 > 32767), b 5 -> 12.
    # The last input alone, or the first alone, would give 13 bits to one of them.
    formats = choose_formats(Network(chain()), SMALL, np.array(calibration))
    assert {k: v["act_frac_bits"] for k, v in formats.items()} == {"a": 12, "b": 12}
    # [2, 0] alone: a 2 (2 x 2^14 = 32768 > 32767) -> 13, b 2 -> 13.
    alone = choose_formats(Network(chain()), SMALL, np.array([[2.0, 0.0]]))
    assert {k: v["act_frac_bits"] for k, v in alone.items()} == {"a": 13, "b": 13}


def test_calibration_running_maximum_of_inputs_and_of_partial_sums_separately():
    # 0.25 on [6] then [0.5]: the inputs' maximum 6 comes first (partial sums 1.5, 0.125):
    # 6 x 2^12 = 24576 fits, 6 x 2^13 does not -> 12 (the last input alone: 0.5 -> 15).
    layer = compress_layer(np.array([[0.25]]), SMALL, name="x", activation="none")
    assert choose_formats(Network(model_of(layer)), SMALL, np.array([[6.0], [0.5]]))["x"]["act_frac_bits"] == 12
    # [3, -3] on [1, 1] then [0.1, 0.1]: the partial sum 3 comes first (inputs at most 1):
    # 3 x 2^13 = 24576 fits -> 13 (the last alone: 0.3 -> 15).
    layer = compress_layer(np.array([[3.0, -3.0]]), SMALL, name="x", activation="none")
    calibration = np.array([[1.0, 1.0], [0.1, 0.1]])
    assert choose_formats(Network(model_of(layer)), SMALL, calibration)["x"]["act_frac_bits"] == 13


def test_automatic_weight_bits_hold_the_bias_codebook():
    # Weights 0.25 (15 bits would do), bias 3.0: both go through the multiplier, so 13 bits
    # (3 x 2^14 = 49152 > 32767; 3 x 2^13 = 24576). With 15 the bias would saturate at
    # 32767 / 2^15 = 0.99997 and the output 0.25 x 1 + 3 would come out 1.25.
    layer = compress_layer(np.array([[0.25, 3.0]]), SMALL, name="x", has_bias=True, activation="none")
    result = infer(model_of(layer), np.array([[1.0]]))
    assert result.formats["x"]["weight_frac_bits"] == 13
    np.testing.assert_array_equal(result.outputs, [[3.25]])


def test_a_narrow_word_gets_its_own_fraction_bits():
    # value_bits 8 (the model's Q8 / Q12 do not fit 8 bits). Input [0.25, 0.5]:
    # a: partial sums 0.25, 0.5 and -0.25, 0.75 -> 0.75 x 2^7 = 96 <= 127: 7 bits; codebook
    #    max 2: 2 x 2^5 = 64 fits, 2 x 2^6 = 128 does not: 5 bits.
    # b: inputs 0.5, 0.75, partial sums 0.5, 1.25 -> 1.25 x 2^6 = 80: 6 bits; codebook 1: 6 bits.
    x = np.array([[0.25, 0.5]])
    result = infer(chain(), x, value_bits=8)
    assert result.formats == {"a": {"act_frac_bits": 7, "weight_frac_bits": 5},
                              "b": {"act_frac_bits": 6, "weight_frac_bits": 6}}
    assert result.config.value_bits == 8
    # a in Q7 / Q5: row 0: 32 x 32 = 1024, (1024 + 16) >> 5 = 32; 16 x 64 -> 32: 64 = 0.5.
    # Row 1: -32 x 32 = -1024, (-1008) >> 5 = -32; 64 x 64 = 4096, 4112 >> 5 = 128: 96 = 0.75.
    # b in Q6: 0.5 -> 32, 0.75 -> 48; 64 x 32 -> 32, 64 x 48 -> 48: 80 / 64 = 1.25.
    np.testing.assert_array_equal(result.outputs, [[1.25]])
    # Given numbers apply as given in the narrow word.
    fixed = infer(chain(), x, value_bits=8, act_frac_bits=4, weight_frac_bits=5)
    assert fixed.formats["a"] == fixed.formats["b"] == {"act_frac_bits": 4, "weight_frac_bits": 5}
    # Q4: 0.25 -> 4, 0.5 -> 8; a row 0: 32 x 4 = 128 -> (128 + 16) >> 5 = 4, 16 x 8 -> 4: 8 = 0.5;
    # row 1: -32 x 4 -> -4, 64 x 8 = 512 -> 16: 12 = 0.75; b: 32 x 8 -> 8, 32 x 12 -> 12: 20 / 16 = 1.25.
    np.testing.assert_array_equal(fixed.outputs, [[1.25]])


def test_precision_variants_hold_the_bias_codebook_and_the_bias_input():
    # Weights 0.25, bias 3.0, inputs 0.5: pre-activation output 0.25 x 0.5 + 3 = 3.125.
    # Activations: largest of the inputs (0.5), the bias input 1.0 and the output 3.125:
    # 16 bits: 3.125 x 2^13 = 25600 -> 13; 8 bits: 3.125 x 2^5 = 100 -> 5.
    # Weights: the bias codebook's 3.0 -> 13 (16 bits) and 5 (8 bits: 3 x 2^5 = 96, 3 x 2^6 = 192).
    layer = compress_layer(np.array([[0.25, 3.0]]), SMALL, name="x", has_bias=True, activation="none")
    variants = precision_variants(layer, np.array([0.5]), SMALL)
    assert {label: (c.value_bits, c.act_frac_bits, c.weight_frac_bits) for label, c in variants.items()} == {
        "fixed16 (paper)": (16, 8, 12), "fixed16 (calibrated)": (16, 13, 13), "fixed8 (calibrated)": (8, 5, 5)}
    # The bias input 1.0 counts even where inputs and outputs are small: weights 0.25, bias
    # 0.25, input 0.5 -> output 0.375, but 1.0 must fit: 14 bits (1.0 x 2^15 > 32767).
    small = compress_layer(np.array([[0.25, 0.25]]), SMALL, name="y", has_bias=True, activation="none")
    assert precision_variants(small, np.array([0.5]), SMALL)["fixed16 (calibrated)"].act_frac_bits == 14
