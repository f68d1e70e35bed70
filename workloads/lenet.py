"""LeNet-300-100 end to end: train, Deep-Compress, and run every layer on simulated EIE.

The network is Deep Compression's MLP on scikit-learn's 8 x 8 digits (64-300-100-10, ReLU
between layers; DC used 784 MNIST inputs, so storage is compared as ratios). Stages:

1. dense training (Adam, cross-entropy);
2. iterative magnitude pruning with retraining: ``prune_steps`` rounds, each layer's
   density falling geometrically to DC's LeNet-300-100 targets (8 / 9 / 26 % kept, DC
   Table 2), masks from ``compressor.prune`` enforced with ``torch.nn.utils.prune``;
   biases are not pruned;
3. weight sharing: each layer's kept weights clustered into 2^b - 1 centroids and its bias
   (EIE's extra input column) into its own bias codebook, then centroid fine-tuning with
   gradients summed per cluster (DC §3.3);
4. EIE: each layer encoded in interleaved CSC and run on the simulator, layer by layer on
   ``eie_images`` test images (all in the full setting), each layer's input the previous
   layer's output as EIE computed it; accuracy, cycles, latency and energy come from the
   engine, whose outputs on the first ``check_images`` are checked against the numpy
   functional model.

Everything is seeded (torch seed, deterministic algorithms, one thread, fixed split).
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from compressor.csc import SharedMatrix, compress_layer, share_matrix
from compressor.prune import apply_mask_to_torch, magnitude_mask
from compressor.quantize import finetune_centroids
from compressor.report import KB, StorageReport, layer_storage
from eiecore.atomic import write_atomic
from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.functional import functional_output
from eiesim.inference import Network, forward, infer
from eiesim.modelfile import CompressedModel
from eiesim.modelfile import save_model
from eiesim.simulation import prepare_activations
from workloads.digits import Digits, load_digits_split
from workloads.torch_import import layers_from_module, require_torch

# Deep Compression, Table 1 / Table 2, LeNet-300-100 on MNIST: kept weight fraction per
# layer and the whole model's storage before and after pruning + quantisation + Huffman.
DC_LENET_DENSITIES = (0.08, 0.09, 0.26)
DC_LENET_STORAGE = {"dense_kb": 1070.0, "compressed_kb": 27.0, "ratio": 40.0}
LAYER_NAMES = ("fc1", "fc2", "fc3")


@dataclass(frozen=True)
class LeNetSettings:
    """Training and compression settings; ``reduced()`` for tests, ``full()`` for reports."""

    hidden: tuple[int, int] = (300, 100)
    densities: tuple[float, float, float] = DC_LENET_DENSITIES
    weight_bits: int = 4
    dense_epochs: int = 40
    prune_steps: int = 4
    retrain_epochs: int = 10
    finetune_epochs: int = 8
    batch_size: int = 64
    lr: float = 1e-3
    retrain_lr: float = 5e-4
    centroid_lr: float = 1e-3
    test_fraction: float = 0.2
    eie_images: int | None = None  # test images run on the engine; None: all of them
    check_images: int = 4  # of those, checked against the functional model
    n_pe: int = 64
    eie_settings: tuple[tuple[str, Any], ...] = ()  # other machine fields (FIELD, VALUE) of the simulated EIE

    @classmethod
    def full(cls) -> "LeNetSettings":
        return cls()

    @classmethod
    def reduced(cls) -> "LeNetSettings":
        """A few seconds: short training, two pruning rounds, 20 images on the engine."""
        return cls(dense_epochs=6, prune_steps=2, retrain_epochs=2, finetune_epochs=2, eie_images=20)

    def check(self) -> "LeNetSettings":
        if len(self.densities) != 3 or not all(0.0 < d <= 1.0 for d in self.densities):
            raise EieError(f"densities must be three fractions in (0, 1], got {self.densities}")
        if len(self.hidden) != 2 or min(self.hidden) < 1:
            raise EieError(f"hidden must be two positive layer widths, got {self.hidden}")
        counts = {"dense_epochs": 1, "prune_steps": 1, "retrain_epochs": 0, "finetune_epochs": 0,
                  "batch_size": 1, "weight_bits": 1, "n_pe": 1, "check_images": 0}
        for name, least in counts.items():
            if getattr(self, name) < least:
                raise EieError(f"{name} must be at least {least}, got {getattr(self, name)}")
        named = {"n_pe", "weight_bits"} & {name for name, _ in self.eie_settings}
        if named:
            raise EieError(f"eie_settings must not hold {', '.join(sorted(named))}: it is a setting of its own")
        if self.eie_images is not None and self.eie_images < 1:
            raise EieError(f"eie_images must be at least 1 (or None for all), got {self.eie_images}")
        return self


@dataclass
class Stage:
    name: str
    accuracy: float  # on the test split, or on its first ``images`` images
    note: str = ""
    images: int | None = None  # test images the accuracy is measured on (None: the whole split)


@dataclass
class LayerReport:
    """One layer after compression, on EIE."""

    name: str
    shape: tuple[int, int]  # M x K, the bias column included
    weights: int  # M x K less bias
    kept: int  # non-zero weights (bias excluded)
    density: float
    activation: str
    act_density: float  # mean fraction of non-zero inputs over the simulated images
    cycles: list[int] = field(default_factory=list)  # one per simulated image
    energy_pj: list[float] = field(default_factory=list)  # one per simulated image
    real_entries: int = 0
    filler_entries: int = 0

    @property
    def mean_cycles(self) -> float:
        return float(np.mean(self.cycles)) if self.cycles else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["mean_cycles"] = self.mean_cycles
        return out


@dataclass
class LeNetResult:
    """Accuracy after each stage, storage per layer, EIE cycles, latency and energy."""

    seed: int
    settings: LeNetSettings
    engine: str
    clock_mhz: float
    stages: list[Stage]
    layers: list[LayerReport]
    storage: dict[str, StorageReport]  # "single stream" (DC's layout) and "EIE" (N PEs)
    engine_matches_functional: bool  # on the first check_images images
    model: CompressedModel | None = None  # the encoded network (eiesim lenet --export writes it)
    float_accuracy_eie_images: float = 0.0  # the float model on the images run on EIE
    test_images: int = 0  # size of the test split

    @property
    def latency_us(self) -> float:
        """Mean whole-network time per image: the layers run one after another."""
        return sum(layer.mean_cycles for layer in self.layers) / self.clock_mhz

    @property
    def energy_pj(self) -> float:
        """Mean whole-network energy per image (the simulator's event model)."""
        return float(sum(np.mean(layer.energy_pj) for layer in self.layers))

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed, "settings": asdict(self.settings), "engine": self.engine,
            "clock_mhz": self.clock_mhz,
            "stages": [asdict(s) for s in self.stages],
            "layers": [layer.to_dict() for layer in self.layers],
            "storage": {layout: report.to_dict() for layout, report in self.storage.items()},
            "eie": {
                "images": len(self.layers[0].cycles) if self.layers else 0,
                "latency_us": self.latency_us, "energy_pj": self.energy_pj,
                "engine_matches_functional": self.engine_matches_functional,
                "float_accuracy_same_images": self.float_accuracy_eie_images,
            },
            "deep_compression_reference": {**DC_LENET_STORAGE, "densities": list(DC_LENET_DENSITIES)},
        }

    def storage_markdown(self) -> str:
        """KB and compression ratio (float32 / compressed, Huffman) per layer and layout."""
        layouts = list(self.storage)
        lines = ["| layer | dense KB | " + " | ".join(f"{name} KB (ratio)" for name in layouts) + " |",
                 "|---" * (len(layouts) + 2) + "|"]
        columns = [(*report.layers, report.total) for report in self.storage.values()]
        for row in zip(*columns):
            cells = [f"{s.total_huffman_bits / KB:.1f} ({s.ratio_huffman:.1f}x)" for s in row]
            lines.append(f"| {row[0].name} | {row[0].dense_bits / KB:.1f} | " + " | ".join(cells) + " |")
        dc = DC_LENET_STORAGE
        lines += ["", f"Deep Compression, LeNet-300-100 on MNIST (784 inputs): {dc['dense_kb']:g} KB -> "
                  f"{dc['compressed_kb']:g} KB ({dc['ratio']:g}x). Ours: 64 inputs, biases stored as a "
                  f"{self.settings.weight_bits}-bit column with its own codebook, {self.settings.weight_bits}-bit relative indices "
                  "with fillers, 16-bit pointers; Huffman-coded weights and indices."]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        test_images = self.test_images
        lines = ["| stage | test images | test accuracy | note |", "|---|---|---|---|"]
        lines += [f"| {s.name} | {test_images if s.images is None else s.images} | {100 * s.accuracy:.2f}% | {s.note} |"
                  for s in self.stages]
        lines += ["", "| layer | M x K | kept | act. density | mean cycles | time us | energy nJ |",
                  "|---|---|---|---|---|---|---|"]
        for layer in self.layers:
            lines.append(
                f"| {layer.name} | {layer.shape[0]} x {layer.shape[1]} | {100 * layer.density:.1f}% "
                f"| {100 * layer.act_density:.1f}% | {layer.mean_cycles:.1f} "
                f"| {layer.mean_cycles / self.clock_mhz:.3f} | {np.mean(layer.energy_pj) / 1e3:.2f} |")
        lines += ["", self.storage_markdown()]
        lines += ["", f"Whole network on EIE ({self.settings.n_pe} PEs, {self.engine} engine): "
                  f"{self.latency_us:.3f} us, {self.energy_pj / 1e3:.2f} nJ per image."]
        return "\n".join(lines)


