"""Design studies on the energy side: SRAM width (EIE Fig. 9) and precision (Fig. 10).

- :func:`sram_width_study`: for each sparse-matrix SRAM width, the simulator's
  ``spmat_row_reads`` on the benchmark layers x the energy of one read of that width
  (:func:`eiesim.energy.rules.sram_access`) = the layer's total read energy.
- :func:`precision_energy` (from the table) and :func:`precision_error_study` (the
  functional model's output error of fixed point against float32 on the same quantized
  weights) for the precision trade-off.

All return pandas DataFrames; :mod:`eiesim.paper.figures` draws them (``eiesim energy
--plot-dir``, ``eiesim paper``).
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from eiesim.config import ArchConfig
from eiesim.energy import rules
from eiesim.energy.tables import EnergyTable, load_table
from eiesim.functional import functional_output
from eiesim.numerics import frac_bits_for
from eiesim.simulation import prepare_activations, simulate
from workloads.benchmarks import benchmark_layer, benchmark_names

SRAM_WIDTHS = (16, 32, 64, 128, 256, 512)
# (format, bits, floating): the operand formats EIE Fig. 10 compares.
PRECISION_FORMATS = (("int8", 8, False), ("int16", 16, False), ("int32", 32, False),
                     ("float16", 16, True), ("float32", 32, True))


def sram_width_study(
    layers: Iterable[str] | None = None,
    widths: Sequence[int] = SRAM_WIDTHS,
    config: ArchConfig = ArchConfig(),
    seed: int = 0,
    engine: str = "fast",
    table: "str | EnergyTable | None" = None,
) -> pd.DataFrame:
    """Sparse-matrix read energy per layer and SRAM width (one row each).

    The layers are encoded once (the encoding does not depend on the SRAM width) and
    simulated at each width; capacity stays ``config.spmat_sram_kb``.
    """
    t = load_table(table, "events")
    per_read = {w: rules.sram_access(t, config.spmat_sram_kb, w).pj for w in widths}
    configs = {w: config.replace(spmat_width_bits=w) for w in widths}
    rows = []
    for name in benchmark_names(layers):
        layer, acts = benchmark_layer(name, config, seed)
        for w in widths:
            c = simulate(layer, acts, configs[w], engine=engine).counters
            rows.append({
                "layer": name, "width_bits": w, "entries_per_row": configs[w].entries_per_row,
                "spmat_row_reads": c.spmat_row_reads, "pj_per_read": per_read[w],
                "read_energy_pj": c.spmat_row_reads * per_read[w],
                "pj_per_real_entry": c.spmat_row_reads * per_read[w] / c.real_entries if c.real_entries else 0.0,
            })
    return pd.DataFrame(rows)


def sram_width_summary(study: pd.DataFrame) -> pd.DataFrame:
    """Total read energy over the layers per width, and which width is cheapest."""
    total = study.groupby("width_bits", as_index=False).agg(
        spmat_row_reads=("spmat_row_reads", "sum"), read_energy_pj=("read_energy_pj", "sum"))
    total["relative_to_min"] = total["read_energy_pj"] / total["read_energy_pj"].min()
    total["minimum"] = total["read_energy_pj"] == total["read_energy_pj"].min()
    return total


def precision_energy(table: "str | EnergyTable | None" = None) -> pd.DataFrame:
    """MULT and ADD energy of each operand format, with the rule behind each figure."""
    t = load_table(table, "events")
    rows = []
    for name, bits, floating in PRECISION_FORMATS:
        mult = rules.arithmetic(t, "mult", bits, floating)
        add = rules.arithmetic(t, "add", bits, floating)
        rows.append({"format": name, "bits": bits, "mult_pj": mult.pj, "add_pj": add.pj,
                     "mac_pj": mult.pj + add.pj, "mult_rule": mult.rule, "add_rule": add.rule})
    return pd.DataFrame(rows)


def precision_variants(layer, acts: np.ndarray, config: ArchConfig) -> dict[str, ArchConfig]:
    """Fixed-point formats to compare with float32 on one layer.

    ``fixed16 (paper)`` is the configured 16-bit format; the ``calibrated`` ones choose,
    per layer, the fraction bits whose range just covers the largest value of the codebook
    and the bias codebook (weights: both go through the multiplier) and the largest input
    (the bias input 1.0 included) or pre-activation output (activations and accumulators),
    as a per-layer dynamic-range calibration would.
    """
    f32 = config.replace(precision="float32")
    linear = dataclasses.replace(layer, activation="none")
    inputs = prepare_activations(linear, acts, f32)  # with the bias input 1.0 where the layer has one
    pre_act = functional_output(linear, inputs, f32)
    act_peak = float(max(np.abs(inputs).max(initial=0.0), np.abs(pre_act).max(initial=0.0)))
    tables = [layer.codebook] + ([] if layer.bias_codebook is None else [layer.bias_codebook])
    weight_peak = float(max(np.abs(t).max() for t in tables))
    out = {"fixed16 (paper)": config.replace(precision="fixed", value_bits=16)}
    for bits in (16, 8):
        out[f"fixed{bits} (calibrated)"] = config.replace(
            precision="fixed", value_bits=bits,
            act_frac_bits=frac_bits_for(act_peak, bits),
            weight_frac_bits=frac_bits_for(weight_peak, bits),
        )
    return out


def precision_error_study(
    layers: Iterable[str] | None = None, config: ArchConfig = ArchConfig(), seed: int = 0
) -> pd.DataFrame:
    """Output error of fixed-point formats against float32, same quantized weights."""
    f32 = config.replace(precision="float32")
    rows = []
    for name in benchmark_names(layers):
        layer, acts = benchmark_layer(name, config, seed)
        ref = functional_output(layer, prepare_activations(layer, acts, f32), f32)
        ref_norm = float(np.linalg.norm(ref))
        for label, cfg in precision_variants(layer, acts, config).items():
            out = functional_output(layer, prepare_activations(layer, acts, cfg), cfg)
            err = out - ref
            rows.append({
                "layer": name, "format": label, "value_bits": cfg.value_bits,
                "act_frac_bits": cfg.act_frac_bits, "weight_frac_bits": cfg.weight_frac_bits,
                "relative_error": float(np.linalg.norm(err)) / ref_norm if ref_norm > 0 else 0.0,
                "max_abs_error": float(np.abs(err).max(initial=0.0)),
                "max_abs_output": float(np.abs(ref).max(initial=0.0)),
            })
    return pd.DataFrame(rows)
