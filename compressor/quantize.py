"""Weight sharing (Deep Compression §3, SPEC §3, normative).

Per layer, k-means over the **non-zero** weights only, with 2^b - 1 clusters, linear
initialisation (centroids evenly spaced over [min, max] of the non-zero weights) and one
deterministic run. Code 0 is reserved for the value 0 (pruned weights and fillers), so
every kept weight gets a code in 1..2^b - 1 and quantisation never changes the pattern.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eiesim.errors import EieError

# k-means runs on two threads from this many non-zero weights on.
PARALLEL_FROM = 2**19


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
    values = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(values)):
        raise EieError("weights contain NaN or infinity")
    if np.any(values == 0):
        raise EieError("share_weights takes the non-zero weights only")
    n_clusters = 2**weight_bits - 1
    codebook = np.zeros(2**weight_bits)
    if values.size == 0:
        return SharedWeights(np.zeros(0, np.uint8), codebook)
    distinct = np.unique(values)
    if distinct.size <= n_clusters:
        centroids = distinct
    else:
        centroids = _kmeans(values, n_clusters)
    codebook[1 : 1 + centroids.size] = centroids
    codes = 1 + _nearest(values, centroids)
    return SharedWeights(codes.astype(np.uint8), codebook)


def _kmeans(values: np.ndarray, n_clusters: int) -> np.ndarray:
    """Sorted centroids of one deterministic Lloyd k-means run (scikit-learn) from linear init.

    Threads: scikit-learn adds per-thread partial sums in whatever order threads finish,
    which is exact for at most two (a + b == b + a), so two threads at most; one for small
    inputs, where thread synchronisation per iteration costs more than it saves.
    """
    from sklearn.cluster import KMeans  # imported here: it is slow to load
    from threadpoolctl import threadpool_limits

    init = np.linspace(values.min(), values.max(), n_clusters).reshape(-1, 1)
    km = KMeans(n_clusters=n_clusters, init=init, n_init=1, random_state=0)
    with threadpool_limits(limits=1 if values.size < PARALLEL_FROM else 2, user_api="openmp"):
        km.fit(values.reshape(-1, 1))
    return np.sort(km.cluster_centers_.ravel())


def _nearest(values: np.ndarray, sorted_centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (ties go to the lower one), in O(n log k).

    Distances to the two neighbouring centroids are compared directly: a rounded midpoint
    can misplace values between centroids one ulp apart.
    """
    if sorted_centroids.size == 1:
        return np.zeros(values.size, np.int64)
    upper = np.clip(np.searchsorted(sorted_centroids, values), 1, sorted_centroids.size - 1)
    lower = upper - 1
    nearer_upper = np.abs(sorted_centroids[upper] - values) < np.abs(values - sorted_centroids[lower])
    return np.where(nearer_upper, upper, lower)


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