@contextmanager
def _deterministic_torch(seed: int):
    """Seeded, deterministic, single-threaded torch; previous global settings restored."""
    torch = require_torch()

    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield torch
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def build_mlp(n_inputs: int, hidden: tuple[int, int], n_classes: int = 10):
    """LeNet-300-100 as nn.Sequential with layers named fc1, fc2, fc3."""
    from torch import nn

    sizes = (n_inputs, *hidden, n_classes)
    parts: list[tuple[str, Any]] = []
    for i, name in enumerate(LAYER_NAMES):
        parts.append((name, nn.Linear(sizes[i], sizes[i + 1])))
        if i < len(LAYER_NAMES) - 1:
            parts.append((f"relu{i + 1}", nn.ReLU()))
    return nn.Sequential(OrderedDict(parts))


def _batches(torch, n: int, batch_size: int, generator):
    order = torch.randperm(n, generator=generator)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def train(torch, forward: Callable, params, data: Digits, epochs: int, lr: float, batch_size: int, generator):
    """Adam on cross-entropy over the training split."""
    x = torch.from_numpy(data.x_train).float()
    y = torch.from_numpy(data.y_train)
    opt = torch.optim.Adam(params, lr=lr)
    for _ in range(epochs):
        for idx in _batches(torch, len(y), batch_size, generator):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(forward(x[idx]), y[idx]).backward()
            opt.step()


