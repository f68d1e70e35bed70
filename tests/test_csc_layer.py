"""EncodedLayer's and SharedMatrix's derived fields, by hand on tiny layers."""

from __future__ import annotations

import numpy as np

from compressor.csc import compress_layer, interleave, share_matrix
from eiecore.encoding import Encoding

# [W | b]: 2 x 2 weights and a bias column; few distinct values, so sharing keeps them exactly.
WB = np.array([[1.0, 0.0, 0.5],
               [0.0, 2.0, 0.25]])


def test_fields_of_a_layer_with_a_bias_codebook():
    enc = Encoding(n_pe=2, accumulators_per_pe=1, index_bits=2, weight_bits=2)
    layer = compress_layer(WB, enc, has_bias=True)
    # Rows 0 and 1 are PE 0 and PE 1 of one block (N R = 2 rows): T = 1.
    assert (layer.n_blocks, layer.n_inputs, layer.rows_per_block) == (1, 2, 2)
    assert layer.encoding == enc
    # Two codebooks of 2^2 entries; the bias column K - 1 = 2 decodes through the second.
    assert (layer.codebook_entries, layer.bias_column) == (8, 2)
    assert (layer.n_entries, layer.n_fillers, layer.n_real) == (4, 0, 4)
    assert layer.column_counts().tolist() == [[[1, 0, 1], [0, 1, 1]]]  # (T, N, K)
    np.testing.assert_array_equal(layer.to_dense(), WB)
    # The biases' values come from the bias codebook, the weights' from the other.
    bias_book = np.array([0.0, -1.0, -2.0, -3.0])
    dense = layer.to_coo(bias_codebook=bias_book).toarray()
    np.testing.assert_array_equal(dense[:, :2], WB[:, :2])
    np.testing.assert_array_equal(dense[:, 2], bias_book[[layer.code[1], layer.code[3]]])


def test_fields_without_a_bias_column_and_with_fillers():
    # N = 1, 1-bit indices (gaps of at most 1 zero row): column 0 holds rows 0 and 3, so
    # a filler stands at row 2 (z = 1 from row 0), then row 3 (z = 0): 3 entries, 1 filler.
    layer = interleave([0, 3], [0, 0], [1, 1], (4, 1), [0.0, 7.0], Encoding(n_pe=1, index_bits=1, weight_bits=1))
    assert (layer.n_inputs, layer.bias_column, layer.codebook_entries) == (1, -1, 2)
    assert (layer.n_entries, layer.n_fillers, layer.n_real) == (3, 1, 2)
    assert layer.code.tolist() == [1, 0, 1] and layer.rel.tolist() == [0, 1, 0]
    assert layer.to_dense().ravel().tolist() == [7.0, 0.0, 0.0, 7.0]


def test_shared_matrix_keeps_the_bias_column_in_its_own_codebook():
    shared = share_matrix(WB, 2, has_bias=True)
    # COO order (row by row): (0, 0) 1, (0, 2) 0.5, (1, 1) 2, (1, 2) 0.25.
    assert shared.has_bias and shared.is_bias.tolist() == [False, True, False, True]
    assert sorted(shared.bias_codebook[shared.codes[shared.is_bias]]) == [0.25, 0.5]
    np.testing.assert_array_equal(shared.matrix(), WB)
    plain = share_matrix(WB, 2)
    assert not plain.has_bias and plain.bias_codebook is None
    assert plain.is_bias.tolist() == [False] * 4
    # One codebook of 3 shared values for 4 distinct ones: linear init 0.25, 1.125, 2;
    # 0.25 and 0.5 go to the first (0.375), 1 and 2 keep theirs, and Lloyd stops there.
    np.testing.assert_array_equal(plain.matrix(), [[1.0, 0.0, 0.375], [0.0, 2.0, 0.375]])


def test_shared_matrix_interleaves_like_compress_layer():
    enc = Encoding(n_pe=2, accumulators_per_pe=1, index_bits=2, weight_bits=2)
    a = share_matrix(WB, 2, has_bias=True).interleave(enc, name="fc", activation="none")
    b = compress_layer(WB, enc, name="fc", has_bias=True, activation="none")
    assert (a.name, a.activation, a.has_bias) == ("fc", "none", True)
    for field in ("code", "rel", "ptr", "start", "codebook", "bias_codebook"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
