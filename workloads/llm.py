"""Decode layers of large language models: the projections of one decoder layer, synthetic
weights pruned three ways, and per-token activations with three kinds of sparsity.

No real weights are used (none are available offline): every weight is drawn i.i.d. from
N(0, 0.02^2), the usual initialisation scale of these models. Under i.i.d. weights the
pruning methods reduce to where they keep entries, which is all the timing needs, so the
layers are generated sparse, never as dense 11008 x 4096 matrices:

- ``magnitude``: keep the largest |w| of the whole matrix. With i.i.d. weights the kept
  set is a uniformly random subset of exactly round(d M K) positions.
- ``wanda``: Wanda (Sun et al., ICLR 2024) scores |w_ij| x ||X_j|| with calibration
  activation norms and keeps the same count, round(d K), in every output row. Norms are
  drawn lognormal(0, 1) per input channel (LLM activations have outlier channels), |w|
  i.i.d.; the top entries of each row are kept.
- ``2:4``: in every group of four consecutive inputs of a row the two largest |w| are kept
  (NVIDIA's 2:4 sparsity; density 0.5 only): with i.i.d. weights, two of four at random.
- ``balanced``: load-balance-aware pruning (ESE, Han et al., FPGA 2017;
  ``compressor.prune.balanced_mask`` with a group of one column): in every column each PE's
  rows (i mod N = p) keep the same count, round(d M / N), the largest |w|; with i.i.d.
  weights, that many of its rows at random. It depends on the PE count N.

Weight codes are drawn uniformly from 1 .. 15 (4-bit weight sharing): the timing and the
energy do not depend on the values. Activations per token (``ACTIVATIONS``):

- ``dense``: every input non-zero.
- ``teal``: TEAL (Liu et al., 2024) zeroes the lowest-magnitude 40-50 % of every
  projection's input by a threshold; here 50 % of every input, at random positions.
- ``relufied``: ProSparse (Song et al., 2024) ReLU-fies LLaMA-2's FFN to about 89 % zeros
  in the intermediate activation, the input of the down projection; the other inputs
  (normalised hidden states, attention outputs) stay dense.

Attention score and value products, norms, rotary embeddings and the residual adds run on
the host (as the model-import work runs host operations) and are not timed here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compressor.csc import EncodedLayer, interleave
from compressor.synthetic import exact_count, sample_positions
from eiecore.errors import EieError

WEIGHT_STD = 0.02
CODEBOOK = np.concatenate(([0.0], np.linspace(-2 * WEIGHT_STD, 2 * WEIGHT_STD, 15)))


@dataclass(frozen=True)
class Projection:
    """Projections of one decoder layer with one shape and input: simulated once, counted ``count`` times."""

    name: str
    rows: int  # outputs M
    cols: int  # inputs K
    count: int
    site: str  # "attn": the hidden state or the attention output; "ffn_in": the FFN's input; "ffn_mid": down's input


@dataclass(frozen=True)
class LlmModel:
    name: str
    decoder_layers: int
    projections: tuple[Projection, ...]
    source: str

    @property
    def weights_per_token(self) -> int:
        """Weights of the projections of every decoder layer (embeddings and the LM head excluded)."""
        return self.decoder_layers * sum(p.rows * p.cols * p.count for p in self.projections)


MODELS: dict[str, LlmModel] = {
    "llama2-7b": LlmModel("LLaMA-2-7B", 32, (
        Projection("q,k,v,o", 4096, 4096, 4, "attn"),
        Projection("gate,up", 11008, 4096, 2, "ffn_in"),
        Projection("down", 4096, 11008, 1, "ffn_mid"),
    ), "Touvron et al. 2023, LLaMA 2: hidden 4096, FFN 11008, 32 layers"),
    "tinyllama-1.1b": LlmModel("TinyLlama-1.1B", 22, (
        Projection("q,o", 2048, 2048, 2, "attn"),
        Projection("k,v", 256, 2048, 2, "attn"),
        Projection("gate,up", 5632, 2048, 2, "ffn_in"),
        Projection("down", 2048, 5632, 1, "ffn_mid"),
    ), "Zhang et al. 2024, TinyLlama: hidden 2048, FFN 5632, 4 KV heads of 64, 22 layers"),
}
METHODS = ("magnitude", "wanda", "2:4", "balanced")
ACTIVATIONS = {  # zero fraction of each site's input
    "dense": {"attn": 0.0, "ffn_in": 0.0, "ffn_mid": 0.0},
    "teal": {"attn": 0.5, "ffn_in": 0.5, "ffn_mid": 0.5},
    "relufied": {"attn": 0.0, "ffn_in": 0.0, "ffn_mid": 0.89},
}
ROW_CHUNK = 256  # rows scored at a time by the per-row methods (bounded memory)


def kept_positions(method: str, shape: tuple[int, int], density: float, rng: np.random.Generator,
                   n_pe: int = 64) -> np.ndarray:
    """Flat positions (row x K + col, ascending) of the entries ``method`` keeps at ``density``
    (``n_pe``: the PEs a ``balanced`` layer is balanced for)."""
    m, k = shape
    if method == "magnitude":
        return sample_positions(m * k, exact_count(m * k, density), rng)
    if method == "2:4":
        if density != 0.5 or k % 4:
            raise EieError(f"2:4 sparsity keeps density 0.5 of inputs in groups of 4, got density {density}, K = {k}")
        keep = np.argsort(rng.random((m, k // 4, 4)), axis=2)[:, :, :2]
        flat = (np.arange(m)[:, None, None] * k + np.arange(0, k, 4)[None, :, None] + keep).ravel()
        return np.sort(flat)
    if method == "wanda":
        per_row = exact_count(k, density)
        norms = rng.lognormal(0.0, 1.0, k)
        out = []
        for lo in range(0, m, ROW_CHUNK):
            score = np.abs(rng.normal(0.0, WEIGHT_STD, (min(ROW_CHUNK, m - lo), k))) * norms
            top = np.sort(np.argpartition(-score, per_row - 1, axis=1)[:, :per_row] if per_row else
                          np.zeros((score.shape[0], 0), np.int64), axis=1)
            out.append(((lo + np.arange(score.shape[0]))[:, None] * k + top).ravel())
        return np.concatenate(out)
    if method == "balanced":
        if m % n_pe:
            raise EieError(f"balanced pruning needs the {m} rows to be a multiple of the {n_pe} PEs")
        per_share = exact_count(m // n_pe, density)
        out = []
        for lo in range(0, k, ROW_CHUNK):  # columns at a time: keys (N, M / N, columns)
            width = min(ROW_CHUNK, k - lo)
            keys = rng.random((n_pe, m // n_pe, width), dtype=np.float32)
            local = np.argpartition(keys, per_share - 1, axis=1)[:, :per_share] if per_share else \
                np.zeros((n_pe, 0, width), np.int64)
            rows = local * n_pe + np.arange(n_pe)[:, None, None]
            out.append((rows * k + lo + np.arange(width)[None, None, :]).ravel())
        return np.sort(np.concatenate(out))
    raise EieError(f"unknown pruning method {method!r}: one of {', '.join(METHODS)}")


def decode_layer(method: str, shape: tuple[int, int], density: float, config, rng: np.random.Generator,
                 name: str = "") -> EncodedLayer:
    """A pruned projection in interleaved CSC for ``config``'s PE array, generated sparse."""
    flat = kept_positions(method, shape, density, rng, config.n_pe)
    codes = rng.integers(1, 16, flat.size)
    return interleave(flat // shape[1], flat % shape[1], codes, shape, CODEBOOK, config, name=name,
                      activation="none")


def token_activations(cols: int, zero_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """One token's input of a projection: exactly round(zero_fraction x K) zeros at random places."""
    acts = np.abs(rng.normal(0.0, 1.0, cols)) + 0.1  # magnitudes above the fixed-point step
    acts[rng.choice(cols, exact_count(cols, zero_fraction), replace=False)] = 0.0
    return acts
