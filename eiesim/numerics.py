"""Number formats of the datapath (SPEC §6, normative).

Fixed point: activations and codebook values are signed ``value_bits`` integers with
``act_frac_bits`` / ``weight_frac_bits`` fraction bits. Float inputs convert with
round-to-nearest (ties to even, as ``numpy.rint``) and saturation. A product is shifted
right by ``weight_frac_bits`` with round-half-up (add 2^(f-1), arithmetic shift) and added
to the accumulator with saturation to the signed ``value_bits`` range, so accumulators hold
activations. ``precision="float32"`` does the same steps in float32 without saturation.
"""

from __future__ import annotations

import numpy as np

from eiesim.config import ArchConfig


def value_range(config: ArchConfig) -> tuple[int, int]:
    """Smallest and largest signed ``value_bits`` integer."""
    half = 1 << (config.value_bits - 1)
    return -half, half - 1


def frac_bits_for(max_abs: float, value_bits: int) -> int:
    """Dynamic fixed point: the most fraction bits (0 .. value_bits - 1) with which
    ``max_abs`` fits a signed ``value_bits`` integer unsaturated,
    max_abs * 2^f <= 2^(value_bits - 1) - 1 (so 1.0 in 16 bits gets 14, not 15)."""
    hi = 2 ** (value_bits - 1) - 1
    f = value_bits - 1
    while f > 0 and max_abs * 2.0**f > hi:
        f -= 1
    return f


def to_fixed(x: np.ndarray, frac_bits: int, config: ArchConfig) -> np.ndarray:
    """Round-to-nearest and saturate real values to signed ``value_bits`` integers."""
    lo, hi = value_range(config)
    with np.errstate(over="ignore"):  # a product beyond float64 is infinite, and saturates like any other
        return np.clip(np.rint(np.asarray(x, np.float64) * 2.0**frac_bits), lo, hi).astype(np.int64)


def convert_activations(acts: np.ndarray, config: ArchConfig) -> np.ndarray:
    """Activations in the layer's number format: int64 codes (fixed) or float32."""
    if config.precision == "float32":
        return np.asarray(acts, np.float32)
    return to_fixed(acts, config.act_frac_bits, config)


def convert_codebook(codebook: np.ndarray, config: ArchConfig) -> np.ndarray:
    """Codebook values in the layer's number format; entry 0 stays exactly 0."""
    if config.precision == "float32":
        return np.asarray(codebook, np.float32)
    return to_fixed(codebook, config.weight_frac_bits, config)


def codebook_table(layer, config: ArchConfig) -> np.ndarray:
    """The table the arithmetic unit decodes codes through, in the layer's number format: the
    codebook, followed by the bias codebook when the layer has one (codes of the bias column
    then index entries 2^b and up)."""
    table = convert_codebook(layer.codebook, config)
    if layer.bias_codebook is None:
        return table
    return np.concatenate([table, convert_codebook(layer.bias_codebook, config)])


def scaled_product(weight, act, config: ArchConfig):
    """Product of a codebook value and an activation, in accumulator units."""
    if config.precision == "float32":
        return np.float32(weight) * np.float32(act)
    f = config.weight_frac_bits
    return (int(weight) * int(act) + ((1 << f) >> 1)) >> f


def accumulate(acc, product, config: ArchConfig):
    """acc + product, saturated to ``value_bits`` in fixed point."""
    if config.precision == "float32":
        return np.float32(np.float32(acc) + np.float32(product))
    lo, hi = value_range(config)
    return min(max(int(acc) + int(product), lo), hi)


def to_real(acc: np.ndarray, config: ArchConfig) -> np.ndarray:
    """Accumulator contents as real numbers (float64)."""
    if config.precision == "float32":
        return np.asarray(acc, np.float64)
    return np.asarray(acc, np.float64) / 2.0**config.act_frac_bits
