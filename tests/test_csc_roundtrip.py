"""Interleaved CSC round trips: decode(encode(W)) == quantize(W), and the entries, fillers and
pointers equal a plain loop-by-loop reading of SPEC §3 for random layers and arrays."""

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from compressor.csc import as_coo, compress_layer, interleave
from compressor.csc import validate_layer
from compressor.quantize import share_weights
from eiecore.errors import EieError
from eiesim.config import ArchConfig
from tests.strategies import examples, weight_matrices


@st.composite
def layers(draw):
    w = draw(weight_matrices(60, 60))
    config = ArchConfig(
        n_pe=draw(st.integers(1, 64)), accumulators_per_pe=draw(st.integers(1, 8)),
        index_bits=draw(st.integers(2, 8)), weight_bits=draw(st.integers(1, 8)),
    )
    return w, config


def quantized(w: np.ndarray, weight_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """W with each kept weight replaced by its shared value, and the code matrix."""
    coo = as_coo(w)
    shared = share_weights(coo.data, weight_bits)
    out, codes = np.zeros(w.shape), np.zeros(w.shape, np.int64)
    out[coo.row, coo.col] = shared.values()
    codes[coo.row, coo.col] = shared.codes
    return out, codes


def loop_encode(codes: np.ndarray, config: ArchConfig):
    """SPEC §3 read literally, one PE, block and column at a time."""
    m, k = codes.shape
    n, nr, span = config.n_pe, config.rows_per_block, 2**config.index_bits
    blocks = -(-m // nr)
    code, rel, ptr = [], [], np.zeros((blocks, n, k + 1), np.int64)
    for t in range(blocks):
        for p in range(n):
            mine = [i for i in range(t * nr, min(m, (t + 1) * nr)) if i % n == p]  # local row = position
            list_start = len(code)
            for j in range(k):
                previous = -1
                for local, i in enumerate(mine):
                    if codes[i, j]:
                        gap = local - previous - 1
                        while gap >= span:
                            code.append(0)
                            rel.append(span - 1)
                            gap -= span
                        code.append(codes[i, j])
                        rel.append(gap)
                        previous = local
                ptr[t, p, j + 1] = len(code) - list_start
    return np.array(code, np.int64), np.array(rel, np.int64), ptr


# Random weights may average to 0 in a cluster: share_weights then warns (tested on its own).
@pytest.mark.filterwarnings("ignore::eiecore.errors.EieWarning")
@settings(max_examples=examples(60))
@given(layers())
def test_encode_matches_the_literal_reading_and_decodes_to_the_quantized_matrix(case):
    w, config = case
    layer = compress_layer(w, config)
    expected, codes = quantized(w, config.weight_bits)
    np.testing.assert_array_equal(layer.to_dense(), expected)
    # The pattern is untouched: exactly the non-zeros of W are real entries.
    rows, cols, entry_codes = layer.real_entries()
    assert sorted(zip(rows.tolist(), cols.tolist())) == sorted(zip(*np.nonzero(w)))
    np.testing.assert_array_equal(entry_codes, codes[rows, cols])
    assert np.all((entry_codes >= 1) & (entry_codes < 2**config.weight_bits))

    code, rel, ptr = loop_encode(codes, config)
    np.testing.assert_array_equal(layer.code, code)
    np.testing.assert_array_equal(layer.rel, rel)
    np.testing.assert_array_equal(layer.ptr, ptr)
    np.testing.assert_array_equal(layer.start, np.concatenate(([0], np.cumsum(ptr[:, :, -1].ravel()))))
    validate_layer(dataclasses.replace(layer))  # a copy: interleave's own output is trusted, not checked


def test_sparse_and_dense_input_encode_alike():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(40, 30)) * (rng.random((40, 30)) < 0.2)
    config = ArchConfig(n_pe=4, accumulators_per_pe=2)
    a, b = compress_layer(w, config), compress_layer(sp.csc_matrix(w), config)
    for name in ("code", "rel", "ptr", "start", "codebook"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize(
    "args, message",
    [
        (([0, 0], [1, 1], [1, 2], (3, 3)), "listed twice"),
        (([0], [3], [1], (3, 3)), "outside the 3 x 3 matrix"),
        (([-1], [0], [1], (3, 3)), "outside"),
        (([0], [0], [16], (3, 3)), r"1\.\.15"),
        (([0], [0], [0], (3, 3)), r"1\.\.15"),
        (([0], [0], [1.5], (3, 3)), "integers"),
        (([0, 1], [0], [1], (3, 3)), "differ in length"),
        (([0], [0], [1], (0, 3)), "M >= 1"),
    ],
)
def test_interleave_rejects_bad_entries(args, message):
    with pytest.raises(EieError, match=message):
        interleave(*args, np.arange(16.0), ArchConfig(n_pe=2))


def test_interleave_rejects_a_bad_codebook():
    with pytest.raises(EieError, match="codebook"):
        interleave([0], [0], [1], (3, 3), np.arange(1.0, 17.0), ArchConfig(n_pe=2))
    with pytest.raises(EieError, match="codebook"):
        interleave([0], [0], [1], (3, 3), np.arange(8.0), ArchConfig(n_pe=2))


def test_interleave_takes_weights_in_any_order():
    # The kernel buckets rows in ascending order; shuffled input is sorted by row first.
    rng = np.random.default_rng(4)
    w = rng.normal(size=(70, 33)) * (rng.random((70, 33)) < 0.3)
    config = ArchConfig(n_pe=4, accumulators_per_pe=3, index_bits=2)
    coo = as_coo(w)
    shared = share_weights(coo.data, config.weight_bits)
    ordered = interleave(coo.row, coo.col, shared.codes, w.shape, shared.codebook, config)
    shuffle = rng.permutation(coo.nnz)
    shuffled = interleave(coo.row[shuffle], coo.col[shuffle], shared.codes[shuffle], w.shape,
                          shared.codebook, config)
    for name in ("code", "rel", "ptr", "start"):
        np.testing.assert_array_equal(getattr(shuffled, name), getattr(ordered, name))
    with pytest.raises(EieError, match=r"listed twice: \(5, 2\)"):
        interleave([9, 5, 0, 5], [1, 2, 2, 2], [1, 1, 1, 1], (10, 3), np.arange(16.0), config)
