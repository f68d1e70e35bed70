"""The nine benchmark layers of EIE Table III (SPEC §2), generated sparse and seeded.

"Inputs" are columns of W, "outputs" rows. Weights are placed uniformly at random at the
table's weight density (an exact count); activations are non-negative at the table's
activation density for AlexNet/VGG, and all non-zero (signed) for NeuralTalk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from compressor.csc import Activation, EncodedLayer, compress_layer
from compressor.synthetic import random_activations, random_sparse_weights
from eiesim.config import ArchConfig
from eiesim.errors import EieError
from eiesim.validate import check_seed


@dataclass(frozen=True)
class Benchmark:
    name: str
    inputs: int  # K, bias column included where has_bias
    outputs: int  # M
    weight_density: float
    act_density: float
    source: str
    has_bias: bool = False
    activation: Activation = "relu"


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("Alex-6", 9216, 4096, 0.09, 0.351, "AlexNet fc6"),
        Benchmark("Alex-7", 4096, 4096, 0.09, 0.353, "AlexNet fc7"),
        Benchmark("Alex-8", 4096, 1000, 0.25, 0.375, "AlexNet fc8", activation="none"),
        Benchmark("VGG-6", 25088, 4096, 0.04, 0.183, "VGG-16 fc6"),
        Benchmark("VGG-7", 4096, 4096, 0.04, 0.375, "VGG-16 fc7"),
        Benchmark("VGG-8", 4096, 1000, 0.23, 0.411, "VGG-16 fc8", activation="none"),
        Benchmark("NT-We", 4096, 600, 0.10, 1.0, "NeuralTalk word embedding", activation="none"),
        Benchmark("NT-Wd", 600, 8791, 0.11, 1.0, "NeuralTalk decoder", activation="none"),
        Benchmark(
            "NT-LSTM", 1201, 2400, 0.10, 1.0,
            "NeuralTalk LSTM (600 x + 600 h + 1 bias in; 4 gates x 600 out)",
            has_bias=True, activation="none",
        ),
    )
}


def get_benchmark(name: str) -> Benchmark:
    for key, bench in BENCHMARKS.items():
        if key.lower() == name.lower():
            return bench
    raise EieError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}")


def _rngs(bench: Benchmark, seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the weights and the activations of one layer."""
    index = list(BENCHMARKS).index(bench.name)
    weights_ss, acts_ss = np.random.SeedSequence([check_seed(seed), index]).spawn(2)
    return np.random.default_rng(weights_ss), np.random.default_rng(acts_ss)


def benchmark_weights(name: str, seed: int = 0) -> sp.coo_matrix:
    """The layer's sparse weights (M x K, bias column last where the layer has one)."""
    bench = get_benchmark(name)
    return random_sparse_weights((bench.outputs, bench.inputs), bench.weight_density, _rngs(bench, seed)[0])


def benchmark_activations(name: str, seed: int = 0) -> np.ndarray:
    """The layer's input activations (length K, less the bias column)."""
    bench = get_benchmark(name)
    length = bench.inputs - int(bench.has_bias)
    signed = bench.act_density == 1.0
    return random_activations(length, bench.act_density, _rngs(bench, seed)[1], signed=signed)


def benchmark_activation_batch(name: str, batch: int, seed: int = 0) -> np.ndarray:
    """``batch`` input frames (K less bias x batch) at the layer's activation density.

    Frame 0 is ``benchmark_activations(name, seed)``; every other frame has its own
    generator, so the batch for one seed is fixed whatever else is generated.
    """
    if batch < 1:
        raise EieError(f"batch must be at least 1, got {batch}")
    bench = get_benchmark(name)
    length = bench.inputs - int(bench.has_bias)
    signed = bench.act_density == 1.0
    index = list(BENCHMARKS).index(bench.name)
    frames = [benchmark_activations(bench.name, seed)]
    for frame in range(1, batch):
        rng = np.random.default_rng(np.random.SeedSequence([seed, index, frame]))
        frames.append(random_activations(length, bench.act_density, rng, signed=signed))
    return np.stack(frames, axis=1)


def benchmark_layer(
    name: str, config: ArchConfig = ArchConfig(), seed: int = 0
) -> tuple[EncodedLayer, np.ndarray]:
    """The encoded layer for ``config`` and its activations."""
    bench = get_benchmark(name)
    layer = compress_layer(
        benchmark_weights(bench.name, seed), config,
        name=bench.name, has_bias=bench.has_bias, activation=bench.activation,
    )
    return layer, benchmark_activations(bench.name, seed)
