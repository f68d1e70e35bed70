"""Weight sharing (SPEC §3): codes 1..2^b-1, pattern kept, linear-init k-means, determinism.

The one-dimensional Lloyd (``kmeans_1d``) is checked against scikit-learn's ``KMeans`` run
the way the compressor used to call it (linear init, one run, its default tol/max_iter).
"""

import warnings
from unittest import mock

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import compressor.quantize as quantize
from compressor.quantize import finetune_centroids, kmeans_1d, share_weights
from eiecore.errors import EieError
from tests.strategies import examples


def sklearn_kmeans(values: np.ndarray, n_clusters: int) -> tuple[np.ndarray, int]:
    """Sorted centroids and iterations of scikit-learn's Lloyd from linear init (one thread)."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    init = np.linspace(values.min(), values.max(), n_clusters).reshape(-1, 1)
    km = KMeans(n_clusters=n_clusters, init=init, n_init=1, algorithm="lloyd")
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "fewer distinct clusters than n_clusters"
        km.fit(values.reshape(-1, 1))
    return np.sort(km.cluster_centers_.ravel()), int(km.n_iter_)


def nearest_by_hand(values: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest sorted centroid, from the full distance table (argmin: lower on ties)."""
    return np.abs(values[:, None] - centroids[None, :]).argmin(axis=1)


def ties_on_the_way(values: np.ndarray, n_clusters: int) -> bool:
    """Whether, at some iteration of our run, a value was equally near two centroids up to rounding.

    Both implementations break such ties their own way (we compare distances, scikit-learn
    rounded c^2 - 2xc), after which their runs may part; the tie rule is pinned by hand below.
    """
    seen = []
    real = quantize._intervals

    def record(x, centres):
        seen.append(np.unique(centres))
        return real(x, centres)

    with mock.patch.object(quantize, "_intervals", record):
        kmeans_1d(np.sort(values), n_clusters)
    for centres in seen:
        if centres.size < 2:
            continue
        d = np.sort(np.abs(values[:, None] - centres[None, :]), axis=1)
        if np.any(d[:, 1] - d[:, 0] <= 1e-12 * np.abs(values).max()):
            return True
    return False