def accuracy(torch, forward: Callable, data: Digits) -> float:
    with torch.no_grad():
        logits = forward(torch.from_numpy(data.x_test).float())
    return float((logits.argmax(dim=1).numpy() == data.y_test).mean())


def magnitude_prune(model, densities: tuple[float, ...]) -> None:
    """Keep each layer's largest-magnitude weights (exact count, ties by index); the new
    masks go on with torch.nn.utils.prune, multiplying any earlier ones."""
    for name, density in zip(LAYER_NAMES, densities):
        layer = getattr(model, name)
        apply_mask_to_torch(layer, magnitude_mask(layer.weight.detach().numpy(), density))


def shared_forward(torch, matrices: list):
    """The MLP computed from [W | b] matrices: ReLU between layers, none after the last."""

    def forward(x):
        h = x.double()
        for i, m in enumerate(matrices):
            h = torch.cat([h, torch.ones(h.shape[0], 1, dtype=h.dtype)], dim=1) @ m.T
            if i < len(matrices) - 1:
                h = torch.relu(h)
        return h

    return forward


def shared_accuracy(torch, layers: list[SharedMatrix], data: Digits) -> float:
    return accuracy(torch, shared_forward(torch, [torch.from_numpy(layer.matrix()) for layer in layers]), data)


