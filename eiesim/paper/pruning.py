"""Co-design studies of pruning on EIE: load-balance-aware pruning, and the
pruning-to-performance ratio (PPR) of each pruning scheme, measured on the simulator.

- :func:`balance_study`: balanced (ESE) against magnitude pruning at equal density on the
  benchmark layers, in both workload modes. Each layer is pruned from a parent twice as
  dense (the benchmark generator at 2 x Table III's density, same mode), so both schemes
  choose from the same weights; inputs are the benchmark's seeded inputs of that mode.
- :func:`ppr_study`: for each layer, a dense parent (normal weights, seeded) is pruned by
  every scheme of ``compressor.prune.SCHEMES`` over a sweep of densities; each result runs
  on the same inputs as the dense layer on the same chip. PPR = (weights / kept) / speedup.
- :func:`lenet_study`: LeNet-300-100 on the digits: fc1 and fc2 pruned by each scheme over
  a density grid and retrained with the masks held; accuracy, EIE cycles on the test
  images, storage; and the equal-accuracy answer (the largest pruning rate of each scheme
  whose accuracy stays within ``margin`` of the dense network's).

Encoding for the benchmark-layer studies uses the linearly initialised codebook (Deep
Compression's k-means start: 2^b - 1 centroids evenly over [min, max], nearest centroid,
no iterations) to keep runtime sane: cycles, fillers, indices and pointers do not depend
on the code values; only the Huffman size of the weight codes does, a little. LeNet uses
the real k-means (``compressor.quantize``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from compressor.csc import EncodedLayer, as_coo, interleave
from compressor.prune import balanced_mask, magnitude_mask, scheme_mask
from compressor.report import layer_storage
from compressor.synthetic import heterogeneous_sparse_weights, random_sparse_weights
from eiecore.errors import EieError
from eiesim.config import ArchConfig

PPR_SCHEMES = ("unstructured", "balanced", "row", "column", "block")
ADMM_NN_S_PPR = 2.7  # Ma et al., "Non-structured DNN weight pruning": the PPR taken from published accelerators
BLOCK = (4, 4)
PARENT_FACTOR = 2.0  # the balance study prunes from a parent this many times denser than the target


def _mask(weights, scheme: str, density: float, n_pe: int) -> np.ndarray:
    return scheme_mask(weights, "magnitude" if scheme == "unstructured" else scheme, density, n_pe=n_pe,
                       block=BLOCK)


def linear_encode(coo: sp.coo_matrix, config: ArchConfig, **layer) -> EncodedLayer:
    """Interleaved CSC with the linearly initialised codebook (see the module docstring)."""
    values = coo.data
    n_codes = 2**config.weight_bits - 1
    codebook = np.zeros(2**config.weight_bits)
    if values.size:
        lo, hi = float(values.min()), float(values.max())
        centroids = np.linspace(lo, hi, n_codes) if hi > lo else np.full(n_codes, lo)
        codebook[1:] = centroids
        step = (hi - lo) / (n_codes - 1) if hi > lo else 1.0
        codes = 1 + np.clip(np.rint((values - lo) / step), 0, n_codes - 1).astype(np.uint8)
    else:
        codes = np.zeros(0, np.uint8)
    return interleave(coo.row, coo.col, codes, coo.shape, codebook, config, **layer)


def run_inputs(layer: EncodedLayer, frames: np.ndarray, config: ArchConfig) -> dict[str, float]:
    """Mean over the input frames (columns of ``frames``) of cycles, energy and balance metrics."""
    from eiesim.simulation import simulate

    runs = [simulate(layer, frames[:, i], config, engine="fast") for i in range(frames.shape[1])]
    metric = lambda key: float(np.mean([r.metrics[key] for r in runs]))  # noqa: E731
    return {"cycles": float(np.mean([r.cycles for r in runs])),
            "energy_uj": float(np.mean([r.energy.total for r in runs])) / 1e6,
            "load_efficiency": metric("load_efficiency"), "imbalance": metric("imbalance"),
            "useful_efficiency": metric("useful_efficiency")}


def _progress(progress, total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="run", disable=not progress, leave=False)


# --- balanced vs magnitude -------------------------------------------------------------

def balance_study(layers, modes=("uniform", "heterogeneous"), n_pe: int = 64, inputs: int = 3, seed: int = 0,
                  groups=(None, 1), progress: bool = True, base: ArchConfig = ArchConfig()) -> pd.DataFrame:
    """Balanced (whole layer and per ``groups`` of columns) against magnitude pruning at the
    same kept count, per layer and workload mode (see the module docstring), on ``base`` with
    ``n_pe`` PEs."""
    from workloads.benchmarks import BENCHMARKS, benchmark_activation_batch, get_benchmark, make_workload

    config = base.replace(n_pe=n_pe)
    names = [get_benchmark(n).name for n in layers]
    for name in names:  # fail before any work
        bench = BENCHMARKS[name]
        for group in groups:
            if group is not None and (group < 1 or bench.inputs % group):
                raise EieError(f"column group {group} does not divide {name}'s {bench.inputs} columns")
        if bench.outputs < n_pe:
            raise EieError(f"balanced pruning needs at least one row per PE: {name} has {bench.outputs} rows")
    rows = []
    bar = _progress(progress, len(names) * len(modes), "balance")
    for name in names:
        bench = BENCHMARKS[name]
        index = list(BENCHMARKS).index(name)
        for mode in modes:
            bar.set_postfix_str(f"{name} {mode}")
            workload = make_workload(mode)
            rng = np.random.default_rng(np.random.SeedSequence([seed, index, 16]))
            parent_density = min(1.0, PARENT_FACTOR * bench.weight_density)
            shape = (bench.outputs, bench.inputs)
            if mode == "uniform":
                parent = random_sparse_weights(shape, parent_density, rng)
            else:
                parent = heterogeneous_sparse_weights(shape, parent_density, workload.row_cv, workload.col_cv, rng)
            frames = benchmark_activation_batch(name, inputs, seed, workload)
            layer_args = dict(name=name, has_bias=bench.has_bias, activation=bench.activation)
            magnitude_done: dict[int, dict] = {}
            for group in groups:
                kept_mask = balanced_mask(parent, bench.weight_density, n_pe, group)
                kept = int(kept_mask.sum())
                if kept not in magnitude_done:
                    mag = _pruned(parent, magnitude_mask(parent, kept / parent.shape[0] / parent.shape[1]))
                    magnitude_done[kept] = run_inputs(linear_encode(mag, config, **layer_args), frames, config)
                    rows.append(_balance_row(name, mode, "magnitude", None, kept, shape, mag, magnitude_done[kept],
                                             magnitude_done[kept], config.clock_mhz))
                bal = _pruned(parent, kept_mask)
                result = run_inputs(linear_encode(bal, config, **layer_args), frames, config)
                rows.append(_balance_row(name, mode, "balanced", group or shape[1], kept, shape, bal, result,
                                         magnitude_done[kept], config.clock_mhz))
            bar.update(1)
    bar.close()
    df = pd.DataFrame(rows)
    df["group"] = df["group"].astype("Int64")  # columns per balanced share; <NA> for magnitude
    return df


def _pruned(parent: sp.coo_matrix, mask: np.ndarray) -> sp.coo_matrix:
    keep = mask[parent.row, parent.col]
    coo = sp.coo_matrix((parent.data[keep], (parent.row[keep], parent.col[keep])), shape=parent.shape)
    coo.has_canonical_format = True
    return coo


def _balance_row(name, mode, scheme, group, kept, shape, coo, result, magnitude, clock_mhz: float) -> dict:
    from compressor.synthetic import count_spread

    spread = count_spread(coo.row, coo.col, shape)
    return {"layer": name, "workload": mode, "scheme": scheme, "group": group, "kept": kept,
            "density": kept / (shape[0] * shape[1]), "row_cv": spread["row_cv"], **result,
            "time_us": result["cycles"] / clock_mhz, "speedup_vs_magnitude": magnitude["cycles"] / result["cycles"]}


# --- PPR on the benchmark layers --------------------------------------------------------

def ppr_study(layers, densities, n_pe: int = 64, inputs: int = 2, seed: int = 0, schemes=PPR_SCHEMES,
              progress: bool = True, base: ArchConfig = ArchConfig()) -> pd.DataFrame:
    """Every scheme x density on each layer's dense parent, against the dense layer, on ``base``
    with ``n_pe`` PEs."""
    from workloads.benchmarks import BENCHMARKS, benchmark_activation_batch, get_benchmark

    for d in densities:
        if not 0.0 < d < 1.0:
            raise EieError(f"pruning densities must lie strictly between 0 and 1, got {d}")
    for s in schemes:
        if s not in PPR_SCHEMES:
            raise EieError(f"scheme must be one of {', '.join(PPR_SCHEMES)}, got {s!r}")
    config = base.replace(n_pe=n_pe)
    names = [get_benchmark(n).name for n in layers]
    rows = []
    bar = _progress(progress, len(names) * (1 + len(schemes) * len(densities)), "ppr")
    for name in names:
        bench = BENCHMARKS[name]
        index = list(BENCHMARKS).index(name)
        rng = np.random.default_rng(np.random.SeedSequence([seed, index, 27]))
        dense = rng.normal(0.0, 0.05, size=(bench.outputs, bench.inputs)).astype(np.float32)
        dense[dense == 0] = 0.05
        frames = benchmark_activation_batch(name, inputs, seed)
        layer_args = dict(name=name, has_bias=bench.has_bias, activation=bench.activation)
        bar.set_postfix_str(f"{name} dense")
        base = _ppr_point(as_coo(dense), frames, config, layer_args)
        bar.update(1)
        rows.append({"layer": name, "scheme": "dense", "target_density": 1.0, **base,
                     "pruning_rate": 1.0, "speedup": 1.0, "ppr": 1.0})
        for scheme in schemes:
            for d in densities:
                bar.set_postfix_str(f"{name} {scheme} {d:g}")
                try:
                    mask = _mask(dense, scheme, d, n_pe)
                    if not mask.any():
                        raise EieError(f"density {d:g} keeps no weight of the {bench.outputs} x {bench.inputs} layer")
                except EieError as exc:  # e.g. balanced asks more than a PE's share holds
                    rows.append({"layer": name, "scheme": scheme, "target_density": d, "note": str(exc)})
                    bar.update(1)
                    continue
                pruned = as_coo(np.where(mask, dense, 0.0))
                point = _ppr_point(pruned, frames, config, layer_args)
                rate = dense.size / point["kept"]
                speedup = base["cycles"] / point["cycles"]
                rows.append({"layer": name, "scheme": scheme, "target_density": d, **point,
                             "pruning_rate": rate, "speedup": speedup, "ppr": rate / speedup})
                bar.update(1)
        del dense
    bar.close()
    return pd.DataFrame(rows)


def _ppr_point(coo: sp.coo_matrix, frames, config: ArchConfig, layer_args) -> dict:
    layer = linear_encode(coo, config, **layer_args)
    storage = layer_storage(layer, config.ptr_bits, config.value_bits)
    return {"kept": int(coo.nnz), "density": coo.nnz / (coo.shape[0] * coo.shape[1]),
            **run_inputs(layer, frames, config),
            "weights_bits": storage.weights_bits, "indices_bits": storage.indices_bits,
            "filler_entries": storage.fillers, "pointers_bits": storage.pointers_bits,
            "storage_bits": storage.total_bits, "storage_huffman_bits": storage.total_huffman_bits}


# --- LeNet-300-100 at equal accuracy ----------------------------------------------------

@dataclass(frozen=True)
class LeNetPruning:
    densities: tuple[float, ...] = (0.03, 0.05, 0.08, 0.12, 0.2, 0.3, 0.5)
    retrain_epochs: int = 10
    margin: float = 0.01  # accuracy may fall this much below the dense network's
    images: int = 20  # test images run on EIE per point
    n_pe: int = 64
    dense_epochs: int = 40

    @classmethod
    def quick(cls) -> "LeNetPruning":
        return cls(densities=(0.05, 0.1, 0.2, 0.4), retrain_epochs=4, images=8, dense_epochs=20)


def lenet_study(settings: LeNetPruning = LeNetPruning(), seed: int = 0, schemes=PPR_SCHEMES,
                progress: bool = True, base: ArchConfig = ArchConfig()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """fc1 and fc2 of LeNet-300-100 pruned by each scheme and retrained; fc3 stays dense; EIE is
    ``base`` with ``settings.n_pe`` PEs.

    Returns (every point, the equal-accuracy choice per scheme). Cycles, energy, load
    efficiency and storage are for fc1 + fc2 on EIE over the first ``images`` test images,
    each layer fed the float network's own activations; the speedup is against the dense
    fc1 + fc2 on the same activations.
    """
    import copy

    from compressor.csc import compress_layer
    from compressor.prune import apply_mask_to_torch
    from workloads.digits import load_digits_split
    from workloads.lenet import _deterministic_torch, accuracy, build_mlp, train

    config = base.replace(n_pe=settings.n_pe)
    data = load_digits_split(seed)
    rows = []
    bar = _progress(progress, 1 + len(schemes) * len(settings.densities), "lenet")
    with _deterministic_torch(seed) as torch:
        gen = torch.Generator().manual_seed(seed)
        dense = build_mlp(data.n_inputs, (300, 100))
        train(torch, dense, dense.parameters(), data, settings.dense_epochs, 1e-3, 64, gen)
        dense_acc = accuracy(torch, dense, data)
        x = data.x_test[: settings.images]

        def measure(model) -> dict:
            with torch.no_grad():
                w1, w2 = (getattr(model, n).weight.detach().double().numpy() for n in ("fc1", "fc2"))
                h1 = torch.relu(model.fc1(torch.from_numpy(x).float())).double().numpy()
            layers = [compress_layer(w, config, name=n) for w, n in ((w1, "fc1"), (w2, "fc2"))]
            runs = [run_inputs(layer, a.T, config) for layer, a in zip(layers, (x, h1))]
            storage = [layer_storage(layer, config.ptr_bits, config.value_bits) for layer in layers]
            return {"kept": int(np.count_nonzero(w1) + np.count_nonzero(w2)), "weights": w1.size + w2.size,
                    "cycles": sum(r["cycles"] for r in runs), "energy_uj": sum(r["energy_uj"] for r in runs),
                    "load_efficiency_fc1": runs[0]["load_efficiency"], "load_efficiency_fc2": runs[1]["load_efficiency"],
                    "imbalance_fc1": runs[0]["imbalance"], "imbalance_fc2": runs[1]["imbalance"],
                    "storage_bits": sum(s.total_bits for s in storage),
                    "storage_huffman_bits": sum(s.total_huffman_bits for s in storage)}

        base = measure(dense)
        rows.append({"scheme": "dense", "target_density": 1.0, "accuracy": dense_acc, **base})
        bar.update(1)
        for scheme in schemes:
            for d in settings.densities:
                bar.set_postfix_str(f"{scheme} {d:g}")
                model = copy.deepcopy(dense)
                try:
                    for name in ("fc1", "fc2"):
                        layer = getattr(model, name)
                        apply_mask_to_torch(layer, _mask(layer.weight.detach().double().numpy(), scheme, d,
                                                         settings.n_pe))
                except EieError as exc:
                    rows.append({"scheme": scheme, "target_density": d, "note": str(exc)})
                    bar.update(1)
                    continue
                train(torch, model, model.parameters(), data, settings.retrain_epochs, 5e-4, 64, gen)
                rows.append({"scheme": scheme, "target_density": d, "accuracy": accuracy(torch, model, data),
                             **measure(model)})
                bar.update(1)
    bar.close()
    points = pd.DataFrame(rows)
    points["pruning_rate"] = points["weights"] / points["kept"]
    points["speedup"] = base["cycles"] / points["cycles"]
    points["ppr"] = points["pruning_rate"] / points["speedup"]
    return points, equal_accuracy(points, dense_acc - settings.margin)


def equal_accuracy(points: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per scheme, the point of largest pruning rate whose accuracy reaches ``target``."""
    chosen = []
    for scheme, group in points[points["scheme"] != "dense"].groupby("scheme", sort=False):
        ok = group[group["accuracy"] >= target]
        if len(ok):
            chosen.append(ok.loc[ok["pruning_rate"].idxmax()].to_dict() | {"reaches_target": True})
        else:
            chosen.append(group.loc[group["accuracy"].idxmax()].to_dict() | {"reaches_target": False})
    table = pd.DataFrame(chosen)
    table["target_accuracy"] = target
    unstructured = table.set_index("scheme")["pruning_rate"].get("unstructured")
    if unstructured is not None:
        table["unstructured_rate_over_this"] = unstructured / table["pruning_rate"]
    return table


