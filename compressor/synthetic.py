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

    Kept weights are normal with standard deviation ``scale``, never exactly zero. The
    result is in canonical form (row-major order, no duplicates).
    """
    m, k = shape
    if m <= 0 or k <= 0:
        raise EieError(f"shape must be positive, got {shape}")
    nnz = exact_count(m * k, density)
    flat = sample_positions(m * k, nnz, rng)
    values = rng.normal(0.0, scale, size=nnz)
    values[values == 0] = scale
    coo = sp.coo_matrix((values, (flat // k, flat % k)), shape=(m, k))
    coo.has_canonical_format = True
    return coo


def sample_positions(total: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct positions in range(total), uniformly at random, ascending (int64).

    Cheaper than ``rng.choice(total, count, replace=False)`` for large ``total``: draw
    positions with replacement and keep the distinct ones. By symmetry the distinct set,
    given its size, is a uniform subset; topping it up with more draws or dropping a uniform
    random subset of the surplus keeps it uniform. A draw set over half of the range is
    picked as the complement instead, so collisions stay rare.
    """
    if count * 2 > total:
        keep = np.ones(total, bool)
        keep[sample_positions(total, total - count, rng)] = False
        return np.flatnonzero(keep)
    picked = np.zeros(0, np.int64)
    while picked.size < count:
        missing = count - picked.size
        # Expected collisions of n draws among `total` places are about n^2 / (2 total).
        draws = missing + 2 * (count * count) // total + 64
        picked = _distinct(np.concatenate((picked, rng.integers(0, total, size=draws))))
    surplus = rng.choice(picked.size, size=picked.size - count, replace=False)
    return np.delete(picked, surplus)


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (np.unique is far slower on large integer arrays here)."""
    values = np.sort(values)
    keep = np.ones(values.size, bool)
    keep[1:] = values[1:] != values[:-1]
    return values[keep]


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
