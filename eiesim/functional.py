"""The plain numpy functional model (SPEC §6, normative): what the layer computes.

Each output row accumulates its active columns in increasing column order, one scaled
product and one saturating add per kept weight, then ReLU (unless the layer says
``activation="none"``). Both engines' outputs equal this bit for bit.
"""

from __future__ import annotations

import numpy as np

from compressor.csc import EncodedLayer
from eiesim.config import ArchConfig
from eiesim.numerics import convert_codebook, to_real, value_range


def functional_output(layer: EncodedLayer, acts_converted: np.ndarray, config: ArchConfig) -> np.ndarray:
    """Output activations (real values) of ``layer`` for converted activations (length K)."""
    bias = None if layer.bias_codebook is None else convert_codebook(layer.bias_codebook, config)
    weights = layer.to_coo(convert_codebook(layer.codebook, config), bias).tocsc()
    weights.sort_indices()
    fixed = config.precision == "fixed"
    acc = np.zeros(layer.shape[0], np.int64 if fixed else np.float32)
    lo, hi = value_range(config)
    half, shift = (1 << config.weight_frac_bits) >> 1, config.weight_frac_bits
    for j in np.flatnonzero(acts_converted):
        span = slice(weights.indptr[j], weights.indptr[j + 1])
        rows, w = weights.indices[span], weights.data[span]
        if fixed:
            acc[rows] = np.clip(acc[rows] + ((w * int(acts_converted[j]) + half) >> shift), lo, hi)
        else:
            acc[rows] = acc[rows] + w * acts_converted[j]
    out = to_real(acc, config)
    return np.maximum(out, 0.0) if layer.activation == "relu" else out
