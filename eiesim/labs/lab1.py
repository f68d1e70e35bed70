"""Lab 1 (Deep Compression of a layer): weight sharing with either initialisation, the
digits model's accuracy with shared weights, and the exercises' answers.

The ``*_of`` functions recompute an answer with the compressor (and the student's trained
model), for the student's parameters (:func:`params`).
"""

from __future__ import annotations

import numpy as np

from compressor.csc import compress_layer
from compressor.quantize import share_weights
from compressor.report import layer_storage
from compressor.synthetic import exact_count
from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.labs.checking import student_params

INITS = ("linear", "random")
# What each student's exercises draw from.
CHOICES = {"density": (0.06, 0.07, 0.08, 0.09, 0.1, 0.11, 0.12), "init_bits": (1, 2, 3),
           "tolerance": (0.01, 0.02, 0.05), "huffman_pes": (16, 32, 64)}


def params(student_id: str | None):
    """This student's density, codebook size, tolerance and PE count."""
    return student_params(student_id, 1, CHOICES)


def model_layers(model) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W, b) of every Linear layer of a torch model, as float64 numpy arrays."""
    from torch import nn

    return [(m.weight.detach().double().numpy().copy(), m.bias.detach().double().numpy().copy())
            for m in model.modules() if isinstance(m, nn.Linear)]


def share(values: np.ndarray, bits: int, init: str, seed: int = 0) -> np.ndarray:
    """Non-zero ``values`` replaced by their k-means centroid (2^bits - 1 clusters).

    ``linear``: the compressor's weight sharing (centroids start evenly spaced over
    [min, max]); ``random`` (Forgy): centroids start at randomly chosen weights.
    """
    if init == "linear":
        return share_weights(values, bits).values()
    if init != "random":
        raise EieError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    from sklearn.cluster import KMeans

    clusters = min(2**bits - 1, np.unique(values).size)
    km = KMeans(n_clusters=clusters, init="random", n_init=1, random_state=seed).fit(values.reshape(-1, 1))
    return km.cluster_centers_.ravel()[km.labels_]


def shared_layers(layers, bits: int, init: str, seed: int = 0):
    """Every layer's kept weights shared per layer; biases stay as they are."""
    out = []
    for w, b in layers:
        q = w.copy()
        kept = w != 0
        q[kept] = share(w[kept], bits, init, seed)
        out.append((q, b))
    return out


def logits(layers, x: np.ndarray) -> np.ndarray:
    """Outputs of the MLP given as [(W, b), ...], ReLU between layers."""
    h = x
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return h


def accuracy(layers, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of ``x`` classified as ``y``."""
    return float((logits(layers, x).argmax(axis=1) == y).mean())


def loss(layers, x: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy on ``x``: unlike accuracy, it moves with every small change."""
    z = logits(layers, x)
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(y.size), y].mean())


def survivors_of(shape: tuple[int, int], density: float) -> int:
    """Exercise 1: weights that survive magnitude pruning to ``density``."""
    return exact_count(shape[0] * shape[1], density)


def better_init_of(layers, data, bits: int) -> str:
    """Exercise 2: which initialisation gives the lower test loss at ``bits``."""
    test_loss = {init: loss(shared_layers(layers, bits, init), data.x_test, data.y_test) for init in INITS}
    return min(test_loss, key=test_loss.get)


def smallest_bits_of(layers, data, bits_list, tolerance: float = 0.01) -> int:
    """Exercise 3: the fewest bits (linear init) within ``tolerance`` of the unshared accuracy."""
    base = accuracy(layers, data.x_test, data.y_test)
    good = [b for b in sorted(bits_list)
            if accuracy(shared_layers(layers, b, "linear"), data.x_test, data.y_test) >= base - tolerance]
    if not good:
        raise EieError(f"no codebook size in {sorted(bits_list)} stays within {tolerance} of {base:.3f}")
    return good[0]


def huffman_ratio_of(w: np.ndarray, n_pe: int) -> float:
    """Exercise 4: dense float32 bits / Huffman-coded EIE storage of ``w`` on ``n_pe`` PEs."""
    return layer_storage(compress_layer(w, ArchConfig.make(n_pe=n_pe), name="fc1")).ratio_huffman
