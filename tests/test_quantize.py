"""Weight sharing (SPEC §3): codes 1..2^b-1, pattern kept, linear-init k-means, determinism."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compressor.quantize import finetune_centroids, share_weights
from eiesim.errors import EieError


@settings(max_examples=60)
@given(
    st.lists(st.floats(-10, 10, allow_nan=False).filter(lambda v: v != 0), min_size=1, max_size=300),
    st.integers(1, 8),
)
def test_codes_and_codebook_invariants(values, bits):
    values = np.array(values)
    shared = share_weights(values, bits)
    assert shared.codes.shape == values.shape and shared.codes.dtype == np.uint8
    # Every kept weight keeps a non-zero code, so the pattern cannot change.
    assert np.all((shared.codes >= 1) & (shared.codes <= 2**bits - 1))
    book = shared.codebook
    assert book.shape == (2**bits,) and book[0] == 0
    used = book[1 : 1 + min(np.unique(values).size, 2**bits - 1)]
    assert np.all(np.diff(used) > 0)
    assert np.all(book[1 + used.size :] == 0)  # unused entries hold 0, never referenced
    assert shared.codes.max() <= used.size
    # Each weight takes its nearest centroid.
    distance = np.abs(values[:, None] - used[None, :])
    np.testing.assert_array_equal(distance[np.arange(values.size), shared.codes - 1], distance.min(axis=1))
    assert used.min() >= values.min() and used.max() <= values.max()


def test_few_distinct_values_are_kept_exactly():
    values = np.array([0.5, -1.0, 0.5, 2.0, -1.0])
    shared = share_weights(values, 2)
    assert shared.codebook.tolist() == [0.0, -1.0, 0.5, 2.0]
    np.testing.assert_array_equal(shared.values(), values)


def test_well_separated_groups_give_their_means():
    rng = np.random.default_rng(0)
    centres = np.arange(1, 16) * 10.0 - 80.0  # -70 .. 70, none zero
    values = np.repeat(centres, 50) + rng.uniform(-1, 1, 15 * 50)
    shared = share_weights(values, 4)
    means = values.reshape(15, 50).mean(axis=1)
    np.testing.assert_allclose(shared.codebook[1:], means, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(shared.codes, np.repeat(np.arange(1, 16), 50))


def test_lloyd_from_linear_initialisation_by_hand():
    # b = 2: three clusters, initialised at 1, 15.5, 30 (evenly over [min, max]).
    # Midpoints 8.25 and 22.75 split {1, 2, 3} {10..14} {30}: means 2, 12, 30, which
    # assign the same way again, so that is where Lloyd stops.
    values = np.array([1.0, 2.0, 3.0, 10.0, 11.0, 12.0, 13.0, 14.0, 30.0])
    shared = share_weights(values, 2)
    assert shared.codebook.tolist() == [0.0, 2.0, 12.0, 30.0]
    assert shared.codes.tolist() == [1, 1, 1, 2, 2, 2, 2, 2, 3]


def test_deterministic():
    values = np.random.default_rng(3).normal(size=5000)
    a, b = share_weights(values, 4), share_weights(values, 4)
    np.testing.assert_array_equal(a.codes, b.codes)
    np.testing.assert_array_equal(a.codebook, b.codebook)


def test_no_weights_give_an_empty_result():
    shared = share_weights(np.zeros(0), 4)
    assert shared.codes.size == 0 and shared.codebook.tolist() == [0.0] * 16


@pytest.mark.parametrize("values, message", [([1.0, np.nan], "NaN"), ([1.0, np.inf], "NaN"), ([1.0, 0.0], "non-zero")])
def test_bad_values(values, message):
    with pytest.raises(EieError, match=message):
        share_weights(np.array(values), 4)


def test_finetune_sums_gradients_per_cluster_and_keeps_zero():
    book = np.array([0.0, 1.0, 2.0, 3.0])
    codes = np.array([1, 1, 3, 0])
    grads = np.array([0.5, 0.25, -1.0, 7.0])
    np.testing.assert_allclose(finetune_centroids(book, codes, grads, lr=0.1), [0.0, 0.925, 2.0, 3.1])


def test_centroids_one_ulp_apart_each_keep_their_own_weights():
    # Found by Hypothesis in CI: the midpoint of 10.0 and its lower neighbour rounds to 10.0.
    values = np.array([10.0, np.nextafter(10.0, 0.0)])
    shared = share_weights(values, 2)
    np.testing.assert_array_equal(shared.values(), values)
