"""Seeded synthetic layers: exact counts, uniform positions, canonical sparse output."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from compressor.synthetic import random_sparse_weights, sample_positions
from eiecore.errors import EieError


@given(total=st.integers(1, 5000), fraction=st.floats(0, 1), seed=st.integers(0, 999))
def test_positions_are_exactly_count_distinct_sorted_and_in_range(total, fraction, seed):
    count = round(fraction * total)
    picked = sample_positions(total, count, np.random.default_rng(seed))
    assert picked.size == count and picked.dtype == np.int64
    assert np.all(np.diff(picked) > 0)
    assert count == 0 or (picked[0] >= 0 and picked[-1] < total)


@pytest.mark.parametrize("count", [3, 7])  # below and above half: both ways of drawing
def test_every_position_is_equally_likely(count):
    rng = np.random.default_rng(0)
    trials = 3_000
    hits = np.zeros(10)
    for _ in range(trials):
        hits[sample_positions(10, count, rng)] += 1
    expected = trials * count / 10
    # Binomial spread: about sqrt(trials p (1 - p)); allow five of it.
    assert np.all(np.abs(hits - expected) < 5 * np.sqrt(trials * count / 10 * (1 - count / 10)))


def test_same_seed_same_positions():
    a = sample_positions(10**8, 1000, np.random.default_rng(4))
    b = sample_positions(10**8, 1000, np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)


def test_weights_are_canonical_with_the_exact_count():
    w = random_sparse_weights((300, 700), 0.04, np.random.default_rng(2))
    assert w.nnz == round(0.04 * 300 * 700) and np.all(w.data != 0)
    flat = w.row.astype(np.int64) * 700 + w.col
    assert w.has_canonical_format and np.all(np.diff(flat) > 0)


def test_bad_shape_or_density():
    with pytest.raises(EieError, match="shape"):
        random_sparse_weights((0, 3), 0.5, np.random.default_rng(0))
    with pytest.raises(EieError, match="density"):
        random_sparse_weights((3, 3), 1.5, np.random.default_rng(0))
