"""Lab 7 (structured vs unstructured pruning, after ADMM-NN-S): masks of each scheme
(unstructured, load-balanced per PE as in ESE, rows, 4 x 4 blocks), storage in four
formats, EIE cycles and energy, the pruning-to-performance ratio and its measured curve,
and the exercises' answers: the ``*_of`` functions recompute them from the student's weight
matrices, for the student's parameters (:func:`params`).

Storage formats of one pruned, weight-shared matrix (b-bit codes, 2^b-entry codebook of
16-bit values counted in every format):

- ``eie``: EIE's interleaved CSC on the configured PEs: (b + 4) bits per entry, fillers
  included, and 16-bit pointers (``compressor.report.layer_storage``);
- ``csr``: compressed sparse rows with absolute indices: per kept weight a b-bit code and
  a ceil(log2 K)-bit column index, and M + 1 row pointers of ceil(log2(nnz + 1)) bits;
- ``dense``: every one of the M x K weights as a b-bit code (zeros too);
- ``compact``: what structured pruning allows: the kept rows (or blocks) as a smaller
  dense matrix of b-bit codes plus one index per kept row (block); for unstructured and
  balanced pruning there is nothing to compact, so it equals ``dense``.
"""

from __future__ import annotations

import math

import numpy as np

from compressor.csc import compress_layer
from compressor.prune import balanced_mask, magnitude_mask, structured_mask
from compressor.prune import apply_mask_to_torch
from compressor.report import layer_storage
from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.labs.checking import student_params
from eiesim.simulation import simulate
from workloads.lenet import train

SCHEMES = ("unstructured", "balanced", "row", "block")
# What each student's exercises draw from.
CHOICES = {"csr_code_bits": (3, 4, 5), "storage_format": ("eie", "csr", "compact"), "ppr_pes": (8, 16, 32),
           "balanced_density": (0.05, 0.1, 0.2)}


def params(student_id: str | None):
    """This student's code width, storage format, PE count and balanced density."""
    return student_params(student_id, 7, CHOICES)
BLOCK = (4, 4)
CODEBOOK_VALUE_BITS = 16


def mask(w: np.ndarray, scheme: str, density: float, n_pe: int = 64) -> np.ndarray:
    """Keep ``density`` of the weights: by magnitude, by magnitude within each of ``n_pe``
    PEs' rows (the same count on every PE), or whole rows / 4 x 4 blocks by L2 norm."""
    if scheme == "unstructured":
        return magnitude_mask(w, density)
    if scheme == "balanced":
        return balanced_mask(w, density, n_pe)
    if scheme in ("row", "block"):
        return structured_mask(w, density, scheme, BLOCK)
    raise EieError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")


def pruned_copy(model, data, scheme: str, density: float, layers=("fc1", "fc2"), epochs: int = 10,
                seed: int = 0, lr: float = 5e-4, n_pe: int = 64):
    """A copy of a trained LeNet with ``layers`` pruned by ``scheme`` and retrained with the
    masks held (``torch.nn.utils.prune``); the original model is left as it was."""
    import copy

    import torch

    pruned = copy.deepcopy(model)
    for name in layers:
        layer = getattr(pruned, name)
        apply_mask_to_torch(layer, mask(layer.weight.detach().double().numpy(), scheme, density, n_pe))
    generator = torch.Generator().manual_seed(seed)
    train(torch, pruned, pruned.parameters(), data, epochs, lr, 64, generator)
    return pruned


def _bits(count: int) -> int:
    """Bits of an index that takes ``count`` values."""
    return max(1, math.ceil(math.log2(count))) if count > 1 else 1


def csr_bits(w: np.ndarray, weight_bits: int = 4) -> int:
    """Absolute-index CSR: codes and column indices per kept weight, M + 1 row pointers."""
    m, k = w.shape
    nnz = int(np.count_nonzero(w))
    codebook = 2**weight_bits * CODEBOOK_VALUE_BITS
    return nnz * (weight_bits + _bits(k)) + (m + 1) * _bits(nnz + 1) + codebook


