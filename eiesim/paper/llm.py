"""LLM decode on EIE with streamed weights (SPEC §5.2): tokens per second, bytes, energy and
load efficiency per token, over density, pruning method, activation sparsity, PE count and
DRAM bandwidth, against dense INT4 and INT8 weight streams.

Synthetic weights only (``workloads.llm``: i.i.d. N(0, 0.02^2), no real weights). One token
runs every projection of every decoder layer once, at batch 1: a token's cycles, bytes and
energy are the sum over projections of count x the simulated projection, times the decoder
layers (each distinct projection is simulated once per point and token). Attention products,
norms and residual adds run on the host and are not counted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from eiesim.config import ArchConfig
from eiesim.simulation import simulate
from workloads.llm import ACTIVATIONS, MODELS, decode_layer, token_activations

LLM_COLUMNS = ["model", "method", "density", "activations", "n_pe", "dram_GBps", "tokens_per_s", "GB_per_token",
               "mJ_per_token", "dram_mJ_per_token", "load_efficiency", "dram_bound", "int4_tokens_per_s"]
VARIED = ("n_pe", "weights", "dram_bytes_per_cycle")  # the fields llm_study sets itself on its base
NOTE = ("Synthetic weights (i.i.d. normal, pruned by position; no real weights are used). "
        "Attention products, norms and residual adds run on the host and are not counted. "
        "The dense INT4 / INT8 lines stream every weight (no column is skipped for a zero activation).")


def llm_study(model: str, methods, densities, activations, pes, bandwidths, seed: int = 0,
              progress: bool = False, base: ArchConfig = ArchConfig()) -> pd.DataFrame:
    """One row per (method, density, activations, PEs, bandwidth). ``bandwidths`` in bytes per cycle;
    the machine is ``base`` with each PE count, its weights streamed (:data:`VARIED` are the study's own)."""
    from tqdm import tqdm

    spec = MODELS[model]
    plan = [(method, d) for method in methods for d in densities if method != "2:4" or d == 0.5]
    rows = []
    bar = tqdm(total=len(plan) * len(pes), desc=f"llm {spec.name}", disable=not progress)
    for method, density in plan:
        for n_pe in pes:
            machine = base.replace(n_pe=n_pe, weights="streamed")
            rng = np.random.default_rng([seed, n_pe])
            layers = [decode_layer(method, (p.rows, p.cols), density, machine, rng, p.name) for p in spec.projections]
            for kind, zeros in ((a, ACTIVATIONS[a]) for a in activations):
                acts = [token_activations(p.cols, zeros[p.site], rng) for p in spec.projections]
                for bw in bandwidths:
                    config = machine.replace(dram_bytes_per_cycle=bw)
                    runs = [simulate(layer, a, config, outputs=False) for layer, a in zip(layers, acts)]
                    rows.append(_token_row(spec, method, density, kind, config, runs))
            bar.update()
    bar.close()
    return pd.DataFrame(rows, columns=LLM_COLUMNS)


def _token_row(spec, method, density, kind, config: ArchConfig, runs) -> dict:
    scale = [spec.decoder_layers * p.count for p in spec.projections]
    cycles = sum(s * r.cycles for s, r in zip(scale, runs))
    nbytes = sum(s * r.counters.dram_bytes for s, r in zip(scale, runs))
    energy = sum(s * r.energy.primary.total for s, r in zip(scale, runs))
    dram = sum(s * r.energy.primary.per_module["dram"] for s, r in zip(scale, runs))
    busy = sum(s * r.counters.busy_pe_cycles for s, r in zip(scale, runs))
    clock = config.clock_mhz * 1e6
    return {
        "model": spec.name, "method": method, "density": density, "activations": kind, "n_pe": config.n_pe,
        "dram_GBps": config.dram_bytes_per_cycle * clock / 1e9,
        "tokens_per_s": clock / cycles, "GB_per_token": nbytes / 1e9, "mJ_per_token": energy / 1e9,
        "dram_mJ_per_token": dram / 1e9, "load_efficiency": busy / (config.n_pe * cycles),
        # cycles over the channel's lower bound: 1.0 = bandwidth-bound
        "dram_bound": (nbytes / config.dram_bytes_per_cycle) / cycles,
        "int4_tokens_per_s": config.dram_bytes_per_cycle * clock / (spec.weights_per_token * 0.5),
    }


def dense_bytes(model: str) -> dict[str, float]:
    """GB per token of the dense weights streamed as INT4 and as INT8."""
    weights = MODELS[model].weights_per_token
    return {"int4": weights * 0.5 / 1e9, "int8": weights * 1.0 / 1e9}


def break_even(df: pd.DataFrame, model: str) -> pd.DataFrame:
    """Per method, activations and PE count (bytes do not depend on the bandwidth): the density
    at which EIE's bytes per token equal the dense INT4 and INT8 streams', interpolated
    linearly between measured densities (None outside them or with one density)."""
    lines = dense_bytes(model)
    out = []
    for (method, kind, n_pe), group in df.groupby(["method", "activations", "n_pe"]):
        g = group.groupby("density")["GB_per_token"].mean().sort_index()
        d, gb = g.index.to_numpy(float), g.to_numpy()
        row = {"method": method, "activations": kind, "n_pe": n_pe}
        for name, line in lines.items():
            inside = gb.size > 1 and gb.min() <= line <= gb.max()
            row[f"{name}_break_even_density"] = float(np.interp(line, gb, d)) if inside else None
        out.append(row)
    return pd.DataFrame(out)


def stage(s, progress: bool = False):
    """The evaluation's LLM section (``eiesim paper``): the study at the settings' points."""
    from eiesim.paper.report import markdown_table
    from eiesim.paper.stages import StageResult

    df = llm_study(s.llm_model, s.llm_methods, s.llm_densities, s.llm_activations, s.llm_pes, s.llm_bandwidths,
                   s.seed, progress)
    even = break_even(df, s.llm_model)
    dense = dense_bytes(s.llm_model)
    md = "\n\n".join([NOTE, markdown_table(df[LLM_COLUMNS], ".4g"),
                       f"Dense weight streams: INT4 {dense['int4']:.3g} GB per token, INT8 {dense['int8']:.3g} GB "
                       "per token. Break-even density (EIE's bytes per token = the dense stream's; n/a: outside "
                       "the densities run):", markdown_table(even, ".4g")])
    return StageResult({"llm": df, "llm_break_even": even}, md)


CPU_COLUMNS = ["model", "density", "device", "kind", "ms_per_token", "tokens_per_s", "stable", "clock"]


def measured_baseline(model: str, densities, seed: int = 0, repeats: int = 3, warmup: int = 1,
                      progress: bool = False) -> pd.DataFrame:
    """PyTorch ``W @ x`` per token at batch 1 with one thread, W dense (float32) and in CSR, on the
    CPU (and CUDA when present): every projection of the model once per decoder layer, weights
    pruned by magnitude at each density (``workloads.baselines.measure_layer``: thread CPU time,
    weights read cold from DRAM). Every activation is dense: the products skip nothing."""
    import scipy.sparse as sp
    from tqdm import tqdm

    from workloads.baselines import default_devices, measure_layer, require_torch
    from workloads.llm import WEIGHT_STD, kept_positions

    torch = require_torch()
    spec = MODELS[model]
    devices = default_devices()
    previous = torch.get_num_threads()
    rows = []
    try:
        torch.set_num_threads(1)
        for density in tqdm(densities, desc=f"{spec.name} on {', '.join(devices)}", disable=not progress):
            rng = np.random.default_rng([seed, 1])
            total: dict[tuple[str, str], list] = {}
            for p in spec.projections:
                flat = kept_positions("magnitude", (p.rows, p.cols), density, rng)
                weights = sp.csr_matrix((rng.normal(0.0, WEIGHT_STD, flat.size).astype(np.float32),
                                         (flat // p.cols, flat % p.cols)), shape=(p.rows, p.cols))
                frames = token_activations(p.cols, 0.0, rng)[:, None]
                for m in measure_layer(p.name, weights, frames, devices, (1,), repeats, warmup, max_spread=0.5):
                    entry = total.setdefault((m.device, m.kind), [0.0, True, m.clock])
                    entry[0] += spec.decoder_layers * p.count * m.seconds_per_frame
                    entry[1] &= m.stable
            for (device, kind), (seconds, stable, clock) in total.items():
                rows.append({"model": spec.name, "density": density, "device": device, "kind": kind,
                             "ms_per_token": seconds * 1e3, "tokens_per_s": 1.0 / seconds, "stable": stable,
                             "clock": clock})
    finally:
        torch.set_num_threads(previous)
    return pd.DataFrame(rows, columns=CPU_COLUMNS)


def bytes_figure(df: pd.DataFrame, model: str, stem) -> list:
    """Roofline-style: GB per token against density, one panel per PE count, one line per
    method and activations, with the dense INT4 and INT8 streams as horizontal lines (where a
    line crosses INT4 is the break-even density)."""
    from eiesim.paper.style import figure, save

    lines = dense_bytes(model)
    counts = sorted(df["n_pe"].unique())
    with figure(ncols=len(counts)) as (fig, axes):
        axes = np.atleast_1d(axes)
        for ax, n_pe in zip(axes, counts):
            at = df[df["n_pe"] == n_pe].groupby(["method", "activations", "density"], sort=False)["GB_per_token"]
            for (method, kind), group in at.mean().reset_index().groupby(["method", "activations"], sort=False):
                group = group.sort_values("density")
                ax.plot(group["density"], group["GB_per_token"], marker="o", markersize=3, label=f"{method}, {kind}")
            for (name, value), style in zip(lines.items(), ("--", ":")):
                ax.axhline(value, color="k", lw=0.8, ls=style, label=f"dense {name.upper()}")
            ax.set(xlabel="weight density", title=f"{MODELS[model].name}, {n_pe} PEs (synthetic weights)")
        axes[0].set_ylabel("GB per token (streamed)")
        axes[0].legend(fontsize="small")
        return save(fig, stem)
