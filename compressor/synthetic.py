"""Seeded synthetic layers, generated sparse: a dense matrix is never materialised."""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from eiecore.errors import EieError

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


def binomial_cv(density: float, size: int) -> float:
    """Coefficient of variation of a Binomial(size, density) count: the spread of the
    non-zeros per row (size = K) or per column (size = M) of a uniformly random mask."""
    if density <= 0.0 or size <= 0:
        return 0.0
    return math.sqrt((1.0 - density) / (density * size))


def propensities(size: int, cv: float, rng: np.random.Generator) -> np.ndarray:
    """``size`` positive weights of mean 1 and coefficient of variation ``cv`` (gamma-distributed;
    all ones when ``cv`` = 0)."""
    if cv < 0 or not math.isfinite(cv):
        raise EieError(f"a coefficient of variation must be a finite number >= 0, got {cv}")
    if cv == 0:
        return np.ones(size)
    return rng.gamma(1.0 / cv**2, cv**2, size=size)


def heterogeneous_sparse_weights(
    shape: tuple[int, int], density: float, row_cv: float, col_cv: float, rng: np.random.Generator,
    scale: float = 0.05,
) -> sp.coo_matrix:
    """A matrix with exactly round(density x M x K) non-zeros whose count per row and per
    column spreads with coefficients of variation about ``row_cv`` and ``col_cv``.

    Rows and columns get gamma propensities of mean 1. Each row's count is drawn
    multinomially from the row propensities (exact total, capped at K), which alone
    spreads the counts with CV 1 / sqrt(mean per row); the propensities carry only the
    rest: cv_p = sqrt(max(0, cv^2 - noise^2)) (for columns the noise is binomial_cv). Then each row's columns are drawn
    with probability proportional to the column propensities, without replacement
    (a row's duplicates are redrawn until it has its count). The counts' CVs come out near
    ``row_cv`` / ``col_cv`` (measured in tests; the column spread shrinks a little at high
    density, where popular columns fill up). Memory is O(non-zeros + M + K).
    """
    m, k = shape
    if m <= 0 or k <= 0:
        raise EieError(f"shape must be positive, got {shape}")
    nnz = exact_count(m * k, density)
    rows_p = propensities(m, _excess_cv(row_cv, 1 / math.sqrt(nnz / m) if nnz else 0.0), rng)
    cols_p = propensities(k, _excess_cv(col_cv, binomial_cv(density, m)), rng)
    per_row = _capped_multinomial(nnz, rows_p / rows_p.sum(), k, rng)
    col_cdf = np.cumsum(cols_p / cols_p.sum())
    picked = np.zeros(0, np.int64)
    missing = per_row
    while missing.any():
        rows = np.repeat(np.arange(m, dtype=np.int64), missing)
        cols = np.minimum(np.searchsorted(col_cdf, rng.random(rows.size), side="right"), k - 1)
        picked = _distinct(np.concatenate((picked, rows * k + cols)))
        missing = per_row - np.bincount(picked // k, minlength=m)
    values = rng.normal(0.0, scale, size=nnz)
    values[values == 0] = scale
    coo = sp.coo_matrix((values, (picked // k, picked % k)), shape=(m, k))
    coo.has_canonical_format = True
    return coo


def _capped_multinomial(total: int, p: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Multinomial counts of ``total`` over ``p``, none above ``cap`` (overflow redrawn
    among the categories with room)."""
    counts = rng.multinomial(total, p)
    while (over := int(np.maximum(counts - cap, 0).sum())) > 0:
        counts = np.minimum(counts, cap)
        room = np.where(counts < cap, p, 0.0)
        counts += rng.multinomial(over, room / room.sum())
    return counts


def _excess_cv(target: float, binomial: float) -> float:
    if target < 0 or not math.isfinite(target):
        raise EieError(f"a coefficient of variation must be a finite number >= 0, got {target}")
    return math.sqrt(max(0.0, target**2 - binomial**2))


def input_density(mean: float, cv: float, rng: np.random.Generator) -> float:
    """One input's activation density: Beta-distributed with this mean and coefficient of
    variation (``mean`` itself when ``cv`` = 0 or ``mean`` is 0 or 1)."""
    if not 0.0 <= mean <= 1.0:
        raise EieError(f"activation density must lie in [0, 1], got {mean}")
    if cv < 0 or not math.isfinite(cv):
        raise EieError(f"a coefficient of variation must be a finite number >= 0, got {cv}")
    if cv == 0 or mean in (0.0, 1.0):
        return mean
    variance = (cv * mean) ** 2
    if variance >= mean * (1 - mean):
        raise EieError(f"activation density CV {cv} is too large for mean {mean} "
                       f"(at most {math.sqrt((1 - mean) / mean):.3f})")
    concentration = mean * (1 - mean) / variance - 1
    return float(rng.beta(mean * concentration, (1 - mean) * concentration))


def count_spread(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> dict[str, float]:
    """Measured spread of a sparsity pattern: density, CV of non-zeros per row and per
    column (population std / mean), min and max per row, and the CVs a uniformly random
    mask of the same density would show (binomial)."""
    m, k = shape
    per_row = np.bincount(np.asarray(rows), minlength=m)
    per_col = np.bincount(np.asarray(cols), minlength=k)
    density = per_row.sum() / (m * k)

    def cv(x):
        return float(x.std() / x.mean()) if x.mean() > 0 else 0.0

    return {"density": float(density), "row_cv": cv(per_row), "col_cv": cv(per_col),
            "row_min": int(per_row.min()), "row_max": int(per_row.max()),
            "row_cv_uniform": binomial_cv(density, k), "col_cv_uniform": binomial_cv(density, m)}
