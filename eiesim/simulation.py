"""The public entry point: validate a layer and its activations, run an engine, report.

Validation happens here, once, for every engine: the layer must match the config, the
activations are checked and converted, and under a ``one-pass`` timing profile a layer of
several row blocks is re-encoded as one block (the engines then see a single pass).
"""

from __future__ import annotations

import math

import numpy as np

from compressor.csc import EncodedLayer, interleave, validate_layer
from eiecore.caches import Cache
from eiecore.encoding import check_same
from eiecore.errors import EieError
from eiecore.validate import as_array
from eiesim.config import MAX_ACCUMULATORS, MAX_ROWS_PER_BLOCK, ArchConfig
from eiesim.energy import energy_report
from eiesim.engines import Observer, get_engine
from eiesim.fit import check_fit
from eiesim.numerics import convert_activations
from eiesim.result import SimResult


def prepare_activations(layer: EncodedLayer, acts, config: ArchConfig) -> np.ndarray:
    """Validate user activations (length K less bias) and convert them, bias appended."""
    if np.ndim(acts) != 1:
        raise EieError(f"activations must be a vector, got shape {np.shape(acts)}")
    a = as_array(acts, "activations", np.float64, 1)
    if a.size != layer.n_inputs:
        raise EieError(
            f"activations have length {a.size} but layer {layer.name or ''} has {layer.n_inputs} inputs"
        )
    if not np.all(np.isfinite(a)):
        raise EieError("activations contain NaN or infinity")
    if layer.has_bias:
        a = np.append(a, 1.0)
    return convert_activations(a, config)


def check_types(layer, config) -> None:
    """A clear error for a layer or config of another type (a dict config, a file name)."""
    if not isinstance(layer, EncodedLayer):
        raise EieError(f"layer must be an EncodedLayer (from compressor.compress_layer or a model's layers), "
                       f"got {type(layer).__name__}")
    if not isinstance(config, ArchConfig):
        raise EieError(f"config must be an ArchConfig (e.g. ArchConfig(**fields)), got {type(config).__name__}")


def check_layer_matches(layer: EncodedLayer, config: ArchConfig) -> None:
    """The layer must be a valid encoding (once per layer object), made for this array's
    N, R and bit widths."""
    validate_layer(layer)
    check_same(layer, config, "config")


_ONE_PASS = Cache("one-pass re-encodings", weak_keys=True)  # EncodedLayer -> its one-block encoding


def one_pass(layer: EncodedLayer, config: ArchConfig) -> tuple[EncodedLayer, ArchConfig]:
    """The layer and config an engine runs under the config's ``row_blocks`` rule.

    ``one-pass`` (SPEC §5.1): every row i at PE i mod N, local row i div N, as if each PE
    had ceil(M / N) accumulators, so a layer of several row blocks is re-encoded (once per
    layer object) with that many. Otherwise, or for a layer of one block, both unchanged.
    """
    if config.rules.row_blocks != "one-pass" or layer.n_blocks == 1:
        return layer, config
    rows = max(1, math.ceil(layer.shape[0] / config.n_pe))
    most = min(MAX_ACCUMULATORS, MAX_ROWS_PER_BLOCK // config.n_pe)
    if rows > most:  # name what the user chose (the timing, N, the layer), not a field they never set
        raise EieError(f"timing {config.timing!r} runs a layer in one pass: layer {layer.name or ''} has "
                       f"{layer.shape[0]} rows, so each of the {config.n_pe} PEs would hold {rows} rows, more "
                       f"than the {most} a simulation holds; use more PEs or a timing that splits row blocks")
    wide = config.replace(accumulators_per_pe=rows)
    single = _ONE_PASS.get(layer)
    if single is None:
        row, col, code = layer.real_entries()
        single = _ONE_PASS[layer] = interleave(
            row, col, code, layer.shape, layer.codebook, wide, name=layer.name,
            has_bias=layer.has_bias, activation=layer.activation, bias_codebook=layer.bias_codebook)
    return single, wide


def simulate(
    layer: EncodedLayer, acts, config: ArchConfig = ArchConfig(), engine: str = "fast",
    energy_table=None, observer: Observer | None = None, outputs: bool = True,
) -> SimResult:
    """Simulate one layer on the PE array: cycles, counters, output and energy.

    ``energy_table``: a TOML file (or loaded table) replacing the built-in event energies.
    ``observer``: receives the schedule of every row block (``eiesim.engines.Observer``).
    ``outputs=False``: timing only; every cycle, counter, metric and energy as with outputs,
    the output is None (sweeps, which store no outputs, run this way).
    """
    check_types(layer, config)
    check_layer_matches(layer, config)
    fit = check_fit(layer, config)
    converted = prepare_activations(layer, acts, config)
    run_layer, run_config = one_pass(layer, config)
    run = get_engine(engine).run(run_layer, converted, run_config, observer, outputs=outputs)
    return SimResult(
        layer=layer.name, engine=engine, n_pe=config.n_pe, queue_depth=config.queue_depth,
        clock_mhz=config.clock_mhz, cycles=run.cycles, counters=run.counters,
        per_pe=run.per_pe, output=run.output, sim_wall_s=run.sim_wall_s,
        block_cycles=run.block_cycles, fit=fit, timing=config.timing, settings=config.settings(),
        energy=energy_report(run.counters, run.per_pe, run.cycles, config, table=energy_table),
    )
