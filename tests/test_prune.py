"""Pruning masks: exact survivor counts, tie-breaking, structured groups, torch interop."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from compressor.prune import (
    apply_mask_to_torch, balanced_mask, magnitude_mask, mask_from_torch, prune, scheme_mask, structured_mask,
)
from eiecore.errors import EieError


def random_matrix(m, k, seed=0):
    return np.random.default_rng(seed).normal(size=(m, k))


@given(m=st.integers(1, 30), k=st.integers(1, 30), density=st.floats(0, 1), seed=st.integers(0, 99))
def test_magnitude_mask_keeps_exactly_the_largest(m, k, density, seed):
    w = random_matrix(m, k, seed)
    mask = magnitude_mask(w, density)
    assert mask.dtype == bool and mask.shape == (m, k)
    assert mask.sum() == round(density * m * k)
    if 0 < mask.sum() < m * k:
        assert np.abs(w[mask]).min() > np.abs(w[~mask]).max()


def test_magnitude_ties_keep_the_lower_flat_index():
    w = np.array([[1.0, -2.0, 2.0], [2.0, 0.5, -2.0]])
    # Two of the four |w| = 2 survive: flat indices 1 and 2 (row-major), not 3 and 5.
    assert magnitude_mask(w, 2 / 6).tolist() == [[False, True, True], [False, False, False]]


def test_magnitude_mask_beyond_the_non_zeros_keeps_zeros_by_index():
    w = np.array([[0.0, 0.0, 3.0], [0.0, 1.0, 0.0]])
    assert magnitude_mask(w, 4 / 6).tolist() == [[True, True, True], [False, True, False]]


def test_sparse_and_dense_weights_give_the_same_mask():
    w = random_matrix(40, 50) * (np.random.default_rng(1).random((40, 50)) < 0.3)
    for density in (0.0, 0.1, 0.29, 0.5, 1.0):
        np.testing.assert_array_equal(magnitude_mask(sp.csr_matrix(w), density), magnitude_mask(w, density))
        for granularity in ("row", "column", "block"):
            np.testing.assert_array_equal(
                structured_mask(sp.coo_matrix(w), density, granularity), structured_mask(w, density, granularity)
            )


@pytest.mark.parametrize("granularity, groups", [("row", 7), ("column", 10), ("block", 2 * 4)])
def test_structured_mask_keeps_whole_groups_by_norm(granularity, groups):
    w = random_matrix(7, 10, seed=3)
    mask = structured_mask(w, 0.5, granularity, block=(4, 3))
    kept = round(0.5 * groups)
    if granularity == "row":
        assert np.all(mask == mask[:, :1]) and mask[:, 0].sum() == kept
        norms = np.linalg.norm(w, axis=1)
        assert norms[mask[:, 0]].min() > norms[~mask[:, 0]].max()
    elif granularity == "column":
        assert np.all(mask == mask[:1, :]) and mask[0].sum() == kept
        norms = np.linalg.norm(w, axis=0)
        assert norms[mask[0]].min() > norms[~mask[0]].max()
    else:
        tiles = [(r, c) for r in range(0, 7, 4) for c in range(0, 10, 3)]
        states = [mask[r : r + 4, c : c + 3] for r, c in tiles]
        assert all(np.all(s == s.flat[0]) for s in states)
        assert sum(bool(s.flat[0]) for s in states) == kept
        norms = np.array([np.linalg.norm(w[r : r + 4, c : c + 3]) for r, c in tiles])
        on = np.array([bool(s.flat[0]) for s in states])
        assert norms[on].min() > norms[~on].max()


def test_structured_ties_keep_the_lower_group():
    w = np.ones((4, 2))
    assert structured_mask(w, 0.5, "row")[:, 0].tolist() == [True, True, False, False]


def test_prune_zeroes_outside_the_mask_and_keeps_the_kind():
    w = random_matrix(5, 6)
    mask = magnitude_mask(w, 0.4)
    dense = prune(w, mask)
    np.testing.assert_array_equal(dense, np.where(mask, w, 0))
    sparse = prune(sp.csr_matrix(w), mask)
    assert sp.issparse(sparse)
    np.testing.assert_array_equal(sparse.toarray(), dense)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: magnitude_mask(np.ones((2, 2)), 1.5), "density"),
        (lambda: magnitude_mask(np.ones((2, 2)), -0.1), "density"),
        (lambda: magnitude_mask(np.ones(4), 0.5), "2-D"),
        (lambda: magnitude_mask(np.array([[1.0, np.nan]]), 0.5), "NaN"),
        (lambda: magnitude_mask(np.array([["a"]]), 0.5), "real numbers"),
        (lambda: structured_mask(np.ones((2, 2)), 0.5, "diagonal"), "granularity"),
        (lambda: structured_mask(np.ones((2, 2)), 0.5, "block", block=(0, 2)), "block sides"),
        (lambda: structured_mask(np.ones((2, 2)), 0.5, "block", block=3), "pair"),
        (lambda: prune(np.ones((2, 2)), np.ones((2, 3), bool)), "does not match"),
        (lambda: balanced_mask(np.ones((8, 6)), 0.5, 2, group=4), "does not divide"),
        (lambda: balanced_mask(np.ones((8, 6)), 1.5, 2), "density"),
        (lambda: balanced_mask(np.ones((8, 6)), -0.1, 2), "density"),
        (lambda: balanced_mask(np.ones((3, 6)), 0.5, 4), "one row per PE"),
        (lambda: balanced_mask(np.ones((9, 6)), 1.0, 4), "holds only 12"),
        (lambda: balanced_mask(np.ones((8, 6)), 0.5, 0), "n_pe"),
        (lambda: balanced_mask(np.ones((8, 6)), 0.5, 2, group=0), "column group"),
        (lambda: balanced_mask(np.ones((8, 6)), 0.5, 2, group=2.5), "column group"),
        (lambda: scheme_mask(np.ones((8, 6)), "lumpy", 0.5), "pruning scheme"),
        (lambda: prune(np.ones((2, 2)), np.ones((2, 2))), "boolean"),
    ],
)
def test_bad_input_raises_eie_error(call, message):
    with pytest.raises(EieError, match=message):
        call()


def test_torch_round_trip_with_a_real_linear_layer():
    torch = pytest.importorskip("torch")
    from torch.nn.utils import prune as torch_prune

    torch.manual_seed(0)
    linear = torch.nn.Linear(12, 7)
    weight = linear.weight.detach().numpy().copy()
    mask = magnitude_mask(weight, 0.25)
    apply_mask_to_torch(linear, mask)
    np.testing.assert_array_equal(mask_from_torch(linear), mask)
    np.testing.assert_array_equal(linear.weight.detach().numpy(), np.where(mask, weight, 0))

    # A mask torch made (L1 magnitude, distinct weights) is the one we compute.
    other = torch.nn.Linear(12, 7)
    torch_prune.l1_unstructured(other, "weight", amount=63)  # keep 84 - 63 = 21 of 84
    expected = magnitude_mask(other.weight_orig.detach().numpy(), 21 / 84)
    np.testing.assert_array_equal(mask_from_torch(other), expected)


def test_torch_errors_name_the_problem():
    torch = pytest.importorskip("torch")
    linear = torch.nn.Linear(3, 2)
    with pytest.raises(EieError, match="weight_mask"):
        mask_from_torch(linear)
    with pytest.raises(EieError, match="shape"):
        apply_mask_to_torch(linear, np.ones((3, 2), bool))
    with pytest.raises(EieError, match="no tensor 'kernel'"):
        apply_mask_to_torch(linear, np.ones((2, 3), bool), name="kernel")


def test_balanced_mask_by_hand():
    # 4 rows on 2 PEs: PE0 owns rows 0 and 2, PE1 rows 1 and 3. Density 0.5 of 4 x 2:
    # each share keeps round(0.5 x 4 x 2 / 2) = 2 weights, its two largest |w|.
    w = np.array([[9.0, 1.0],
                  [2.0, 3.0],
                  [8.0, 7.0],
                  [4.0, 0.5]])
    # PE0: 9, 1, 8, 7 -> keeps 9 and 8. PE1: 2, 3, 4, 0.5 -> keeps 3 and 4. Magnitude pruning
    # of the whole layer would keep 9, 8, 7, 4: three on PE0, one on PE1.
    assert balanced_mask(w, 0.5, 2).astype(int).tolist() == [[1, 0], [0, 1], [1, 0], [1, 0]]
    assert magnitude_mask(w, 0.5).astype(int).tolist() == [[1, 0], [0, 0], [1, 1], [1, 0]]
    # Groups of one column: each PE keeps round(0.5 x 4 x 1 / 2) = 1 per column.
    # Column 0: PE0 {9, 8} -> 9, PE1 {2, 4} -> 4; column 1: PE0 {1, 7} -> 7, PE1 {3, 0.5} -> 3.
    assert balanced_mask(w, 0.5, 2, group=1).astype(int).tolist() == [[1, 0], [0, 1], [0, 1], [1, 0]]


def test_balanced_ties_and_short_shares():
    # One PE, all |w| equal: the lowest flat indices win.
    assert balanced_mask(np.ones((2, 3)), 0.5, 1).astype(int).tolist() == [[1, 1, 1], [0, 0, 0]]
    # PE1's share (row 1) has one non-zero but must keep two: its zeros fill in, lowest index first.
    w = np.array([[5.0, 4.0, 3.0], [0.0, 0.0, 1.0]])
    assert balanced_mask(w, 2 / 3, 2).astype(int).tolist() == [[1, 1, 0], [1, 0, 1]]


@given(m=st.integers(4, 24), g=st.sampled_from([1, 2, 3, 6]), n_pe=st.integers(1, 4), density=st.floats(0, 1),
       seed=st.integers(0, 99))
def test_balanced_every_share_keeps_the_same_largest(m, g, n_pe, density, seed):
    k = 6
    w = random_matrix(m, k, seed)
    per_share = round(density * m * g / n_pe)
    if per_share > (m // n_pe) * g:
        with pytest.raises(EieError, match="holds only"):
            balanced_mask(w, density, n_pe, group=g)
        return
    mask = balanced_mask(w, density, n_pe, group=g)
    for p in range(n_pe):
        for c in range(0, k, g):
            share_w, share_m = w[p::n_pe, c:c + g], mask[p::n_pe, c:c + g]
            assert share_m.sum() == per_share
            if 0 < per_share < share_m.size:
                assert np.abs(share_w[share_m]).min() > np.abs(share_w[~share_m]).max()


def test_balanced_sparse_equals_dense_and_scheme_dispatch():
    w = random_matrix(40, 50) * (np.random.default_rng(1).random((40, 50)) < 0.3)
    dense = balanced_mask(w, 0.1, 8, group=10)
    np.testing.assert_array_equal(balanced_mask(sp.csr_matrix(w), 0.1, 8, group=10), dense)
    np.testing.assert_array_equal(scheme_mask(w, "balanced", 0.1, n_pe=8, group=10), dense)
    np.testing.assert_array_equal(scheme_mask(w, "magnitude", 0.1), magnitude_mask(w, 0.1))
    np.testing.assert_array_equal(scheme_mask(w, "block", 0.1, block=(2, 5)), structured_mask(w, 0.1, "block", (2, 5)))


def test_balanced_mask_goes_to_torch_unchanged():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    linear = torch.nn.Linear(12, 16)
    weight = linear.weight.detach().numpy().copy()
    mask = balanced_mask(weight, 0.25, 4)
    apply_mask_to_torch(linear, mask)
    np.testing.assert_array_equal(mask_from_torch(linear), mask)
    assert [int(mask[p::4].sum()) for p in range(4)] == [12] * 4  # round(0.25 x 16 x 12 / 4)