@st.composite
def weight_sets(draw):
    """Random weights: light and heavy tails, one-sided, clumped, with duplicates, tiny and large."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    size = draw(st.one_of(st.integers(16, 60), st.integers(61, 5000)))
    kind = draw(st.sampled_from(["normal", "cauchy", "student3", "lognormal", "uniform", "clumps"]))
    if kind == "normal":
        values = rng.normal(0, 0.05, size)
    elif kind == "cauchy":
        values = rng.standard_cauchy(size)
    elif kind == "student3":
        values = rng.standard_t(3, size) * 1e-3
    elif kind == "lognormal":
        values = rng.lognormal(0, 2, size) * rng.choice([-1.0, 1.0], size)
    elif kind == "uniform":
        values = rng.uniform(0.5, 4.0, size)
    else:
        values = rng.choice(rng.normal(0, 1, 5), size) + rng.normal(0, 1e-3, size)
    duplicates = draw(st.sampled_from(["none", "rounded", "repeated"]))
    if duplicates == "rounded":
        values = np.round(values, draw(st.integers(1, 3)))
    elif duplicates == "repeated":
        values = rng.choice(values[: max(1, size // 4)], size)
    return values[values != 0]


@settings(max_examples=examples(150))
@given(weight_sets(), st.integers(2, 5))
def test_kmeans_matches_scikit_learn(values, bits):
    n_clusters = 2**bits - 1
    assume(np.unique(values).size > n_clusters)  # fewer distinct values skip k-means
    assume(not ties_on_the_way(values, n_clusters))
    ours, iterations = kmeans_1d(np.sort(values), n_clusters)
    theirs, their_iterations = sklearn_kmeans(values, n_clusters)
    assert iterations == their_iterations
    # Same clustering; sums in a different order, so centroids agree to rounding only.
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12 * np.abs(values).max())
    # Codes: every weight on its nearest centroid, the same with either codebook.
    shared = share_weights(values, bits)
    np.testing.assert_array_equal(shared.codebook[1:], np.r_[ours, np.zeros(2**bits - 1 - ours.size)])
    np.testing.assert_array_equal(shared.codes - 1, nearest_by_hand(values, theirs))


# Random weights may average to 0 in a cluster: share_weights then warns (tested on its own).
@pytest.mark.filterwarnings("ignore::eiecore.errors.EieWarning")
@settings(max_examples=examples(60))
@given(
    st.lists(st.floats(-10, 10, allow_nan=False, allow_subnormal=False).filter(lambda v: v != 0), min_size=1, max_size=300),
    st.integers(1, 8),
)
def test_codes_and_codebook_invariants(values, bits):
    values = np.array(values)
    shared = share_weights(values, bits)
    assert shared.codes.shape == values.shape and shared.codes.dtype == np.uint8
    # Every kept weight keeps a non-zero code, so the pattern cannot change.
    assert np.all((shared.codes >= 1) & (shared.codes <= 2**bits - 1))
    assert np.all(shared.values() != 0)  # ... and a non-zero value
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
    assert shared.codes.size == 0 and shared.codes.dtype == np.uint8 and shared.codebook.tolist() == [0.0] * 16


@pytest.mark.parametrize("values, message", [
    ([1.0, np.nan], "^weights contain NaN or infinity$"), ([1.0, np.inf], "^weights contain NaN or infinity$"),
    ([1.0, 0.0], "^share_weights takes the non-zero weights only$"),
])
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


def test_exact_ties_go_to_the_lower_centroid():
    # b = 2: three clusters from linear init 1, 5, 9. 3 is 2 from both 1 and 5, 7 is 2
    # from both 5 and 9: lower wins, so {1, 2, 3} {5, 7} {8, 9}, means 2, 6, 8.5; they
    # assign the same way again (3 -> 2, 5 and 7 -> 6, 8 -> 8.5), so Lloyd stops there.
    # Ties to the upper would give {1, 2} {3, 5} {7, 8, 9} and stop at 1.5, 4, 8.
    values = np.array([1.0, 2.0, 3.0, 5.0, 7.0, 8.0, 9.0])
    centroids, iterations = kmeans_1d(values, 3)
    assert centroids.tolist() == [2.0, 6.0, 8.5] and iterations == 2
    assert share_weights(values, 2).codes.tolist() == [1, 1, 1, 2, 2, 3, 3]


def test_empty_cluster_takes_the_farthest_value():
    # Linear init 1, 50.5, 100: the middle cluster gets nothing. The value farthest from
    # its old centroid is 5 (distance 4 from 1), so it moves there: {1, 2, 3} -> 2, {5}, {100}.
    # Iteration 2 assigns 5 to the middle one (its label changes) but no centroid moves,
    # so the shift (0) is within tolerance: stop after 2. Without relocation 50.5 would stay.
    values = np.array([1.0, 2.0, 3.0, 5.0, 100.0])
    centroids, iterations = kmeans_1d(values, 3)
    assert centroids.tolist() == [2.0, 5.0, 100.0] and iterations == 2


def test_iteration_cap(monkeypatch):
    # Uniform values converge slowly from linear init; with a cap of 1 iteration the
    # centroids are the means of the first assignment.
    values = np.sort(np.random.default_rng(0).uniform(1, 2, 1000))
    monkeypatch.setattr(quantize, "MAX_ITER", 1)
    centroids, iterations = kmeans_1d(values, 3)
    init = np.array([values[0], (values[0] + values[-1]) / 2, values[-1]])
    labels = nearest_by_hand(values, init)
    assert iterations == 1
    np.testing.assert_allclose(centroids, [values[labels == j].mean() for j in range(3)], rtol=1e-12)


def test_tolerance_is_scaled_by_the_variance():
    # The same values scaled by 1000 take the same iterations: tol scales with the variance.
    values = np.sort(np.random.default_rng(1).normal(size=3000))
    a, n_a = kmeans_1d(values, 15)
    b, n_b = kmeans_1d(values * 1000.0, 15)
    assert n_a == n_b and 1 < n_a < quantize.MAX_ITER
    np.testing.assert_allclose(b, a * 1000.0, rtol=1e-12)


def test_prefix_sums_stay_exact_for_many_values():
    # A million copies of 0.1 after one 1e8: plain prefix sums lose 0.1's low digits
    # at every step; an interval of the last 10 values must still sum to 10 x 0.1.
    x = np.r_[1e8, np.full(1_000_000, 0.1)]
    hi, lo = quantize._prefix_sums(x)
    tail = (hi[-1] - hi[-11]) + (lo[-1] - lo[-11])
    assert abs(tail - 1.0) < 1e-12
    assert abs((hi[-1] + lo[-1]) - (1e8 + 1e5)) < 1e-6


def test_cluster_emptied_by_relocation_copies_the_biggest_centred_sum():
    # scikit-learn's rule, pinned (found by comparing with it). Linear init over [-35, 33],
    # step 68/6: -35, -23.67, -12.33, -1, 10.33, 21.67, 33. Iteration 1: -29 -> c1 (5.33
    # away), 7, 11, 14 -> c4, 32, 33 -> c6, c5 empty. The farthest value, -29, moves to c5,
    # which leaves c1 empty; c1 is numbered before the biggest cluster c4 {7, 11, 14}, so
    # it copies c4's sum centred on the mean 17/9: 32 - 3 * 17/9 + 17/9 = 28.22 (outside the
    # data). Iteration 2: 32 stays with c6 at 32.5 (0.5 away, 3.78 from c1); c1 is empty
    # again and takes 7, the value farthest from its centroid (3.67 from c4 at 32/3);
    # c4 = {11, 14} -> 12.5. Iteration 3 moves nothing (shift 0): stop.
    # Copying c4's raw sum (32) instead ends at [..., 10.67, 32, 33]; copying its mean
    # (10.67) happens to end here too: test_average_of_an_empty_cluster pins that rule.
    values = np.array([-35.0, -29.0, -14.0, -2.0, 7.0, 11.0, 14.0, 32.0, 33.0])
    centroids, iterations = kmeans_1d(values, 7)
    assert centroids.tolist() == [-35.0, -29.0, -14.0, -2.0, 7.0, 12.5, 32.5] and iterations == 3


def test_four_bit_sharing_by_default():
    assert share_weights(np.arange(1.0, 40.0)).codebook.size == 16


def test_complex_weights_are_refused_with_their_dtype():
    with pytest.raises(EieError, match="^weights must be real numbers, got dtype complex128$"):
        share_weights(np.array([1.0 + 1.0j, 2.0]))


def test_float32_weights_share_like_their_float64_values():
    values = (np.arange(1, 41) / 7).astype(np.float32)  # 40 distinct values: k-means runs
    a, b = share_weights(values), share_weights(values.astype(np.float64))
    np.testing.assert_array_equal(a.codebook, b.codebook)
    np.testing.assert_array_equal(a.codes, b.codes)


def test_subnormal_weights_are_refused_but_the_smallest_normal_is_kept():
    tiny = np.finfo(np.float64).tiny  # 2.2250738585072014e-308, the smallest normal
    message = r"^2 of 4 kept weights are subnormal \(\|w\| < 2\.23e-308; smallest 1e-310\): .* scale the layer up$"
    with pytest.raises(EieError, match=message):
        share_weights(np.array([1.0, 1e-310, -3e-310, -2.0]))
    assert share_weights(np.array([-tiny, tiny, 1.0])).values().tolist() == [-tiny, tiny, 1.0]


@pytest.mark.parametrize("members, shared, side", [
    # sum 0; 2 negative, 2 positive: a tie, the positive side wins, mean (0.5 + 1.5) / 2 = 1
    ([-1.0, -1.0, 0.5, 1.5], 1.0, "2 positive"),
    # sum 0; 2 negative, 1 positive: the negative side, mean -1
    ([-1.0, -1.0, 2.0], -1.0, "2 negative"),
])
def test_a_centroid_at_zero_moves_to_the_mean_of_its_larger_side(members, shared, side):
    # Centroids 0 and 10: the members are nearer 0, 10 has itself.
    ordered = np.array([*members, 10.0])
    with pytest.warns(quantize.EieWarning) as caught:
        centroids = quantize._keep_nonzero(ordered, np.array([0.0, 10.0]))
    assert centroids.tolist() == [shared, 10.0]
    (warning,) = caught
    assert str(warning.message) == (
        f"weight sharing: {len(members)} kept weights in [-1, {max(members):g}] averaged to 0; their shared "
        f"value is now {shared:g}, the mean of the {side} ones, so no kept weight becomes 0")


@pytest.mark.parametrize("near_zero", [5e-324, -5e-324, 1e-310, -2.2e-308])
def test_a_subnormal_centroid_counts_as_zero(near_zero):
    # A mean that cancels to a subnormal computes as 0 like an exact 0 (members as in the
    # exact-zero case above: 2 negative, 2 positive, a tie -> the positive mean 1).
    ordered = np.array([-1.0, -1.0, 0.5, 1.5, 10.0])
    with pytest.warns(quantize.EieWarning, match=r"4 kept weights in \[-1, 1\.5\] averaged to"):
        assert quantize._keep_nonzero(ordered, np.array([near_zero, 10.0])).tolist() == [1.0, 10.0]


def test_a_centroid_at_the_smallest_normal_is_not_zero():
    tiny = np.finfo(np.float64).tiny
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert quantize._keep_nonzero(np.array([tiny, 1.0]), np.array([tiny, 1.0])).tolist() == [tiny, 1.0]


def test_codes_use_the_centroid_moved_off_zero():
    # Integers -20..20 without 0, three times each: 40 distinct values over 15 clusters.
    # Linear init puts centre 7 at 0, so the cluster {-1, +1} averages to exactly 0 and
    # moves to 1 (3 positive, 3 negative: a tie); -1 is then 2 from 1 and 2 from -3 (the
    # next centroid down): the tie goes to the lower, -3.
    values = np.tile(np.array([i for i in range(-20, 21) if i], float), 3)
    with pytest.warns(quantize.EieWarning, match=r"6 kept weights in \[-1, 1\] averaged to 0"):
        shared = share_weights(values)
    assert np.count_nonzero(shared.values()) == values.size
    assert set(shared.values()[values == -1]) == {-3.0} and set(shared.values()[values == 1]) == {1.0}


def test_finetune_keeps_codebook_entries_no_weight_uses():
    book = np.array([0.0, 1.0, 2.0, 3.0])  # codes 1 only: entries 2 and 3 unchanged
    np.testing.assert_allclose(finetune_centroids(book, np.array([1, 1]), np.array([1.0, 3.0]), lr=0.5),
                               [0.0, -1.0, 2.0, 3.0])


def test_exactly_as_many_distinct_values_as_clusters_are_kept_exactly():
    # 15 distinct, unevenly spaced values for 15 clusters: each is its own shared weight
    # (Lloyd from linear init would merge the close ones and leave clusters empty).
    values = np.r_[np.arange(1, 14) * 0.01, 50.0, 100.0]
    np.testing.assert_array_equal(share_weights(values, 4).values(), values)


def test_equal_values_stop_after_one_iteration():
    # Variance 0: tol = 0, and the first iteration moves no centroid (shift 0 <= 0).
    centroids, iterations = kmeans_1d(np.full(7, 2.5), 3)
    assert centroids.tolist() == [2.5, 2.5, 2.5] and iterations == 1


@pytest.mark.parametrize("sums, counts, expected", [
    # Empty cluster 1 before the biggest (2, 3 values): its centred sum 6 - 3 x 1 plus the
    # mean 1 = 4; the others are sum / count: 10 / 2 = 5 and 6 / 3 = 2.
    ([10.0, 0.0, 6.0], [2, 0, 3], [5.0, 4.0, 2.0]),
    # Empty cluster 2 after the biggest (0): it copies that centroid, 6 / 3 = 2.
    ([6.0, 10.0, 0.0], [3, 2, 0], [2.0, 5.0, 2.0]),
    # Two biggest (3 values each): the first of them, 0, counts; cluster 1 is after it.
    ([3.0, 0.0, 9.0], [3, 0, 3], [1.0, 1.0, 3.0]),
])
def test_average_of_an_empty_cluster(sums, counts, expected):
    # scikit-learn's _average_centers on data centred on their mean (here 1.0).
    got = quantize._average(np.array(sums), np.array(counts, float), 1.0)
    assert got.tolist() == expected


def test_tolerance_is_the_variance_of_all_values(monkeypatch):
    # [0, 1, 2, 10], k = 2, linear init 0 and 10. Iteration 1: {0, 1, 2} -> 1, {10} -> 10,
    # shift (1 - 0)^2 = 1. Mean 13/4, variance 62.75/4 = 15.6875; TOL 0.05 gives tol
    # 0.784 < 1, so a second iteration runs (and moves nothing). A variance about a wrong
    # mean (e.g. without the last value, 3/4: 21.9375, tol 1.097) would stop after one.
    monkeypatch.setattr(quantize, "TOL", 0.05)
    centroids, iterations = kmeans_1d(np.array([0.0, 1.0, 2.0, 10.0]), 2)
    assert centroids.tolist() == [1.0, 10.0] and iterations == 2


def test_nearest_with_equal_centroids_takes_the_first():
    # Centroids 1, 5, 5: no value is nearer the second 5 than the first, so 5 -> index 1.
    codes = quantize._nearest(np.array([5.0, 1.0]), np.array([1.0, 5.0]), np.array([1.0, 5.0, 5.0]))
    assert codes.tolist() == [1, 0]


def test_a_value_one_away_is_relocated_too():
    # Linear init 1, 50.5, 100: the middle cluster gets nothing; the farthest value from
    # its old centroid is 2, at squared distance exactly 1 from 1. It moves: 1, 2, 100.
    centroids, iterations = kmeans_1d(np.array([1.0, 2.0, 100.0]), 3)
    assert centroids.tolist() == [1.0, 2.0, 100.0] and iterations == 2
