"""The nine benchmark layers of EIE Table III (SPEC §2), generated sparse and seeded.

"Inputs" are columns of W, "outputs" rows. Two workload modes:

- ``uniform`` (the default): weights at uniformly random places at the table's weight
  density (an exact count); every input at exactly the table's activation density.
- ``heterogeneous``: the same exact counts, but the non-zeros per row and per column
  spread with the coefficients of variation of a real pruned layer, and each input draws
  its own activation density around the table's (Beta-distributed with a measured CV).
  Defaults: :data:`HETEROGENEOUS`, each value's source beside it (docs/workloads.md).

Activations are non-negative for AlexNet/VGG and all non-zero (signed) for NeuralTalk,
whose inputs are dense (activation density 100 %, so no per-input spread).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar
from typing import Iterable

import numpy as np
import scipy.sparse as sp

from compressor.csc import Activation, EncodedLayer, compress_layer
from compressor.synthetic import (
    heterogeneous_sparse_weights, input_density, random_activations, random_sparse_weights,
)
from eiecore.errors import EieError
from eiecore.validate import check_seed
from eiesim.config import ArchConfig
from eiesim.sweep import sources
from eiesim.sweep.layers import default_cache_folder, encoded_layer


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

    # Version of the generator (weights and activations for a name and seed): bump when the
    # same benchmark and seed can give other numbers, so cached layers and stored points recompute.
    version: ClassVar[int] = 1

    def size_hint(self) -> float:
        """Expected kept weights: M x K x density."""
        return self.outputs * self.inputs * self.weight_density

    def generate(self, seed: int) -> tuple[sp.coo_matrix, np.ndarray]:
        """Weights and activations (a sweep layer source, :mod:`eiesim.sweep.sources`)."""
        return benchmark_weights(self.name, seed), benchmark_activations(self.name, seed)


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


MAX_CV = 0.5  # about 4x the measured spreads (fc8 rows: 0.13); beyond it the generator's redraws stall


@dataclass(frozen=True)
class Workload:
    """How a benchmark layer's weights and inputs are drawn (see the module docstring)."""
    mode: str = "uniform"  # "uniform" or "heterogeneous"
    row_cv: float = 0.0  # CV of non-zeros per row
    col_cv: float = 0.0  # CV of non-zeros per column
    act_cv: float = 0.0  # CV of the activation density over inputs

    def __post_init__(self):
        if self.mode not in WORKLOAD_MODES:
            raise EieError(f"workload mode must be one of {', '.join(WORKLOAD_MODES)}, got {self.mode!r}")
        for name in ("row_cv", "col_cv", "act_cv"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and 0.0 <= value <= MAX_CV):
                raise EieError(f"workload {name} must be a number in 0..{MAX_CV:g}, got {value!r}")
        if self.mode == "uniform" and (self.row_cv, self.col_cv, self.act_cv) != (0.0, 0.0, 0.0):
            raise EieError("the uniform workload has no spread; row_cv, col_cv and act_cv need mode 'heterogeneous'")

    def label(self) -> str:
        if self.mode == "uniform":
            return "uniform"
        return f"heterogeneous (row CV {self.row_cv:g}, column CV {self.col_cv:g}, input density CV {self.act_cv:g})"


WORKLOAD_MODES = ("uniform", "heterogeneous")
UNIFORM = Workload()
# Measured (docs/workloads.md, `eiesim study heterogeneity`): row and column CVs of the EIE
# authors' pruned AlexNet fc8 (528..1435 non-zeros per row of 4096); the CV over test images
# of the input density of LeNet-300-100's last hidden layer (fc3's input), pruned and
# retrained Deep-Compression style on the digits.
HETEROGENEOUS = Workload("heterogeneous", row_cv=0.133, col_cv=0.098, act_cv=0.044)


def make_workload(mode: str, row_cv: float | None = None, col_cv: float | None = None,
                  act_cv: float | None = None) -> Workload:
    """The named mode, with any of the heterogeneous defaults replaced."""
    if mode not in WORKLOAD_MODES:
        raise EieError(f"workload mode must be one of {', '.join(WORKLOAD_MODES)}, got {mode!r}")
    given = {k: v for k, v in dict(row_cv=row_cv, col_cv=col_cv, act_cv=act_cv).items() if v is not None}
    if mode == "uniform":
        if given:
            raise EieError(f"{', '.join(given)} need the heterogeneous workload")
        return UNIFORM
    return dataclasses.replace(HETEROGENEOUS, **given)


