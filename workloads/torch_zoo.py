"""A zoo of models users bring: plain ``torch.nn``, random initialisation, captured from
``forward()``, pruned, run on the simulated chip at default settings.

Every entry of :data:`ZOO` is a zero-argument factory (usable as ``--torch-module
workloads.torch_zoo:mlp_classifier``) and an example-input maker. :func:`measure` imports
one through :func:`workloads.torch_graph.capture`, prunes every layer to a density by
magnitude, encodes it for the default chip and runs :func:`eiesim.inference.infer` with
the model's own outputs as reference. ``python -m workloads.torch_zoo`` prints the table
of docs/workloads.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from workloads.torch_import import require_torch

torch = None  # bound on first use: torch is imported only when a zoo model is built


def _nn():
    global torch
    torch = require_torch()
    return torch.nn


def mlp_classifier():
    """An MLP classifier: 64 -> 128 -> 64 -> 10 with ReLUs (nn.Sequential)."""
    nn = _nn()
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))


def out_of_order():
    """Layers registered in another order (fc2, fc1, head) than forward() calls them."""
    nn = _nn()

    class OutOfOrder(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc2 = nn.Linear(64, 64)
            self.fc1 = nn.Linear(64, 64)
            self.head = nn.Linear(64, 10)

        def forward(self, x):
            return self.head(torch.relu(self.fc2(torch.relu(self.fc1(x)))))

    torch.manual_seed(0)
    return OutOfOrder()


def reused_module():
    """One hidden layer called twice (weights shared), as in a weight-tied deep MLP."""
    nn = _nn()

    class Reused(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.ModuleDict({"inp": nn.Linear(32, 64), "shared": nn.Linear(64, 64)})
            self.out = nn.Linear(64, 10)

        def forward(self, x):
            h = torch.relu(self.encoder["inp"](x))
            h = torch.relu(self.encoder["shared"](h))
            h = torch.relu(self.encoder["shared"](h))
            return self.out(h)

    torch.manual_seed(0)
    return Reused()


def residual_mlp():
    """A pre-norm residual MLP block, x + fc2(relu(fc1(norm(x)))), then a head."""
    nn = _nn()

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(64)
            self.fc1 = nn.Linear(64, 128)
            self.fc2 = nn.Linear(128, 64)
            self.head = nn.Linear(64, 10)

        def forward(self, x):
            return self.head(x + self.fc2(torch.relu(self.fc1(self.norm(x)))))

    torch.manual_seed(0)
    return Residual()


def transformer_encoder():
    """nn.TransformerEncoderLayer, d_model 256, 4 heads, feed-forward 512, over 4 tokens."""
    nn = _nn()
    torch.manual_seed(0)
    return nn.TransformerEncoderLayer(256, 4, dim_feedforward=512, dropout=0.0, batch_first=True)


def gpt2_block():
    """A GPT-2-style decoder block (pre-norm causal self-attention + GELU MLP) run token by
    token: the keys and values of earlier tokens are kept in a cache (on the host)."""
    nn = _nn()

    class Block(nn.Module):
        def __init__(self, d: int = 64, heads: int = 4):
            super().__init__()
            self.heads = heads
            self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.attn = nn.ModuleDict({"c_attn": nn.Linear(d, 3 * d), "c_proj": nn.Linear(d, d)})
            self.mlp = nn.ModuleDict({"c_fc": nn.Linear(d, 4 * d), "c_proj": nn.Linear(4 * d, d)})

        def forward(self, x):  # (batch, tokens, d)
            batch, tokens, d = x.shape
            hd = d // self.heads
            keys, values, outs = [], [], []
            for t in range(tokens):
                xt = x[:, t]
                q, k, v = self.attn["c_attn"](self.ln_1(xt)).split(d, dim=-1)
                keys.append(k.view(batch, self.heads, hd))
                values.append(v.view(batch, self.heads, hd))
                cache_k, cache_v = torch.stack(keys, 2), torch.stack(values, 2)  # the KV cache
                scores = q.view(batch, self.heads, 1, hd) @ cache_k.transpose(-1, -2) / math.sqrt(hd)
                y = (torch.softmax(scores, -1) @ cache_v).reshape(batch, d)
                h = xt + self.attn["c_proj"](y)
                outs.append(h + self.mlp["c_proj"](nn.functional.gelu(self.mlp["c_fc"](self.ln_2(h)))))
            return torch.stack(outs, 1)

    torch.manual_seed(0)
    return Block()


def lstm_lm():
    """An LSTM language model: embedding (100 x 32), 2-layer LSTM (48), decoder Linear."""
    nn = _nn()

    class LanguageModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(100, 32)
            self.rnn = nn.LSTM(32, 48, num_layers=2, batch_first=True)
            self.decoder = nn.Linear(48, 100)

        def forward(self, tokens):
            out, _ = self.rnn(self.embed(tokens))
            return self.decoder(out)

    torch.manual_seed(0)
    return LanguageModel()


def gru_encoder():
    """A GRU encoder: the final hidden state of a GRU (16 -> 32) through a Linear."""
    nn = _nn()

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(16, 32, batch_first=True)
            self.proj = nn.Linear(32, 8)

        def forward(self, x):
            _, h = self.rnn(x)
            return self.proj(h[-1])

    torch.manual_seed(0)
    return Encoder()


def _normal(*shape):
    return lambda n, seed: np.random.default_rng(seed).standard_normal((n, *shape))


@dataclass(frozen=True)
class ZooEntry:
    factory: Callable
    inputs: Callable[[int, int], np.ndarray]  # (count, seed) -> inputs x (input shape)


ZOO = {
    "MLP classifier": ZooEntry(mlp_classifier, _normal(64)),
    "layers registered out of order": ZooEntry(out_of_order, _normal(64)),
    "module reused twice": ZooEntry(reused_module, _normal(32)),
    "residual MLP block": ZooEntry(residual_mlp, _normal(64)),
    "TransformerEncoderLayer": ZooEntry(transformer_encoder, _normal(4, 256)),
    "GPT-2 block, KV cache": ZooEntry(gpt2_block, _normal(4, 64)),
    "LSTM language model": ZooEntry(lstm_lm, lambda n, seed: np.random.default_rng(seed).integers(0, 100, (n, 5))),
    "GRU encoder": ZooEntry(gru_encoder, _normal(6, 16)),
}


def build(name: str, density: float | None = 0.3, n_inputs: int = 4, seed: int = 0, via: str = "torch.export"):
    """(torch module, its captured network, the compressed model, inputs) of a zoo entry,
    every layer pruned by magnitude to ``density`` (None: not pruned), default chip.
    ``via="onnx"`` exports the module with torch's ONNX exporter and imports that instead;
    ``via="state dict"`` imports its state dict alone (registration order, no activation)."""
    from compressor.csc import compress_layer
    from compressor.prune import magnitude_mask, prune
    from eiesim.config import ArchConfig
    from eiesim.modelfile import CompressedModel
    from workloads.torch_graph import capture

    entry = ZOO[name]
    module = entry.factory()
    x = entry.inputs(n_inputs, seed)
    if via == "state dict":
        from workloads.torch_import import layers_from_state_dict

        network = layers_from_state_dict(module.state_dict())
    else:
        network = capture(module, x) if via == "torch.export" else _via_onnx(module, x)
    config = ArchConfig()
    layers = [compress_layer(w if density is None else prune(w, magnitude_mask(w, density)), config, name=n,
                             has_bias=b, activation=network.activations.get(n, "none"))
              for n, w, b in network.layers]
    metadata = {"network": {"graph": network.graph, "skipped": [], "capture": via} if network.graph else
                {"stages": list(network.stages), "skipped": list(network.skipped)}}
    return module, network, CompressedModel(layers, config, metadata=metadata, host_arrays=network.host_arrays), x


def _via_onnx(module, x: np.ndarray):
    """The module exported to ONNX (torch's TorchScript-based exporter) and imported back."""
    import tempfile
    import warnings

    from workloads.onnx_import import load_onnx

    t = require_torch()
    dtype = np.int64 if np.issubdtype(x.dtype, np.integer) else np.float32
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = f"{folder}/model.onnx"
        t.onnx.export(module.eval(), (t.from_numpy(x[:1].astype(dtype)),), path, dynamo=False)
        return load_onnx(path)


def torch_outputs(module, x: np.ndarray) -> np.ndarray:
    """The module's outputs, one input at a time (a batch of one, as captured)."""
    t = require_torch()
    with t.no_grad():
        dtype = np.int64 if np.issubdtype(x.dtype, np.integer) else np.float32
        return np.stack([module(t.from_numpy(row[None].astype(dtype)))[0].double().numpy() for row in x])


def measure(name: str, density: float | None = 0.3, n_inputs: int = 4, seed: int = 0, via: str = "torch.export") -> dict:
    """One row of the zoo table: layers on the array, host operations, cycles per input,
    and agreement of the chip with the user's model and with the compressed float model."""
    from eiesim.inference import infer

    module, network, model, x = build(name, density, n_inputs, seed, via)
    result = infer(model, x, reference=torch_outputs(module, x), reference_name="the torch model")
    s = result.summary()
    return {"model": name, "import": via, "layers": [layer.name for layer in model.layers],
            "host_ops": sum(s["host_ops_per_input"].values()),
            "cycles_per_input": float(result.total_cycles.mean()),
            "chip_vs_torch": s["vs_reference"]["correlation"], "chip_vs_float": s["vs_float"]["correlation"],
            "float_vs_torch": s["float_vs_reference"]["correlation"]}


def main() -> None:  # pragma: no cover - prints the table of docs/workloads.md
    print("| model | import | layers on the array | host ops / input | cycles / input | chip vs torch model "
          "| chip vs compressed float | compressed float vs torch | same, not pruned |")
    print("|---|---|---|---|---|---|---|---|---|")
    for via, names in (("torch.export", ZOO), ("onnx", ZOO), ("state dict", list(ZOO)[:2])):
        for name in names:
            try:
                r, dense = measure(name, via=via), measure(name, density=None, via=via)
            except Exception as exc:  # the table records why an import path fails (torch's exporter included)
                print(f"| {name} | {via} | fails: {' '.join(str(exc).split())[:150]} | | | | | | |")
                continue
            print(f"| {name} | {r['import']} | {len(r['layers'])}: {', '.join(r['layers'])} | {r['host_ops']:g} | "
                  f"{r['cycles_per_input']:.0f} | {r['chip_vs_torch']:.4f} | {r['chip_vs_float']:.5f} | "
                  f"{r['float_vs_torch']:.4f} | {dense['float_vs_torch']:.4f} |")


if __name__ == "__main__":  # pragma: no cover
    main()
