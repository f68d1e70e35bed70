"""The public entry point: validate a layer and its activations, run an engine, report."""

from __future__ import annotations

import numpy as np

from compressor.csc import EncodedLayer
from eiesim.config import ArchConfig
from eiesim.energy import energy_report
from eiesim.engines import get_engine
from eiesim.errors import EieError
from eiesim.fit import check_fit
from eiesim.numerics import convert_activations
from eiesim.result import SimResult


def prepare_activations(layer: EncodedLayer, acts, config: ArchConfig) -> np.ndarray:
    """Validate user activations (length K less bias) and convert them, bias appended."""
    a = np.asarray(acts)
    if a.ndim != 1:
        raise EieError(f"activations must be a vector, got shape {a.shape}")
    if a.size != layer.n_inputs:
        raise EieError(
            f"activations have length {a.size} but layer {layer.name or ''} has {layer.n_inputs} inputs"
        )
    if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        raise EieError(f"activations must be real numbers, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise EieError("activations contain NaN or infinity")
    if layer.has_bias:
        a = np.append(a, 1.0)
    return convert_activations(a, config)


def check_layer_matches(layer: EncodedLayer, config: ArchConfig) -> None:
    """The layer must have been encoded for this array's N, R and bit widths."""
    for field in ("n_pe", "accumulators_per_pe", "index_bits", "weight_bits"):
        have, want = getattr(layer, field), getattr(config, field)
        if have != want:
            raise EieError(f"layer {layer.name or ''} was encoded with {field}={have}, config has {want}")


def simulate(
    layer: EncodedLayer, acts, config: ArchConfig = ArchConfig(), engine: str = "fast",
    energy_table=None,
) -> SimResult:
    """Simulate one layer on the PE array: cycles, counters, output and energy.

    ``energy_table``: a TOML file (or loaded table) replacing the built-in event energies.
    """
    check_layer_matches(layer, config)
    fit = check_fit(layer, config)
    converted = prepare_activations(layer, acts, config)
    run = get_engine(engine)(layer, converted, config)
    return SimResult(
        layer=layer.name, engine=engine, n_pe=config.n_pe, queue_depth=config.queue_depth,
        clock_mhz=config.clock_mhz, cycles=run.cycles, counters=run.counters,
        per_pe=run.per_pe, output=run.output, sim_wall_s=run.sim_wall_s,
        block_cycles=run.block_cycles, fit=fit,
        energy=energy_report(run.counters, run.per_pe, run.cycles, config, table=energy_table),
    )
