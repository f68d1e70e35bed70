"""Weight sharing (Deep Compression §3, SPEC §3, normative).

Per layer, k-means over the **non-zero** weights only, with 2^b - 1 clusters, linear
initialisation (centroids evenly spaced over [min, max] of the non-zero weights) and one
deterministic run. Code 0 is reserved for the value 0 (pruned weights and fillers), so
every kept weight gets a code in 1..2^b - 1 and quantisation never changes the pattern.
The clustering is scalar, so Lloyd's algorithm runs exactly on the sorted weights
(:func:`kmeans_1d`): the clustering scikit-learn's ``KMeans`` finds from the same start,
at a fraction of the cost (benchmarks/bench_kmeans.py).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from eiecore.errors import EieError, EieWarning
from eiecore.numba_options import lazy_njit

# Lloyd's stopping rule, scikit-learn's KMeans defaults: stop when the summed squared
# centroid shift is at most TOL times the variance of the weights, or after MAX_ITER.
TOL = 1e-4
MAX_ITER = 300


@dataclass(frozen=True)
class SharedWeights:
    """The result of weight sharing: codes of the kept weights and the codebook."""

    codes: np.ndarray  # uint8, one per kept weight, in 1..2^b - 1
    codebook: np.ndarray  # float64, 2^b entries, codebook[0] == 0

    def values(self) -> np.ndarray:
        """The quantized value of every kept weight."""
        return self.codebook[self.codes]


def share_weights(values: np.ndarray, weight_bits: int = 4) -> SharedWeights:
    """Cluster the non-zero ``values`` into 2^b - 1 shared weights.

    ``values`` are the kept (non-zero) weights of one layer in any fixed order; the codes
    come back in the same order. With fewer distinct values than clusters each distinct
    value is its own centroid (k-means would leave clusters empty), and unused codebook
    entries hold 0 and are never referenced.
    """
    if np.iscomplexobj(values):
        raise EieError(f"weights must be real numbers, got dtype {np.asarray(values).dtype}")
    values = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(values)):
        raise EieError("weights contain NaN or infinity")
    if np.any(values == 0):
        raise EieError("share_weights takes the non-zero weights only")
    n_clusters = 2**weight_bits - 1
    codebook = np.zeros(2**weight_bits)
    if values.size == 0:
        return SharedWeights(np.zeros(0, np.uint8), codebook)
    ordered = np.sort(values)
    _check_normal(ordered)
    distinct = ordered[np.r_[True, ordered[1:] != ordered[:-1]]]
    if distinct.size <= n_clusters:
        centroids = distinct  # exact: every distinct value is its own shared weight
    else:
        centroids, _ = kmeans_1d(ordered, n_clusters)
        centroids = _keep_nonzero(ordered, centroids)
    codebook[1 : 1 + centroids.size] = centroids
    return SharedWeights(_nearest(values, ordered, centroids) + np.uint8(1), codebook)


def _check_normal(ordered: np.ndarray) -> None:
    """Subnormal weights (0 < |w| < 2.2e-308) are refused: their means lose digits and
    round to a few shared values, or to 0, so sharing could not keep them apart."""
    tiny = np.finfo(np.float64).tiny  # the smallest normal: +-tiny themselves are normal
    lo, hi = np.searchsorted(ordered, -tiny, side="right"), np.searchsorted(ordered, tiny, side="left")
    if hi > lo:
        smallest = float(np.min(np.abs(ordered[lo:hi])))
        raise EieError(f"{hi - lo} of {ordered.size} kept weights are subnormal (|w| < {tiny:.3g}; smallest "
                       f"{smallest:.3g}): weight sharing cannot keep them apart; scale the layer up")


def _keep_nonzero(ordered: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The pattern rule: no kept weight may share the value 0 (or a subnormal that computes as 0).

    A cluster whose mean cancels to (almost) 0 holds values of both signs, e.g. {-1, 1}.
    Its centroid becomes the mean of its members of the more numerous sign (positive on a
    tie), every weight then takes its nearest centroid again, and a warning gives the numbers.
    """
    tiny = np.finfo(np.float64).tiny
    bad = np.flatnonzero(np.abs(centroids) < tiny)
    if bad.size == 0:
        return centroids
    centroids = centroids.copy()
    labels = _nearest(ordered, ordered, centroids)
    for index in bad:
        members = ordered[labels == index]
        negative, positive = members[members < 0], members[members > 0]
        side, sign = (positive, "positive") if positive.size >= negative.size else (negative, "negative")
        mean, centroids[index] = centroids[index], side.mean()
        warnings.warn(EieWarning(
            f"weight sharing: {members.size} kept weights in [{members.min():.6g}, {members.max():.6g}] "
            f"averaged to {mean:.3g}; their shared value is now {centroids[index]:.6g}, the mean of the "
            f"{side.size} {sign} ones, so no kept weight becomes 0"), stacklevel=3)
    return np.sort(centroids)


