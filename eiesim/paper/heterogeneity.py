"""Where the heterogeneous workload's parameters come from: measured, never tuned.

Two measurements, each a function so that ``eiesim study heterogeneity`` repeats them:

- :func:`measure_fc8`: the EIE authors' real pruned AlexNet fc8 and the input behind EIE
  Table IV's Alex-8 (read in place, never copied, from :func:`fc8_dir`):
  the spread of non-zeros per row and per column, and the input's activation density.
- :func:`measure_lenet`: LeNet-300-100 trained on the digits and pruned Deep-Compression
  style (``workloads.lenet``): the same spreads per layer, and the spread over the test
  images of each layer's input activation density (float forward pass).

``workloads.benchmarks.HETEROGENEOUS`` takes its defaults from these figures; docs/
workloads.md records the measured values and the commands.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from compressor.synthetic import count_spread
from eiecore.errors import EieError
from workloads.digits import load_digits_split
from workloads.lenet import LAYER_NAMES, LeNetSettings, _deterministic_torch, train_and_prune

FC8_ENV = "EIESIM_FC8_DIR"
# Beside the repository: <checkout>/../shared/data/eie_alexnet_fc8.
FC8_BESIDE_REPO = Path(__file__).resolve().parents[3] / "shared" / "data" / "eie_alexnet_fc8"


def fc8_dir() -> Path:
    """Where the EIE authors' fc8 data is read from: ``$EIESIM_FC8_DIR`` when set, else
    ``../shared/data/eie_alexnet_fc8`` beside the repository."""
    return Path(os.environ[FC8_ENV]) if os.environ.get(FC8_ENV) else FC8_BESIDE_REPO


def fc8_available() -> bool:
    return (fc8_dir() / "fc8.npz").is_file()


def load_fc8(folder: Path | None = None) -> dict[str, np.ndarray]:
    """The authors' fc8 arrays (codes, codebook, acts, bias); a clear error when absent."""
    path = Path(folder if folder is not None else fc8_dir()) / "fc8.npz"
    if not path.is_file():
        raise EieError(f"the EIE authors' fc8 data is not at {path} (set {FC8_ENV} to its folder)")
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in ("codes", "codebook", "acts", "bias")}


def measure_fc8(folder: Path | None = None) -> dict[str, float]:
    """Spread of the real fc8's non-zeros (bias column excluded) and its input's density."""
    data = load_fc8(folder)
    rows, cols = np.nonzero(data["codes"])
    acts = data["acts"]
    return {"layer": "AlexNet fc8 (EIE authors' data)",
            **count_spread(rows, cols, data["codes"].shape),
            "act_density": float(np.count_nonzero(acts) / acts.size)}


def measure_lenet(settings=None, seed: int = 0) -> list[dict]:
    """Per layer of the pruned LeNet-300-100: weight spread and input-density spread."""
    settings = (settings or LeNetSettings.full()).check()
    data = load_digits_split(seed, settings.test_fraction)
    with _deterministic_torch(seed) as torch:
        model, stages, _ = train_and_prune(torch, settings, data, seed)
        out = []
        h = torch.from_numpy(data.x_test).float()
        with torch.no_grad():
            for i, name in enumerate(LAYER_NAMES):
                layer = getattr(model, name)
                weight = layer.weight.detach().numpy()
                rows, cols = np.nonzero(weight)
                density = (h != 0).double().mean(dim=1).numpy()  # per input image
                out.append({"layer": f"LeNet-300-100 {name}", **count_spread(rows, cols, weight.shape),
                            "act_density": float(density.mean()),
                            "act_density_cv": float(density.std() / density.mean()),
                            "accuracy": stages[-1].accuracy})
                h = layer(h)
                if i < len(LAYER_NAMES) - 1:
                    h = torch.relu(h)
    return out
