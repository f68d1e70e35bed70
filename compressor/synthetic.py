"""Seeded synthetic layers, generated sparse: a dense matrix is never materialised."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from eiesim.errors import EieError

# Smallest magnitude of a synthetic activation: 4 LSBs of the default 8-bit fraction, so
# fixed-point conversion never turns a non-zero activation into zero.
MIN_ACTIVATION = 4 / 256


def exact_count(size: int, density: float) -> int:
    """Number of non-zeros for a density: round(density x size)."""
    if not 0.0 <= density <= 1.0:
        raise EieError(f"density must lie in [0, 1], got {density}")
    return int(round(density * size))


def random_sparse_weights(
    shape: tuple[int, int], density: float, rng: np.random.Generator, scale: float = 0.05
) -> sp.coo_matrix:
    """A matrix with exactly round(density x M x K) non-zeros at uniformly random places.

    Kept weights are normal with standard deviation ``scale``, never exactly zero.
    """
    m, k = shape
    if m <= 0 or k <= 0:
        raise EieError(f"shape must be positive, got {shape}")
    nnz = exact_count(m * k, density)
    flat = np.sort(rng.choice(m * k, size=nnz, replace=False))
    values = rng.normal(0.0, scale, size=nnz)
    values[values == 0] = scale
    return sp.coo_matrix((values, (flat // k, flat % k)), shape=(m, k))


def random_activations(
    length: int, density: float, rng: np.random.Generator, signed: bool = False
) -> np.ndarray:
    """A vector with exactly round(density x length) non-zeros.

    Non-negative (post-ReLU-like) unless ``signed``; magnitudes are at least
    ``MIN_ACTIVATION`` so that none rounds to zero in the default fixed-point format.
    """
    nnz = exact_count(length, density)
    acts = np.zeros(length)
    where = rng.choice(length, size=nnz, replace=False)
    magnitude = np.maximum(np.abs(rng.normal(0.0, 1.0, size=nnz)), MIN_ACTIVATION)
    sign = rng.choice([-1.0, 1.0], size=nnz) if signed else 1.0
    acts[where] = sign * magnitude
    return acts