def kmeans_1d(ordered: np.ndarray, n_clusters: int) -> tuple[np.ndarray, int]:
    """Sorted centroids and iteration count of one Lloyd k-means run from linear initialisation.

    Exact one-dimensional Lloyd on the sorted values ``ordered``: every cluster is an
    interval of them, found by binary search, and its mean comes from compensated prefix
    sums, so an iteration costs O(k log n) after one O(n log n) sort. It follows
    scikit-learn's ``KMeans(init=linear, n_init=1, algorithm="lloyd")`` step for step:

    * centroids start evenly spaced over [min, max] and are ``sum * (1 / count)``;
    * it stops when the summed squared centroid shift is at most ``TOL`` times the
      values' variance (so also when no value changed cluster: the shift is then 0,
      where scikit-learn tests the labels first and stops in the same iteration), or
      after ``MAX_ITER`` iterations;
    * a cluster left empty takes the value farthest from its old centroid (scikit-learn's
      relocation); that value leaves its own cluster's sum but keeps its label until
      the next assignment; a cluster still empty after that takes the place of the
      biggest one (see :func:`_average`).

    Differences, all at exact ties or in rounding: a value exactly halfway between two
    centroids (by direct comparison of the two distances) goes to the lower centroid,
    and of equally far values the smaller is relocated first, where scikit-learn decides
    by rounded ``c^2 - 2xc`` and ``argpartition``; scikit-learn centres the values on
    their mean and adds them in chunks, so centroids agree to rounding, not bit for bit.
    """
    hi, lo = _prefix_sums(ordered)
    mean = (hi[-1] + lo[-1]) / ordered.size
    tol = TOL * _variance(ordered, mean)
    centres = np.linspace(ordered[0], ordered[-1], n_clusters)
    for iteration in range(1, MAX_ITER + 1):
        start, stop = _intervals(ordered, centres)
        counts = (stop - start).astype(np.float64)
        sums = (hi[stop] - hi[start]) + (lo[stop] - lo[start])
        _relocate_empty(ordered, centres, start, stop, sums, counts)
        new = _average(sums, counts, mean)
        shift = float(np.sum((new - centres) ** 2))
        centres = new
        if shift <= tol:
            break
    return np.sort(centres), iteration


