"""Golden examples of the interleaved CSC format (EIE Figs 2-3 and §III-B)."""

import numpy as np

from compressor.csc import compress_layer, interleave
from eiesim.config import ArchConfig

# EIE Fig 2: W is 16 x 8 over 4 PEs; PE0 owns rows 0, 4, 8, 12.
PE0_NONZEROS = [(0, 0), (8, 0), (12, 0), (4, 1), (0, 2), (12, 2), (0, 4), (4, 4), (0, 5),
                (12, 5), (0, 6), (8, 7), (12, 7)]


def golden_matrix() -> np.ndarray:
    """The Fig 2 pattern for PE0, plus deterministic non-zeros in the other PEs' rows."""
    w = np.zeros((16, 8))
    for n, (r, c) in enumerate(PE0_NONZEROS):
        w[r, c] = 0.1 * (n + 1)
    rng = np.random.default_rng(7)
    others = (np.arange(16) % 4 != 0)[:, None] & (rng.random((16, 8)) < 0.3)
    w[others] = rng.uniform(-1, 1, others.sum())
    return w


def test_fig3_pe0_virtual_weights_relative_indices_and_pointers():
    layer = compress_layer(golden_matrix(), ArchConfig(n_pe=4))
    pe0 = slice(layer.start[0], layer.start[1])
    weights = np.array([golden_matrix()[r, c] for r, c in PE0_NONZEROS])
    # Each virtual weight's code names the codebook entry nearest the weight.
    nearest = 1 + np.abs(weights[:, None] - layer.codebook[None, 1:]).argmin(axis=1)
    assert layer.code[pe0].tolist() == nearest.tolist()
    assert layer.rel[pe0].tolist() == [0, 1, 0, 1, 0, 2, 0, 0, 0, 2, 0, 2, 0]
    assert layer.ptr[0, 0].tolist() == [0, 3, 4, 6, 6, 8, 10, 11, 13]


def test_filler_rule_example():
    # Column [0, 0, 1, 2, (18 zeros), 3] -> v = [1, 2, 0, 3], z = [2, 0, 15, 2].
    layer = interleave(
        np.array([2, 3, 22]), np.array([0, 0, 0]), np.array([1, 2, 3]), (23, 1),
        np.arange(16.0), ArchConfig(n_pe=1),
    )
    assert layer.code.tolist() == [1, 2, 0, 3]
    assert layer.rel.tolist() == [2, 0, 15, 2]
    assert layer.entry_local_rows().tolist() == [2, 3, 19, 22]
