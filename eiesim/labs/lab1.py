"""Lab 1 (Deep Compression of a layer): weight sharing with either initialisation, the
digits model's accuracy with shared weights, and answer checks.

Each check recomputes its answer with the compressor (and the student's trained model)
and prints ``correct`` or a hint.
"""

from __future__ import annotations

import numpy as np

from compressor.quantize import share_weights
from compressor.report import layer_storage
from compressor.synthetic import exact_count
from eiecore.errors import EieError
from eiesim.labs.checking import Verdict, check_choice, check_number

INITS = ("linear", "random")


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


def survivors(answer, shape: tuple[int, int], density: float) -> Verdict:
    """Exercise 1: weights that survive magnitude pruning to ``density``."""
    return check_number(
        answer, exact_count(shape[0] * shape[1], density),
        "pruning keeps an exact count: round(density x number of weights)", name="count")


def better_init(answer, layers, data, bits: int) -> Verdict:
    """Exercise 2: which initialisation gives the lower test loss at ``bits``."""
    test_loss = {init: loss(shared_layers(layers, bits, init), data.x_test, data.y_test) for init in INITS}
    return check_choice(
        answer, min(test_loss, key=test_loss.get), INITS,
        "compare loss(shared_layers(layers, bits, init), data.x_test, data.y_test) for both "
        "inits", name="init")


def smallest_bits(answer, layers, data, bits_list, tolerance: float = 0.01) -> Verdict:
    """Exercise 3: the fewest bits (linear init) within ``tolerance`` of the unshared accuracy."""
    base = accuracy(layers, data.x_test, data.y_test)
    good = [b for b in sorted(bits_list)
            if accuracy(shared_layers(layers, b, "linear"), data.x_test, data.y_test) >= base - tolerance]
    if not good:
        raise EieError(f"no codebook size in {sorted(bits_list)} stays within {tolerance} of {base:.3f}")
    return check_number(
        answer, good[0],
        "measure the accuracy at each codebook size and compare with the pruned model's, "
        "minus the tolerance", name="bits")


def huffman_ratio(answer, layer) -> Verdict:
    """Exercise 4: dense float32 bits / Huffman-coded EIE storage of an encoded layer."""
    return check_number(
        answer, layer_storage(layer).ratio_huffman,
        "dense bits are M x K x 32; the compressed side is Huffman-coded codes and indices, "
        "their tables, the pointers and the codebook", name="ratio", rel=1e-3)
