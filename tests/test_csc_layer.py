"""EncodedLayer's and SharedMatrix's derived fields, by hand on tiny layers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

from compressor.csc import (
    EncodedLayer, as_coo, check_encodable, compress_layer, interleave, share_matrix, validate_layer,
)
from eiecore.encoding import Encoding
from eiecore.errors import EieError

# [W | b]: 2 x 2 weights and a bias column; few distinct values, so sharing keeps them exactly.
WB = np.array([[1.0, 0.0, 0.5],
               [0.0, 2.0, 0.25]])
ENC = Encoding(n_pe=2, accumulators_per_pe=1, index_bits=2, weight_bits=2)
GOOD = compress_layer(WB, ENC, has_bias=True)  # ptr (1, 2, 4), start [0, 2, 4], 4 entries


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
    assert (a.name, a.activation, a.has_bias) == ("fc", "none", True) and b.activation == "none"
    for field in ("code", "rel", "ptr", "start", "codebook", "bias_codebook"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_arrays_are_read_only_and_the_callers_arrays_untouched():
    enc = Encoding(n_pe=1, accumulators_per_pe=4, index_bits=2, weight_bits=1)
    code, rel = np.array([1], np.uint8), np.array([0], np.uint8)
    ptr_all = np.array([[[0, 1, 1]]])
    ptr = ptr_all[:, :, :]  # a view of a writable array
    book = np.array([0.0, 3.0])
    layer = EncodedLayer(shape=(4, 2), n_pe=1, accumulators_per_pe=4, index_bits=2, weight_bits=1,
                         codebook=book, code=code, rel=rel, ptr=ptr, start=np.array([0, 1]))
    assert all(not getattr(layer, f).flags.writeable for f in ("codebook", "code", "rel", "ptr", "start"))
    assert all(a.flags.writeable for a in (code, rel, ptr, ptr_all, book))  # the caller's stay writable
    code[0], ptr_all[0, 0, 1], book[1] = 0, 5, 5.0  # and are copies: the layer does not change
    assert (layer.code.tolist(), layer.ptr.tolist(), layer.codebook.tolist()) == ([1], [[[0, 1, 1]]], [0.0, 3.0])
    assert layer.encoding == enc
    frozen = np.array([1], np.uint8)
    frozen.flags.writeable = False  # read-only and its own: shared, not copied
    assert np.shares_memory(EncodedLayer(**{**layer.__dict__, "code": frozen}).code, frozen)


def test_defaults_and_a_bias_that_shares_the_weights_codebook():
    shared = share_matrix(WB, 2, has_bias=True)
    default = shared.interleave(ENC)
    assert (default.name, default.activation) == ("", "relu")
    assert compress_layer(WB, Encoding(n_pe=2, accumulators_per_pe=1)).name == ""
    made = compress_layer(WB, Encoding(n_pe=2, accumulators_per_pe=1), activation="none")
    assert made.activation == "none"
    # A bias column without its own codebook (as EIE's authors stored it): no bias column
    # for the engines' table switch, and to_coo decodes it through the weights' codebook.
    authors = interleave([0, 1], [0, 1], [1, 2], (2, 2), [0.0, 1.0, 2.0, 3.0], Encoding(n_pe=1, weight_bits=2),
                         has_bias=True)
    assert authors.bias_column == -1
    assert authors.to_coo(codebook=np.array([0.0, 10.0, 20.0, 30.0])).toarray().tolist() == [[10.0, 0.0], [0.0, 20.0]]
    assert share_matrix(WB, 2).is_bias.dtype == bool


def test_a_layer_that_is_only_a_bias_column():
    layer = compress_layer(np.array([[0.5], [0.25]]), Encoding(n_pe=1, weight_bits=2), has_bias=True)
    assert (layer.bias_column, layer.n_inputs) == (0, 0)
    bias_book = np.zeros(4)
    bias_book[layer.code] = [7.0, 9.0]
    assert layer.to_coo(bias_codebook=bias_book).toarray().ravel().tolist() == [7.0, 9.0]


def test_complex_sparse_weights_are_refused():
    with pytest.raises(EieError, match="^weights must be real numbers, got dtype complex128$"):
        as_coo(sp.csr_matrix(np.array([[1.0 + 1.0j, 0.0]])))


# --- validate_layer: every problem named exactly --------------------------------------



def _with(field, change):
    value = getattr(GOOD, field).copy()
    changed = change(value)
    return dataclasses.replace(GOOD, **{field: value if changed is None else changed})


def _set(index, to):
    def change(a):
        a[index] = to
    return change


@pytest.mark.parametrize("layer, message", [
    (_with("codebook", _set(1, np.nan)), "the codebook holds NaN or infinity"),
    (_with("codebook", _set(0, 1.0)), "codebook entry 0 is not 0"),
    (dataclasses.replace(GOOD, has_bias=False), "a layer without a bias column has a bias codebook"),
    (_with("bias_codebook", _set(1, np.inf)), "the bias codebook holds NaN or infinity"),
    (_with("bias_codebook", _set(0, 1.0)), "bias codebook entry 0 is not 0"),
    (_with("ptr", lambda a: a[:, :, :2]), "ptr has shape (1, 2, 2), expected (1, 2, 4) for a 2 x 3 layer"),
    (_with("start", lambda a: a[:-1]), "start has 2 entries, expected 3"),
    (_with("ptr", _set((0, 0, 0), 1)), "a pointer list does not start at 0"),
    (_with("ptr", _set((0, 0, 1), 3)), "pointers decrease within a list"),
    (_with("start", _set(1, 3)), "start offsets do not match the pointer lists"),
    (dataclasses.replace(GOOD, code=GOOD.code[:3], rel=GOOD.rel[:3]), "pointers count 4 entries, the file has 3"),
    (_with("code", _set(0, 4)), "a weight code lies outside 0..3"),
    (_with("rel", _set(0, 4)), "a relative index lies outside 0..3"),
    (_with("rel", _set(0, 1)), "an entry lies past local row 0 of its block"),
])
def test_each_problem_is_named_exactly(layer, message):
    with pytest.raises(EieError) as raised:
        validate_layer(layer)
    assert str(raised.value) == message


def test_a_named_layer_is_named_in_the_problem():
    with pytest.raises(EieError) as raised:
        validate_layer(dataclasses.replace(GOOD, name="fc6", start=GOOD.start[:-1]))
    assert str(raised.value) == "layer 'fc6': start has 2 entries, expected 3"


def test_float_codes_are_refused_when_the_layer_is_made():
    with pytest.raises(EieError, match="^encoded layer array code must be integers, got dtype float64$"):
        dataclasses.replace(GOOD, code=GOOD.code.astype(np.float64))


def test_three_bit_indices_fillers_and_their_problems():
    # N = 1, x = 3: rows 0 and 7 of column 0 are 6 zero rows apart (z = 6, within 0..7);
    # rows 0 and 9 of column 1 are 8 apart: a filler (z = 7, row 8), then row 9 (z = 0).
    enc = Encoding(n_pe=1, accumulators_per_pe=10, index_bits=3, weight_bits=1)
    layer = interleave([0, 7, 0, 9], [0, 0, 1, 1], [1, 1, 1, 1], (10, 2), [0.0, 1.0], enc)
    assert layer.rel.tolist() == [0, 6, 0, 7, 0] and layer.code.tolist() == [1, 1, 1, 0, 1]
    validate_layer(dataclasses.replace(layer))  # z = 6 is valid with 3-bit indices
    for change, message in [
        (dict(rel=np.array([0, 6, 0, 8, 0], np.uint8)), "a relative index lies outside 0..7"),
        (dict(rel=np.array([0, 6, 0, 6, 1], np.uint8)), "a filler's relative index is not 7"),
        (dict(code=np.array([1, 1, 1, 1, 0], np.uint8), rel=np.array([0, 6, 0, 0, 7], np.uint8)),
         "a column ends with a filler"),
        (dict(shape=(9, 2)), "an entry lies past row 8"),
    ]:
        with pytest.raises(EieError) as raised:
            validate_layer(dataclasses.replace(layer, **change))
        assert str(raised.value) == message


# --- input checks name the problem exactly ---------------------------------------------

@pytest.mark.parametrize("weights, message", [
    (np.zeros((1, 1, 1)), "weights must be a 2-D matrix, got shape (1, 1, 1)"),
    (np.array([["a"]]), "weights must be real numbers, got dtype <U1"),
    (np.array([[1.0 + 2.0j]]), "weights must be real numbers, got dtype complex128"),
    (sp.csr_matrix(np.array([[True, False]])), "weights must be real numbers, got dtype bool"),
    (np.zeros((0, 3)), "weights must have at least one row and one column, got shape (0, 3)"),
    (np.zeros((3, 0)), "weights must have at least one row and one column, got shape (3, 0)"),
    (np.array([[1.0, np.nan]]), "weights contain NaN or infinity"),
])
def test_as_coo_refuses(weights, message):
    with pytest.raises(EieError) as raised:
        as_coo(weights)
    assert str(raised.value) == message


def test_as_coo_gives_float_entries_in_row_major_order_with_duplicates_summed():
    assert as_coo(np.array([[1, 0], [0, 2]])).dtype == np.float64
    assert as_coo(sp.csr_matrix(np.array([[1, 0], [0, 2]]))).dtype == np.float64
    # (0, 1) before (0, 0), (1, 0) before (0, 3), and (0, 1) twice: sorted, summed,
    # also when scipy's flag wrongly claims the order is canonical.
    for rows, cols, values, want in [
        ([0, 0], [1, 0], [1.0, 2.0], ([0, 0], [0, 1], [2.0, 1.0])),
        ([1, 0], [0, 3], [1.0, 2.0], ([0, 1], [3, 0], [2.0, 1.0])),
        ([0, 0], [1, 1], [1.0, 2.0], ([0], [1], [3.0])),
    ]:
        coo = sp.coo_matrix((values, (rows, cols)), shape=(2, 4))
        coo.has_canonical_format = True
        got = as_coo(coo)
        assert (got.row.tolist(), got.col.tolist(), got.data.tolist()) == want


def test_the_pointer_table_limit_and_its_message():
    # N = R = 1: one row per block, so 2^14 rows x (K + 1) pointers; K = 8191 is exactly
    # 2^14 x 2^13 = 2^27 pointers (allowed), K = 8192 is 16384 more (refused: 1 GiB).
    enc = Encoding(n_pe=1, accumulators_per_pe=1)
    check_encodable((2**14, 8191), enc)
    with pytest.raises(EieError) as raised:
        check_encodable((2**14, 8192), enc)
    assert str(raised.value) == (
        "layer 16384 x 8192: its pointer table needs 16384 row blocks x 1 PEs x 8193 = 1.34e+08 pointers "
        "(1 GiB), more than the 134217728 (2^27) eiesim holds; use more accumulators per PE or a smaller layer")
    with pytest.raises(EieError, match="^layer fc6: its pointer table needs 16384 row blocks x 2 PEs"):
        check_encodable((2**15, 8192), Encoding(n_pe=2, accumulators_per_pe=1), "fc6")


@pytest.mark.parametrize("args, message", [
    (([3], [0], [1], (3, 3)), "a kept weight lies outside the 3 x 3 matrix"),
    (([0], [0], [1], (3, 0)), "a layer needs M >= 1 rows and K >= 1 columns, got 3 x 0"),
])
def test_interleave_refuses(args, message):
    with pytest.raises(EieError) as raised:
        interleave(*args, np.arange(16.0), Encoding(n_pe=2))
    assert str(raised.value) == message


def test_interleave_defaults_and_types():
    layer = interleave([0], [0], [1], (1, 1), [0, 2] + [0] * 14, Encoding(n_pe=1))
    assert (layer.name, layer.activation, layer.codebook.dtype) == ("", "relu", np.float64)
    with pytest.raises(EieError) as raised:
        interleave([0], [0], [1], (1, 1), np.arange(16.0), Encoding(n_pe=1), activation="tanh")
    assert str(raised.value) == "activation must be 'relu' or 'none', got 'tanh'"


def test_decoding_an_invalid_layer_names_the_problem():
    # Decreasing pointers: np.repeat would fail on the negative count if the entries were
    # grouped before the layer is validated.
    bad = _with("ptr", _set((0, 0, 1), 3))
    with pytest.raises(EieError, match="^pointers decrease within a list$"):
        bad.to_dense()
