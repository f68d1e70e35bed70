"""Lab 5 (energy): the sparse-matrix SRAM width study with a per-access overhead, and the
exercises' answers: the ``*_of`` functions recompute them with the simulator and the
energy model, on the layer drawn for the student (:func:`params`).
"""

from __future__ import annotations

import pandas as pd

from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.energy import dram_counterfactual, load_table, rules
from eiesim.labs.checking import student_params
from eiesim.simulation import simulate
from eiesim.sweep.layers import encode, shared_layer
import workloads.benchmarks  # noqa: F401  (registers the benchmark layers with the sweep)

# What each student's exercises draw from: the seed of the lab's layer (its weights and
# activations) and the wider SRAM of Exercise 2.
CHOICES = {"layer_seed": tuple(range(1, 9)), "wide": (128, 256)}


def params(student_id: str | None):
    """This student's layer seed and SRAM width."""
    return student_params(student_id, 5, CHOICES)


def lab_layer(name: str, config: ArchConfig, seed: int = 0):
    """A benchmark layer or ``synth:MxK:W:A`` encoded for ``config``, and its activations."""
    shared = shared_layer(name, seed, config.weight_bits)
    return encode(shared, config), shared.acts


def _simulate(layer, acts, config):
    return simulate(layer, acts, config)


def read_energy_by_width(layer, acts, config: ArchConfig, widths, fixed_fraction: float = 0.0) -> pd.DataFrame:
    """Sparse-matrix read energy per SRAM width (capacity fixed).

    One read of width w costs E64 x (f + (1 - f) w / 64), E64 the table's 64-bit access of
    the SRAM's capacity: f = 0 is the project's rule (energy linear in width); f > 0 adds
    a width-independent share (decoders, sense amplifiers) as circuit models such as
    CACTI do.
    """
    if not 0.0 <= fixed_fraction < 1.0:
        raise EieError(f"fixed_fraction must lie in [0, 1), got {fixed_fraction}")
    e64 = rules.sram_access(load_table(None, "events"), config.spmat_sram_kb, 64).pj
    rows = []
    for w in widths:
        reads = _simulate(layer, acts, config.replace(spmat_width_bits=w)).counters.spmat_row_reads
        per_read = e64 * (fixed_fraction + (1 - fixed_fraction) * w / 64)
        rows.append({"width_bits": w, "spmat_row_reads": reads, "pj_per_read": per_read,
                     "read_energy_pj": reads * per_read})
    return pd.DataFrame(rows)


def spmat_energy_of(layer, acts, config: ArchConfig) -> float:
    """Exercise 1: total sparse-matrix read energy (pJ) of one run."""
    return _simulate(layer, acts, config).energy.per_module["spmat_read"]


def break_even_fraction_of(layer, acts, config: ArchConfig, narrow: int = 64, wide: int = 128) -> float:
    """Exercise 2: the fixed fraction f at which both widths cost the same read energy.

    With r reads at width w and E(w) = E64 (f + (1 - f) w / 64), solve
    r_n (f + (1 - f) A) = r_w (f + (1 - f) B) for f, where A = n / 64 and B = w / 64.
    """
    df = read_energy_by_width(layer, acts, config, [narrow, wide]).set_index("width_bits")
    r_n, r_w = df.spmat_row_reads[narrow], df.spmat_row_reads[wide]
    a, b = narrow / 64, wide / 64
    return float((r_w * b - r_n * a) / (r_n * (1 - a) - r_w * (1 - b)))


def float32_ratio_of(layer, acts, config: ArchConfig) -> float:
    """Exercise 3: total energy in float32 / total energy in 16-bit fixed point."""
    fixed = _simulate(layer, acts, config.replace(precision="fixed")).energy.total
    return _simulate(layer, acts, config.replace(precision="float32")).energy.total / fixed


def dram_ratio_of(layer, acts, config: ArchConfig) -> float:
    """Exercise 4: DRAM energy of the compressed weights (32-bit accesses) / EIE's energy."""
    streams = {s.stream: s for s in dram_counterfactual(layer, config)}
    return streams["compressed"].pj_32bit / _simulate(layer, acts, config).energy.total