# --- figures and report -----------------------------------------------------------------

def speedup_figure(points: pd.DataFrame, stem) -> list:
    """Speedup over the dense layer against the pruning rate, one panel per layer, one line
    per scheme; the ideal (speedup = rate) and ADMM-NN-S's PPR 2.7 as references."""
    from eiesim.paper.style import figure, save

    data = points[points["scheme"] != "dense"].dropna(subset=["speedup"])
    layers = list(dict.fromkeys(data["layer"]))
    with figure(ncols=len(layers)) as (fig, axes):
        axes = np.atleast_1d(axes)
        for ax, layer in zip(axes, layers):
            at = data[data["layer"] == layer]
            for scheme, group in at.groupby("scheme", sort=False):
                group = group.sort_values("pruning_rate")
                ax.plot(group["pruning_rate"], group["speedup"], marker="o", markersize=3, label=scheme)
            rates = np.array([1.0, at["pruning_rate"].max()])
            ax.plot(rates, rates, color="k", lw=0.8, ls="--", label="speedup = rate")
            ax.plot(rates, rates / ADMM_NN_S_PPR, color="k", lw=0.8, ls=":", label=f"PPR {ADMM_NN_S_PPR}")
            ax.set(xscale="log", yscale="log", xlabel="pruning rate (weights / kept)", title=layer)
        axes[0].set_ylabel("EIE speedup over dense")
        axes[0].legend()
        return save(fig, stem)


