"""AlexNet's classifier chain as a plain ``torch.nn`` model, pruned to EIE Table III densities.

The layers of torchvision's AlexNet classifier (Dropout, Linear 9216 -> 4096, ReLU, Dropout,
Linear 4096 -> 4096, ReLU, Linear 4096 -> 1000) with torch's default initialisation, each
Linear pruned with ``torch.nn.utils.prune.l1_unstructured`` to 9 / 9 / 25 % of its weights
(Alex-6/7/8). torchvision is not needed. Inputs are uniform in [0, 1), like post-ReLU
features. Writes what ``eiesim compress`` and ``eiesim infer`` take::

    python -m workloads.alexnet_classifier OUT_DIR --inputs 100 --seed 0
    eiesim compress --state-dict OUT_DIR/alexnet_fc.pt --activation relu,relu,none --out alex.eie
    eiesim infer --model alex.eie --inputs OUT_DIR/x.npy --reference OUT_DIR/torch_y.npy
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from workloads.torch_import import require_torch

DENSITIES = (0.09, 0.09, 0.25)  # EIE Table III: Alex-6, Alex-7, Alex-8


def pruned_classifier(seed: int = 0, widths=(9216, 4096, 4096, 1000)):
    """The classifier, default-initialised from ``seed`` and pruned (masks installed), in eval mode."""
    torch = require_torch()
    from torch import nn
    from torch.nn.utils import prune

    torch.manual_seed(seed)
    k0, k1, k2, k3 = widths
    net = nn.Sequential(nn.Dropout(), nn.Linear(k0, k1), nn.ReLU(), nn.Dropout(), nn.Linear(k1, k2), nn.ReLU(),
                        nn.Linear(k2, k3))
    for layer, density in zip((net[1], net[4], net[6]), DENSITIES):
        prune.l1_unstructured(layer, "weight", amount=1.0 - density)
    return net.eval()


def write_workload(folder: Path, n_inputs: int, seed: int = 0) -> list[Path]:
    """State dict, inputs and torch's float32 outputs for ``n_inputs`` uniform inputs."""
    torch = require_torch()
    net = pruned_classifier(seed)
    x = torch.rand(n_inputs, net[1].in_features, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        y = net(x)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "alexnet_fc.pt", folder / "x.npy", folder / "torch_y.npy"]
    torch.save(net.state_dict(), paths[0])
    np.save(paths[1], x.double().numpy())
    np.save(paths[2], y.double().numpy())
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write alexnet_fc.pt, x.npy and torch_y.npy into")
    parser.add_argument("--inputs", type=int, default=100, help="number of random inputs (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and inputs (default 0)")
    args = parser.parse_args(argv)
    for path in write_workload(args.out, args.inputs, args.seed):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
