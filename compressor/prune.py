"""Pruning masks (Deep Compression §2, SPEC §3): magnitude and structured, torch-compatible.

A mask is a numpy bool array of the weight matrix's shape, True where a weight is kept
(the convention of ``torch.nn.utils.prune``'s ``weight_mask``). Survivor counts are exact:

- :func:`magnitude_mask` keeps the round(density x size) weights of largest magnitude;
  among equal magnitudes the lower flat (row-major) index is kept.
- :func:`structured_mask` keeps whole rows, columns or blocks: the round(density x groups)
  groups of largest L2 norm, ties again to the lower group index (the structured side of
  ADMM-NN-S's structured-vs-unstructured comparison).
- :func:`balanced_mask` is load-balance-aware pruning (ESE, Han et al., FPGA 2017): every
  PE's share of the layer (its interleaved rows, SPEC §3, within each group of G columns)
  keeps the same number of weights, the largest |w| inside the share.
- :func:`scheme_mask` picks one of these by name (the ``SCHEMES``).

Weights may be dense arrays or scipy sparse matrices (whose missing entries count as 0);
a sparse matrix is never densified, only its mask is dense. torch is imported only by
the two interop functions.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

from compressor.csc import as_coo
from compressor.synthetic import exact_count
from eiecore.errors import EieError

Granularity = Literal["row", "column", "block"]
GRANULARITIES = ("row", "column", "block")
SCHEMES = ("magnitude", "balanced", "row", "column", "block")


def magnitude_mask(weights, density: float) -> np.ndarray:
    """Keep exactly round(density x size) largest-|w| weights; ties go to the lower index."""
    coo = as_coo(weights)
    shape = coo.shape
    keep = exact_count(shape[0] * shape[1], density)
    mask = np.zeros(shape, bool)
    flat = coo.row.astype(np.int64) * shape[1] + coo.col
    if keep <= flat.size:
        mask.ravel()[flat[_top(np.abs(coo.data), keep)]] = True
    else:
        # Every non-zero survives; the rest are zeros, kept lowest index first.
        mask.ravel()[flat] = True
        zeros = np.flatnonzero(~mask.ravel())[: keep - flat.size]
        mask.ravel()[zeros] = True
    return mask


def structured_mask(
    weights, density: float, granularity: Granularity = "row", block: tuple[int, int] = (4, 4)
) -> np.ndarray:
    """Keep whole groups: the round(density x groups) of largest L2 norm, ties to the lower index.

    Groups are rows, columns, or ``block`` = (rows, cols) tiles in row-major tile order
    (tiles on the right and bottom edges may be smaller). ``density`` is the fraction of
    groups kept, which equals the fraction of weights kept when all groups have one size.
    """
    coo = as_coo(weights)
    m, k = coo.shape
    if granularity == "row":
        tile, grid, group = (1, k), (m, 1), coo.row
    elif granularity == "column":
        tile, grid, group = (m, 1), (1, k), coo.col
    elif granularity == "block":
        tile = _block_shape(block)
        grid = (-(-m // tile[0]), -(-k // tile[1]))
        group = (coo.row // tile[0]).astype(np.int64) * grid[1] + coo.col // tile[1]
    else:
        raise EieError(f"granularity must be one of {', '.join(GRANULARITIES)}, got {granularity!r}")
    n_groups = grid[0] * grid[1]
    # Squared norms rank like norms and need no square root.
    norms = np.bincount(group, weights=coo.data**2, minlength=n_groups)
    kept = np.zeros(n_groups, bool)
    kept[_top(norms, exact_count(n_groups, density))] = True
    return np.repeat(np.repeat(kept.reshape(grid), tile[0], axis=0), tile[1], axis=1)[:m, :k]


def balanced_mask(weights, density: float, n_pe: int, group: int | None = None) -> np.ndarray:
    """Keep the same number of weights in every PE's share: the largest |w| of each share.

    Row i belongs to PE i mod ``n_pe`` (EIE's interleaving, SPEC §3). A share is one PE's
    rows within one group of ``group`` consecutive columns (``group`` must divide K;
    ``None``: all K columns, one share per PE). Every share keeps
    k = round(density x M x group / n_pe) weights (the mean share's size times the
    density), so the layer keeps n_pe x (K / group) x k: the nearest balanced count to
    density x M x K. Ties go to the lower flat (row-major) index; a share with fewer
    non-zeros than k keeps its zeros lowest index first.
    """
    coo = as_coo(weights)
    m, k = coo.shape
    exact_count(1, density)  # validates the density
    if isinstance(n_pe, bool) or not isinstance(n_pe, (int, np.integer)) or n_pe < 1:
        raise EieError(f"n_pe must be a positive integer, got {n_pe!r}")
    group = k if group is None else group
    if isinstance(group, bool) or not isinstance(group, (int, np.integer)) or group < 1:
        raise EieError(f"column group must be a positive integer, got {group!r}")
    if k % group:
        raise EieError(f"column group {group} does not divide the layer's {k} columns")
    if m < n_pe:
        raise EieError(f"balanced pruning needs at least one row per PE: {m} rows, {n_pe} PEs")
    per_share = int(round(density * m * group / n_pe))
    smallest = (m // n_pe) * group
    if per_share > smallest:
        raise EieError(f"density {density} asks {per_share} weights per PE share, but a PE with "
                       f"{m // n_pe} rows holds only {smallest} per {group} columns")
    n_groups = k // group
    share = (coo.row % n_pe).astype(np.int64) * n_groups + coo.col // group
    flat = coo.row.astype(np.int64) * k + coo.col
    # Within each share: largest |w| first, then lower flat index. Two stable sorts: by
    # magnitude over the row-major (flat-ascending) entries, then by share.
    by_flat = np.argsort(flat, kind="stable")
    by_size = by_flat[np.argsort(-np.abs(coo.data[by_flat]), kind="stable")]
    order = by_size[np.argsort(share[by_size], kind="stable")]
    sorted_share = share[order]
    first = np.searchsorted(sorted_share, sorted_share, side="left")
    rank = np.arange(order.size) - first
    mask = np.zeros((m, k), bool)
    mask.ravel()[flat[order[rank < per_share]]] = True
    have = np.bincount(share, minlength=n_pe * n_groups)
    for short in np.flatnonzero(have < per_share):  # rare: a share with too few non-zeros
        p, g = divmod(int(short), n_groups)
        rows, cols = np.arange(p, m, n_pe), np.arange(g * group, (g + 1) * group)
        block = mask[np.ix_(rows, cols)]
        zeros = np.flatnonzero(~block)[: per_share - int(have[short])]
        block.ravel()[zeros] = True
        mask[np.ix_(rows, cols)] = block
    return mask


def scheme_mask(weights, scheme: str, density: float, n_pe: int = 64, group: int | None = None,
                block: tuple[int, int] = (4, 4)) -> np.ndarray:
    """The mask of one of ``SCHEMES`` at ``density`` (``n_pe`` and ``group`` for balanced,
    ``block`` for block)."""
    if scheme == "magnitude":
        return magnitude_mask(weights, density)
    if scheme == "balanced":
        return balanced_mask(weights, density, n_pe, group)
    if scheme in GRANULARITIES:
        return structured_mask(weights, density, scheme, block)
    raise EieError(f"pruning scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")


def prune(weights, mask: np.ndarray):
    """Zero the weights where ``mask`` is False (same kind as ``weights``: dense or sparse)."""
    coo = as_coo(weights)  # validates either kind
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise EieError(f"a pruning mask must be boolean, got dtype {mask.dtype}")
    if mask.shape != coo.shape:
        raise EieError(f"mask shape {mask.shape} does not match weights shape {coo.shape}")
    if sp.issparse(weights):
        keep = mask[coo.row, coo.col]
        return sp.coo_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=coo.shape)
    return np.where(mask, np.asarray(weights, np.float64), 0.0)


def mask_from_torch(module, name: str = "weight") -> np.ndarray:
    """The ``<name>_mask`` buffer that ``torch.nn.utils.prune`` left on ``module``, as numpy."""
    buffer = getattr(module, f"{name}_mask", None)
    if buffer is None:
        raise EieError(
            f"{type(module).__name__} has no '{name}_mask'; prune it with torch.nn.utils.prune first"
        )
    return buffer.detach().cpu().numpy().astype(bool)


def apply_mask_to_torch(module, mask: np.ndarray, name: str = "weight"):
    """Install ``mask`` on ``module.<name>`` with ``torch.nn.utils.prune.custom_from_mask``.

    As in torch, a module pruned before keeps its old mask too (the masks multiply).
    """
    import torch
    from torch.nn.utils import prune as torch_prune

    param = getattr(module, name, None)
    if not isinstance(param, torch.Tensor):
        raise EieError(f"{type(module).__name__} has no tensor '{name}' to prune")
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != tuple(param.shape):
        raise EieError(
            f"mask must be boolean with shape {tuple(param.shape)}, got {mask.dtype} {mask.shape}"
        )
    return torch_prune.custom_from_mask(module, name, mask=torch.tensor(mask, device=param.device))


def _top(scores: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` largest scores, ties to the lower index, in O(n)."""
    if count == 0:
        return np.zeros(0, np.int64)
    if count >= scores.size:
        return np.arange(scores.size)
    threshold = np.partition(scores, scores.size - count)[scores.size - count]
    above = np.flatnonzero(scores > threshold)
    tied = np.flatnonzero(scores == threshold)[: count - above.size]
    return np.concatenate((above, tied))


def _block_shape(block) -> tuple[int, int]:
    try:
        bh, bw = (int(v) for v in block)
    except (TypeError, ValueError):
        raise EieError(f"block must be a pair (rows, cols), got {block!r}") from None
    if bh < 1 or bw < 1:
        raise EieError(f"block sides must be at least 1, got {bh} x {bw}")
    return bh, bw