def storage_accuracy_figure(points: pd.DataFrame, stem) -> list:
    """LeNet fc1 + fc2: EIE storage (Huffman) against test accuracy, one line per scheme."""
    from eiesim.paper.style import figure, save

    data = points.dropna(subset=["accuracy"])
    with figure() as (fig, ax):
        for scheme, group in data[data["scheme"] != "dense"].groupby("scheme", sort=False):
            group = group.sort_values("storage_huffman_bits")
            ax.plot(group["storage_huffman_bits"] / 8192, group["accuracy"], marker="o", markersize=3, label=scheme)
        dense = data[data["scheme"] == "dense"]
        ax.scatter(dense["storage_huffman_bits"] / 8192, dense["accuracy"], color="k", marker="*", label="dense")
        ax.set(xscale="log", xlabel="EIE storage of fc1 + fc2, Huffman (KB)", ylabel="test accuracy",
               title="LeNet-300-100: storage vs accuracy")
        ax.legend()
        return save(fig, stem)


PPR_COLUMNS = ["layer", "scheme", "target_density", "density", "pruning_rate", "cycles", "speedup", "ppr",
               "energy_uj", "load_efficiency", "storage_bits", "storage_huffman_bits", "filler_entries"]
BALANCE_COLUMNS = ["layer", "workload", "scheme", "group", "density", "row_cv", "cycles", "load_efficiency",
                   "imbalance", "speedup_vs_magnitude"]