def compact_bits(w: np.ndarray, scheme: str, weight_bits: int = 4) -> int:
    """Kept rows or blocks stored densely, one index each; unstructured: plain dense codes."""
    m, k = w.shape
    codebook = 2**weight_bits * CODEBOOK_VALUE_BITS
    if scheme == "row":
        kept = int(np.count_nonzero(np.any(w != 0, axis=1)))
        return kept * k * weight_bits + kept * _bits(m) + codebook
    if scheme == "block":
        bh, bw = BLOCK
        grid = np.zeros((-(-m // bh), -(-k // bw)), bool)
        rows, cols = np.nonzero(w)
        grid[rows // bh, cols // bw] = True
        kept = int(grid.sum())
        return kept * bh * bw * weight_bits + kept * _bits(grid.size) + codebook
    if scheme in ("unstructured", "balanced"):
        return m * k * weight_bits + codebook
    raise EieError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")


def storage(w: np.ndarray, scheme: str, config: ArchConfig) -> dict[str, int]:
    """Bits of ``w`` in the four formats (see the module docstring)."""
    layer = compress_layer(w, config)
    b = config.weight_bits
    return {
        "eie": layer_storage(layer, config.ptr_bits, CODEBOOK_VALUE_BITS).total_bits,
        "csr": csr_bits(w, b),
        "dense": w.size * b + 2**b * CODEBOOK_VALUE_BITS,
        "compact": compact_bits(w, scheme, b),
    }


def eie_run(w: np.ndarray, acts: np.ndarray, config: ArchConfig) -> dict[str, float]:
    """Mean cycles and energy (pJ) of ``w`` on EIE over the activation rows of ``acts``."""
    layer = compress_layer(w, config)
    runs = [simulate(layer, a, config) for a in np.atleast_2d(acts)]
    return {"cycles": float(np.mean([r.cycles for r in runs])),
            "energy_pj": float(np.mean([r.energy.total for r in runs]))}


def ppr_of(pruned: list[np.ndarray], dense: list[np.ndarray], acts: list[np.ndarray], config: ArchConfig) -> float:
    """Pruning rate / EIE speedup over the layers taken together.

    Pruning rate = weights / kept weights; speedup = cycles of the dense matrices /
    cycles of the pruned ones, both on the same activations.
    """
    weights = sum(w.size for w in dense)
    kept = sum(int(np.count_nonzero(w)) for w in pruned)
    dense_cycles = sum(eie_run(w, a, config)["cycles"] for w, a in zip(dense, acts))
    pruned_cycles = sum(eie_run(w, a, config)["cycles"] for w, a in zip(pruned, acts))
    return (weights / kept) / (dense_cycles / pruned_cycles)


def ppr_curve(models: dict, dense: list[np.ndarray], inputs, config: ArchConfig) -> "pd.DataFrame":
    """The measured PPR of every (scheme, density) model: pruning rate, EIE speedup over the
    dense matrices on the same activations, PPR = rate / speedup (fc1 and fc2 together).

    ``models`` maps (scheme, density) to a list of pruned weight matrices; ``inputs`` maps
    (scheme, density) to the activations of each matrix (rows = images)."""
    import pandas as pd

    rows = []
    for key, ws in models.items():
        acts = inputs[key]
        pruned = sum(eie_run(w, a, config)["cycles"] for w, a in zip(ws, acts))
        full = sum(eie_run(w, a, config)["cycles"] for w, a in zip(dense, acts))
        rate = sum(w.size for w in ws) / sum(int(np.count_nonzero(w)) for w in ws)
        rows.append({"scheme": key[0], "density": key[1], "pruning rate": rate, "speedup": full / pruned,
                     "PPR": rate / (full / pruned)})
    return pd.DataFrame(rows)


def balanced_share_of(rows: int, cols: int, density: float, n_pe: int) -> int:
    """Exercise 4: weights each PE keeps when a rows x cols layer is balanced-pruned."""
    return round(density * rows * cols / n_pe)


def least_storage_of(matrices: dict[str, list[np.ndarray]], config: ArchConfig, fmt: str = "eie") -> str:
    """Exercise 2: the scheme whose matrices need the fewest bits in format ``fmt``."""
    totals = {scheme: sum(storage(w, scheme, config)[fmt] for w in ws) for scheme, ws in matrices.items()}
    return min(totals, key=totals.get)