@lazy_njit
def _prefix_sums(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prefix sums of ``x`` as hi + lo (hi[i] + lo[i] = x[0] + ... + x[i-1], hi[0] = 0).

    Each addition's rounding error (Knuth's two-sum) accumulates in ``lo``, so an
    interval's sum (hi[b] - hi[a]) + (lo[b] - lo[a]) is close to correctly rounded even
    for millions of values: plain prefix sums would lose digits to cancellation.
    """
    hi = np.empty(x.size + 1)
    lo = np.empty(x.size + 1)
    total = 0.0
    error = 0.0
    hi[0] = lo[0] = 0.0
    for i in range(x.size):
        after = total + x[i]
        part = after - total
        error += (total - (after - part)) + (x[i] - part)
        total = after
        hi[i + 1] = total
        lo[i + 1] = error
    return hi, lo


@lazy_njit
def _variance(x: np.ndarray, mean: float) -> float:
    """Mean squared deviation from ``mean`` (numpy's ``var`` without its temporaries)."""
    total = 0.0
    for v in x:
        total += (v - mean) * (v - mean)
    return total / x.size


def _intervals(x: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each centroid's interval [start, stop) of the sorted values nearest to it.

    Ties go to the lower centroid; of equal centroids the first takes the values and
    the others stay empty (start == stop), as do centroids no value is nearest to.
    """
    order = np.argsort(centres, kind="stable")
    ranked = centres[order]
    first = np.r_[True, ranked[1:] != ranked[:-1]]  # the first of each run of equal centroids
    ids, lower = order[first], ranked[first]
    inner = _boundaries(x, lower[:-1], lower[1:])
    start = np.zeros(centres.size, np.int64)
    stop = np.zeros(centres.size, np.int64)
    start[ids] = np.r_[0, inner]
    stop[ids] = np.r_[inner, x.size]
    return start, stop


@lazy_njit
def _boundaries(x: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """For each pair of neighbouring centroids, the first sorted value nearer the upper one.

    Only values in (lower, upper] can change sides; among them "nearer the upper one"
    (by direct comparison of the two distances: a rounded midpoint can misplace values
    between centroids one ulp apart) is monotone, so a binary search finds it.
    """
    first_up = np.empty(lower.size, np.int64)
    for j in range(lower.size):
        lo = np.searchsorted(x, lower[j], side="right")
        hi = np.searchsorted(x, upper[j], side="right")
        while lo < hi:
            mid = (lo + hi) // 2
            if abs(upper[j] - x[mid]) < abs(x[mid] - lower[j]):
                hi = mid
            else:
                lo = mid + 1
        first_up[j] = lo
    return first_up


def _average(sums: np.ndarray, counts: np.ndarray, mean: float) -> np.ndarray:
    """Centroids ``sum * (1 / count)``; an empty cluster copies the biggest (first of equals).

    As scikit-learn's ``_average_centers``, which averages in place in cluster order on
    values centred on their ``mean``: an empty cluster numbered before the biggest copies
    that cluster's centred *sum* (a point far outside the data), after it its centroid.
    Reached only when relocation takes the only value of a cluster.
    """
    centres = sums.copy()
    full = counts > 0
    centres[full] *= 1.0 / counts[full]
    if full.all():
        return centres
    biggest = int(np.argmax(counts))
    for j in np.flatnonzero(~full):
        centred_sum = sums[biggest] - counts[biggest] * mean
        centres[j] = centred_sum + mean if j < biggest else centres[biggest]
    return centres


def _relocate_empty(x, centres, start, stop, sums, counts) -> None:
    """Move each empty cluster onto the value farthest from its old centroid (scikit-learn's rule).

    The distance to a cluster's old centroid is convex along the sorted values, so the
    ``n_empty`` farthest values lie among the ``n_empty`` at either end of each interval.
    """
    empty = np.flatnonzero(counts == 0)
    if empty.size == 0:
        return
    full = np.flatnonzero(counts > 0)
    full = full[np.argsort(start[full])]  # in the order of their intervals
    reach = np.minimum(stop[full] - start[full], empty.size)
    picks = np.unique(np.concatenate(
        [np.arange(s, s + r) for s, r in zip(start[full], reach)]
        + [np.arange(e - r, e) for e, r in zip(stop[full], reach)]))
    owner = full[np.searchsorted(stop[full], picks, side="right")]
    distance = (x[picks] - centres[owner]) ** 2
    if distance.max() == 0:
        return  # every value sits on its centroid: nothing to gain
    farthest = np.argsort(-distance, kind="stable")[: empty.size]
    for cluster, pick in zip(empty, farthest):
        value, old = x[picks[pick]], owner[pick]
        sums[old] -= value
        counts[old] -= 1
        sums[cluster] = value
        counts[cluster] = 1


def _nearest(values: np.ndarray, ordered: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest of the sorted ``centroids`` for each value (uint8; ties go to the lower).

    ``ordered`` holds the same values sorted. The first sorted value nearer each upper
    centroid (:func:`_boundaries`) is a threshold; a value's index is the number of
    thresholds it reaches, so every value lands where the direct comparison puts it.
    """
    first_up = _boundaries(ordered, centroids[:-1], centroids[1:])
    return _count_reached(values, ordered[first_up[first_up < ordered.size]])


@lazy_njit
def _count_reached(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """For each value, how many of the ascending ``thresholds`` are at most it (uint8)."""
    out = np.empty(values.size, np.uint8)
    for i in range(values.size):
        n = 0
        while n < thresholds.size and values[i] >= thresholds[n]:
            n += 1
        out[i] = n
    return out


def finetune_centroids(
    codebook: np.ndarray, codes: np.ndarray, grads: np.ndarray, lr: float
) -> np.ndarray:
    """One centroid fine-tuning step (DC §3.3): gradients summed per cluster.

    ``grads`` holds dL/dw for every kept weight (same order as ``codes``). Code 0 stays 0.
    """
    summed = np.bincount(codes, weights=grads, minlength=codebook.size)
    updated = codebook - lr * summed
    updated[0] = 0.0
    return updated