def benchmark_names(names: "str | Iterable[str] | None" = None) -> list[str]:
    """Canonical names: ``None``, ``"all"`` (any case, alone or among others) or names.

    The one place ``all`` is expanded to the nine layers; each other name is looked up
    case-insensitively (an unknown one is an :class:`EieError`).
    """
    items = ["all"] if names is None else [names] if isinstance(names, str) else list(names)
    out: list[str] = []
    for item in items:
        out.extend(BENCHMARKS) if item.strip().lower() == "all" else out.append(get_benchmark(item.strip()).name)
    return list(dict.fromkeys(out))


def find_benchmark(name: str) -> Benchmark | None:
    """The benchmark of that name (any case), or None."""
    return next((bench for key, bench in BENCHMARKS.items() if key.lower() == name.lower()), None)


def get_benchmark(name: str) -> Benchmark:
    bench = find_benchmark(name)
    if bench is None:
        raise EieError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}")
    return bench


# The sweep finds the nine layers (and "all") through its registry, never by importing us.
sources.register(find_benchmark, lambda: list(BENCHMARKS), group="all")


def _rngs(bench: Benchmark, seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the weights and the activations of one layer."""
    index = list(BENCHMARKS).index(bench.name)
    weights_ss, acts_ss = np.random.SeedSequence([check_seed(seed), index]).spawn(2)
    return np.random.default_rng(weights_ss), np.random.default_rng(acts_ss)


def benchmark_weights(name: str, seed: int = 0, workload: Workload = UNIFORM) -> sp.coo_matrix:
    """The layer's sparse weights (M x K, bias column last where the layer has one)."""
    bench = get_benchmark(name)
    shape, rng = (bench.outputs, bench.inputs), _rngs(bench, seed)[0]
    if workload.mode == "uniform":
        return random_sparse_weights(shape, bench.weight_density, rng)
    return heterogeneous_sparse_weights(shape, bench.weight_density, workload.row_cv, workload.col_cv, rng)


def _frame(bench: Benchmark, workload: Workload, rng: np.random.Generator) -> np.ndarray:
    """One input: at the table's density (uniform) or at its own drawn density."""
    length = bench.inputs - int(bench.has_bias)
    signed = bench.act_density == 1.0
    density = bench.act_density if workload.mode == "uniform" else input_density(bench.act_density, workload.act_cv, rng)
    return random_activations(length, density, rng, signed=signed)


def benchmark_activations(name: str, seed: int = 0, workload: Workload = UNIFORM) -> np.ndarray:
    """The layer's input activations (length K, less the bias column)."""
    bench = get_benchmark(name)
    return _frame(bench, workload, _rngs(bench, seed)[1])


def benchmark_activation_batch(name: str, batch: int, seed: int = 0, workload: Workload = UNIFORM) -> np.ndarray:
    """``batch`` input frames (K less bias x batch).

    Frame 0 is ``benchmark_activations(name, seed, workload)``; every other frame has its own
    generator, so the batch for one seed is fixed whatever else is generated.
    """
    if batch < 1:
        raise EieError(f"batch must be at least 1, got {batch}")
    bench = get_benchmark(name)
    index = list(BENCHMARKS).index(bench.name)
    frames = [benchmark_activations(bench.name, seed, workload)]
    for frame in range(1, batch):
        frames.append(_frame(bench, workload, np.random.default_rng(np.random.SeedSequence([seed, index, frame]))))
    return np.stack(frames, axis=1)


def benchmark_layer(
    name: str, config: ArchConfig = ArchConfig(), seed: int = 0, workload: Workload = UNIFORM,
) -> tuple[EncodedLayer, np.ndarray]:
    """The encoded layer for ``config`` and its activations.

    For the uniform workload, weight sharing (k-means, seconds per layer) and interleaving
    run once per layer, seed and PE array: both are kept in the layer cache the sweeps use
    (``eiesim.sweep.layers``, ``$XDG_CACHE_HOME/eiesim/layers``).
    """
    bench = get_benchmark(name)
    if workload == UNIFORM:

        return encoded_layer(bench.name, seed, config, default_cache_folder())
    layer = compress_layer(
        benchmark_weights(bench.name, seed, workload), config,
        name=bench.name, has_bias=bench.has_bias, activation=bench.activation,
    )
    return layer, benchmark_activations(bench.name, seed, workload)
