"""Shared bits of the sweep and paper tests: tiny layers, and a small layer family with the
benchmark layers' options (a bias column, no activation function, heterogeneous rows)."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import numpy as np

from compressor.synthetic import heterogeneous_sparse_weights, random_activations, random_sparse_weights
from eiesim.sweep import sources

TINY = "synth:96x40:0.2:0.5"
SMALL = "synth:160x64:0.15:0.6"
_MINI = re.compile(r"^mini:(\d+)x(\d+):(uniform|heterogeneous):(bias|plain)$")


@dataclass(frozen=True)
class MiniLayer:
    """``mini:MxK:MODE:BIAS``: an M x K layer at 30 % weights (its last column the bias
    when BIAS is ``bias``, then without activation function, like NeuralTalk's), rows and
    columns spread as the ``heterogeneous`` workload does, or uniform; signed inputs at 60 %."""

    outputs: int
    inputs: int
    mode: str
    bias: str
    version = 1

    @property
    def name(self) -> str:
        return f"mini:{self.outputs}x{self.inputs}:{self.mode}:{self.bias}"

    @property
    def has_bias(self) -> bool:
        return self.bias == "bias"

    @property
    def activation(self) -> str:
        return "none" if self.has_bias else "relu"

    def size_hint(self) -> float:
        return 0.3 * self.outputs * self.inputs

    def generate(self, seed: int):
        w_ss, a_ss = np.random.SeedSequence([seed, zlib.crc32(self.name.encode())]).spawn(2)
        shape, rng = (self.outputs, self.inputs), np.random.default_rng(w_ss)
        if self.mode == "uniform":
            weights = random_sparse_weights(shape, 0.3, rng).tocsr()
        else:
            weights = heterogeneous_sparse_weights(shape, 0.3, 0.5, 0.5, rng).tocsr()
        if self.has_bias:  # a bias on every row, spread wider than the weights
            weights = weights.tolil()
            weights[:, -1] = rng.uniform(0.5, 3.0, (self.outputs, 1)) * rng.choice([-1.0, 1.0], (self.outputs, 1))
        acts = random_activations(self.inputs - int(self.has_bias), 0.6, np.random.default_rng(a_ss), signed=True)
        return weights.tocoo(), acts


def find_mini(name: str) -> MiniLayer | None:
    match = _MINI.match(name.strip().lower())
    return None if match is None else MiniLayer(int(match[1]), int(match[2]), match[3], match[4])


sources.register(find_mini, lambda: [], group="mini")