def finetune_shared(torch, layers: list[SharedMatrix], data: Digits, epochs: int, lr: float, batch_size: int, generator):
    """Centroid fine-tuning (DC §3.3): dL/dw of each kept weight summed per cluster."""
    x = torch.from_numpy(data.x_train)
    y = torch.from_numpy(data.y_train)
    for _ in range(epochs):
        for idx in _batches(torch, len(y), batch_size, generator):
            mats = [torch.from_numpy(layer.matrix()).requires_grad_() for layer in layers]
            torch.nn.functional.cross_entropy(shared_forward(torch, mats)(x[idx]), y[idx]).backward()
            for i, (layer, m) in enumerate(zip(layers, mats)):
                grads, bias = m.grad.numpy()[layer.rows, layer.cols], layer.is_bias
                layers[i] = replace(
                    layer, codebook=finetune_centroids(layer.codebook, layer.codes[~bias], grads[~bias], lr),
                    bias_codebook=finetune_centroids(layer.bias_codebook, layer.codes[bias], grads[bias], lr))


def train_and_prune(torch, settings: LeNetSettings, data: Digits, seed: int,
                    progress: Callable[[str], None] = lambda _: None):
    """Stages 1-2: the dense network trained, then pruned iteratively to ``settings.densities``
    with retraining. Returns the model (masks installed), the accuracy of each stage and
    the batch-order generator, to continue with."""
    stages: list[Stage] = []
    gen = torch.Generator().manual_seed(seed)
    model = build_mlp(data.n_inputs, settings.hidden)
    progress("training the dense network")
    train(torch, model, model.parameters(), data, settings.dense_epochs, settings.lr, settings.batch_size, gen)
    stages.append(Stage("dense", accuracy(torch, model, data), "float32"))
    for step in range(1, settings.prune_steps + 1):
        step_densities = tuple(d ** (step / settings.prune_steps) for d in settings.densities)
        progress(f"pruning round {step}: densities {', '.join(f'{d:.3f}' for d in step_densities)}")
        magnitude_prune(model, step_densities)
        if step == settings.prune_steps:
            stages.append(Stage("pruned, before retraining", accuracy(torch, model, data),
                                "final round's masks, weights not yet retrained"))
        train(torch, model, model.parameters(), data, settings.retrain_epochs, settings.retrain_lr,
              settings.batch_size, gen)
    kept = " / ".join(f"{100 * d:.0f}%" for d in settings.densities)
    stages.append(Stage("pruned + retrained", accuracy(torch, model, data), f"{kept} of weights kept"))
    return model, stages, gen


def run_lenet(
    settings: LeNetSettings | None = None,
    seed: int = 0,
    engine: str = "fast",
    progress: Callable[[str], None] = lambda _: None,
) -> LeNetResult:
    """Train, compress and simulate LeNet-300-100 on the digits; see the module docstring."""
    settings = (settings or LeNetSettings.reduced()).check()
    data = load_digits_split(seed, settings.test_fraction)
    with _deterministic_torch(seed) as torch:
        model, stages, gen = train_and_prune(torch, settings, data, seed, progress)
        imported = layers_from_module(model).layers
        shared = [share_matrix(matrix, settings.weight_bits, has_bias=True) for _, matrix, _ in imported]
        stages.append(Stage(f"{settings.weight_bits}-bit weight sharing", shared_accuracy(torch, shared, data),
                            f"{2 ** settings.weight_bits - 1} shared weights per layer, the bias in its own codebook"))
        progress("fine-tuning centroids")
        finetune_shared(torch, shared, data, settings.finetune_epochs, settings.centroid_lr, settings.batch_size, gen)
        stages.append(Stage("centroids fine-tuned", shared_accuracy(torch, shared, data),
                            "gradients summed per cluster"))

    config = ArchConfig.make(**dict(settings.eie_settings), n_pe=settings.n_pe, weight_bits=settings.weight_bits)
    encoded = [
        compress_layer(layer.matrix(), config, name=name, has_bias=True,
                       activation="relu" if i < len(shared) - 1 else "none")
        for i, (layer, name) in enumerate(zip(shared, LAYER_NAMES))
    ]
    progress(f"running the test images on EIE ({engine} engine)")
    model = CompressedModel(encoded, config, source=f"eiesim lenet, seed {seed}")
    eie, reports, matches = _run_on_eie(model, imported, data, engine, settings)
    bits = ", ".join(f"{name} Q{f['act_frac_bits']}/Q{f['weight_frac_bits']}" for name, f in eie.formats.items())
    n_images = len(eie.latency_us)
    if n_images < len(data.y_test):  # like with like: the float model on the images the chip ran
        stages.append(Stage("centroids fine-tuned, EIE's images", eie.summary()["accuracy"]["float"],
                            f"the float model of the row above on the {n_images} test images run on EIE", n_images))
    stages.append(Stage("EIE fixed point", eie.summary()["accuracy"]["chip"],
                        f"{config.value_bits}-bit dynamic fixed point (activation/weight fraction bits {bits}, "
                        f"from the training images), {n_images} of {len(data.y_test)} test images", n_images))
    storage = {"single stream": storage_of(shared, config.replace(n_pe=1)),
               f"EIE {config.n_pe} PEs": storage_of(shared, config)}
    return LeNetResult(seed, settings, engine, config.clock_mhz, stages, reports, storage, matches, model,
                       eie.summary()["accuracy"]["float"], len(data.y_test))


