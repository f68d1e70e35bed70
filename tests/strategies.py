"""Hypothesis strategies that draw matrices and activations element by element.

Drawing the values themselves (not a numpy seed) lets a failure shrink: Hypothesis removes
non-zeros and moves values towards simple ones until the smallest failing layer is left.
Sparse draws fill unset cells with zero, so large mostly-empty matrices stay cheap.
"""

from __future__ import annotations

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

# Activation values that exercise zero (not broadcast), one that rounds to zero in the
# default fixed point (1e-4 < 2^-9), negatives, and values that saturate in narrow formats.
ACTIVATIONS = (0.0, 1e-4, 0.5, -1.25, 3.0, 7.9)
DEEP_FACTOR = 10  # the deep profile (make test-deep) draws this many times more examples


@st.composite
def masks(draw, max_rows: int, max_cols: int, min_rows: int = 1, min_cols: int = 1) -> np.ndarray:
    """A boolean M x K pattern of kept weights: sparse (most cells False) or dense."""
    m, k = draw(st.integers(min_rows, max_rows)), draw(st.integers(min_cols, max_cols))
    sparse = draw(st.booleans())
    return draw(arrays(np.bool_, (m, k), elements=st.booleans(), fill=st.just(False) if sparse else None))


@st.composite
def weight_matrices(draw, max_rows: int = 60, max_cols: int = 60) -> np.ndarray:
    """A float matrix whose zeros are pruned weights; the kept values are either a few
    repeated ones (k-means sees fewer distinct values than clusters) or a continuum."""
    mask = draw(masks(max_rows, max_cols))
    few = st.sampled_from([-2.0, -0.5, 0.25, 3.0])
    continuum = st.floats(-8.0, 8.0, allow_nan=False, allow_subnormal=False).filter(lambda v: abs(v) >= 1e-3)
    values = draw(arrays(np.float64, int(mask.sum()), elements=few if draw(st.booleans()) else continuum))
    w = np.zeros(mask.shape)
    w[mask] = values
    return w


def examples(count: int) -> int:
    """``count`` examples in CI; the deep profile's factor more (a test's own
    ``max_examples`` would otherwise cap the deep run)."""
    return count if settings.default.derandomize else count * DEEP_FACTOR


def codes_for(count: int, weight_bits: int = 4):
    """Weight codes 1..2^b - 1 for ``count`` kept weights."""
    return arrays(np.int64, count, elements=st.integers(1, 2**weight_bits - 1))


def activations(length: int, values=ACTIVATIONS):
    """An activation vector of ``length`` drawn from ``values`` (zeros likely)."""
    return arrays(np.float64, length, elements=st.sampled_from(values))