LENET_COLUMNS = ["scheme", "target_density", "pruning_rate", "accuracy", "cycles", "speedup", "ppr", "energy_uj",
                 "load_efficiency_fc1", "load_efficiency_fc2", "imbalance_fc1", "imbalance_fc2",
                 "storage_huffman_bits"]


def lenet_answer(chosen: pd.DataFrame, settings: LeNetPruning | None = None, seed: int = 0) -> str:
    """EIE's answer to ADMM-NN-S's question at equal accuracy, from the chosen points,
    naming the workload it comes from (``settings``: the study's)."""
    by = chosen.set_index("scheme")
    if "unstructured" not in by.index:
        return "No unstructured point: no answer."
    u = by.loc["unstructured"]
    parts = []
    for scheme in by.index:
        if scheme == "unstructured":
            continue
        s = by.loc[scheme]
        missed = "" if s["reaches_target"] else ", never reaches the target: its most accurate point"
        parts.append(f"{scheme}: rate {s['pruning_rate']:.1f}x, speedup {s['speedup']:.2f}x{missed}; "
                     f"unstructured reaches {u['pruning_rate'] / s['pruning_rate']:.2f}x its rate and "
                     f"{u['speedup'] / s['speedup']:.2f}x its speedup")
    target = float(chosen["target_accuracy"].iloc[0])
    workload = ("LeNet-300-100 on the 8 x 8 digits, fc1 and fc2 pruned and retrained (tiny layers: a few rows "
                "per PE, and every PE pays a pointer-read cycle per column)")
    if settings is not None:
        workload += (f"; {settings.n_pe} PEs, {settings.dense_epochs} dense and {settings.retrain_epochs} retraining epochs, seed {seed}, "
                     f"cycles over {settings.images} test images, accuracy over the whole test split")
    return (f"On {workload}: at equal accuracy (test accuracy >= {target:.3f}), unstructured pruning reaches {u['pruning_rate']:.1f}x "
            f"with EIE speedup {u['speedup']:.2f}x: EIE's measured PPR is {u['ppr']:.2f}, against the "
            f"{ADMM_NN_S_PPR} that ADMM-NN-S takes from published accelerators. " + "; ".join(parts) + ". "
            "On EIE, unstructured pruning is worth it against a scheme when it is faster at equal accuracy "
            "(its speedup ratio above 1).")