def _run_on_eie(model: CompressedModel, imported, data: Digits, engine: str, settings):
    """The test images through the whole network on the chip (:func:`eiesim.inference.infer`,
    activation formats calibrated on the training images); the first ``check_images`` are
    checked against the functional model. Returns the inference result, per-layer reports
    and the check."""
    n_images = len(data.y_test) if settings.eie_images is None else min(settings.eie_images, len(data.y_test))
    x = data.x_test[:n_images]
    result = infer(model, x, engine=engine, calibration=data.x_train, labels=data.y_test[:n_images])
    configs = {name: result.config.replace(**f) for name, f in result.formats.items()}

    def functional(layer, a):
        cfg = configs[layer.name]
        return functional_output(layer, prepare_activations(layer, a, cfg), cfg)

    check = min(settings.check_images, n_images)
    matches = bool(np.array_equal(forward(Network(model), x[:check], call=functional), result.outputs[:check]))
    reports = []
    for i, (layer, (_, matrix, _)) in enumerate(zip(model.layers, imported)):
        weights = matrix[:, :-1]
        kept = int(np.count_nonzero(weights))
        reports.append(LayerReport(
            layer.name, layer.shape, weights.size, kept, kept / weights.size, layer.activation,
            float(result.input_density[:, i].mean()), cycles=result.cycles[:, i].tolist(),
            energy_pj=result.energy_pj[:, i].tolist(), real_entries=layer.n_real, filler_entries=layer.n_fillers))
    return result, reports, matches


def export_lenet(result: LeNetResult, folder) -> list[Path]:
    """Write the encoded network and the digits split it was trained and tested on."""
    folder = Path(folder)
    data = load_digits_split(result.seed, result.settings.test_fraction)
    written = [save_model(folder / "lenet.eie", result.model)]
    for name, array in (("test_x", data.x_test), ("test_y", data.y_test), ("train_x", data.x_train)):

        def write(tmp: Path, array=array) -> None:
            with open(tmp, "wb") as f:
                np.save(f, array)

        written.append(write_atomic(folder / f"{name}.npy", write))
    return written


def storage_of(shared: list[SharedMatrix], config: ArchConfig) -> StorageReport:
    """Storage of the shared layers encoded for ``config`` (compressor.report).

    With ``n_pe=1`` and ``accumulators_per_pe`` raised to the tallest layer, every layer is
    one column-major list with one pointer per column: Deep Compression's own layout.
    """
    if config.n_pe == 1:
        config = config.replace(accumulators_per_pe=max(layer.shape[0] for layer in shared))
    layers = [
        layer_storage(layer.interleave(config, name=layer_name), config.ptr_bits, config.value_bits)
        for layer, layer_name in zip(shared, LAYER_NAMES)
    ]
    return StorageReport(tuple(layers), config.weight_bits, config.index_bits, config.ptr_bits, config.value_bits)