def stage(settings, progress: bool = True):
    """The paper's pruning section: balanced vs magnitude, the PPR sweep, LeNet at equal accuracy."""
    from eiesim.paper.report import markdown_table
    from eiesim.paper.stages import StageResult

    balance = balance_study(settings.ppr_layers, seed=settings.seed, inputs=settings.ppr_inputs, progress=progress)
    points = ppr_study(settings.ppr_layers, settings.ppr_densities, inputs=settings.ppr_inputs, seed=settings.seed,
                       progress=progress)
    lenet_points, chosen = lenet_study(settings.ppr_lenet, settings.seed, progress=progress)
    md = "\n".join([
        "Balanced (ESE load-balance-aware) against magnitude pruning at the same kept count, both workload modes "
        f"(`group` = columns per balanced share; K = whole layer); cycles are means over {settings.ppr_inputs} "
        f"input(s) per layer, seed {settings.seed}. Data: `data/balance.parquet`.", "",
        markdown_table(balance[BALANCE_COLUMNS], ".4g"), "",
        "Pruning rate sweep on dense parents (normal weights): EIE cycles, energy, storage (weights + indices + "
        "fillers + pointers + codebook, fixed width and Huffman), speedup over the dense layer on the same inputs, "
        f"PPR = rate / speedup; {settings.ppr_inputs} input(s) per layer, seed {settings.seed}. Data: "
        "`data/ppr.parquet`.", "",
        markdown_table(points[[c for c in PPR_COLUMNS if c in points]], ".4g"), "",
        "LeNet-300-100 on the digits, fc1 and fc2 pruned by each scheme and retrained (fc3 dense); cycles and "
        "storage of fc1 + fc2 on EIE. Data: `data/ppr_lenet.parquet`, `data/ppr_lenet_equal_accuracy.parquet`.", "",
        markdown_table(lenet_points[[c for c in LENET_COLUMNS if c in lenet_points]], ".4g"), "",
        "Equal accuracy (largest rate per scheme within the margin of the dense accuracy):", "",
        markdown_table(chosen[[c for c in LENET_COLUMNS + ["reaches_target"] if c in chosen]], ".4g"), "",
        lenet_answer(chosen, settings.ppr_lenet, settings.seed)])
    return StageResult({"balance": balance, "ppr": points, "ppr_lenet": lenet_points,
                        "ppr_lenet_equal_accuracy": chosen}, md)
