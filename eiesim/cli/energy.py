"""``eiesim energy``: the energy and area models, their provenance, and per-layer energy.

Prints the per-event energies derived from the table (with ``--explain``: the rule
behind each, how its count follows from the counters, and how it is shared among PEs),
the EIE Table II model's power and area, and for ``--benchmark`` layers the energy of
both models side by side with the DRAM counterfactual. ``--sram-width-study`` and
``--precision-study`` run the EIE Fig. 9 / Fig. 10 studies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from eiecore.atomic import check_output_folder, check_outputs, filled_folder, json_text, text_writer
from eiesim.cli import SEED, config_fields, config_option
from eiesim.engines import engine_names
from eiesim.timing import PROFILES

if TYPE_CHECKING:
    from eiesim.config import ArchConfig
    from eiesim.energy import EventModel, Table2Model


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--explain", is_flag=True, help="Show every derivation rule, count mapping and per-PE share.")
@click.option("--table", "table_path", metavar="FILE", help="Event energy table (TOML) instead of the built-in Horowitz 45 nm one.")
@click.option("--table2", "table2_path", metavar="FILE", help="EIE Table II power/area table (TOML) instead of the built-in one.")
@click.option("--pes", type=int, help="Number of PEs N [default: 64].")
@click.option("--queue-depth", type=int, help="Activation queue depth D [default: 8].")
@click.option("--timing", type=click.Choice(list(PROFILES)),
              help="Timing rules of the --benchmark runs: spec (SPEC §5) or eie-cpp (the EIE authors' simulator, "
                   "§5.1; its LNZD scan cycles are priced) [default: spec].")
@click.option("--benchmark", "benchmarks", metavar="NAME|all", multiple=True,
              help="Benchmark layer(s) to simulate and price (repeatable; 'all' = the nine).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the benchmark weights and activations.")
@click.option("--engine", type=click.Choice(list(engine_names())), default="fast", show_default=True,
              help="Simulation engine.")
@click.option("--sram-width-study", is_flag=True, help="Sparse-matrix read energy against SRAM width 16..512 bits (EIE Fig. 9), on the --benchmark layers (default all nine).")
@click.option("--precision-study", is_flag=True, help="Arithmetic energy per format and fixed-point error against float32 (EIE Fig. 10), on the --benchmark layers (default all nine).")
@click.option("--plot-dir", metavar="DIR",
              help="Also draw the studies as PNG and SVG figures into DIR (created if missing): "
                   "sram_width.* and precision.*.")
@click.option("--json", "json_out", metavar="OUT", help="Write everything shown as JSON to OUT.")
@config_option
def energy(explain, table_path, table2_path, pes, queue_depth, timing, benchmarks, seed, engine, sram_width_study,
           precision_study, plot_dir, json_out, settings) -> None:
    """Per-event energies with their provenance, and per-layer energy of both models."""
    from eiesim.config import ArchConfig
    from eiesim.energy import EventModel, Table2Model
    from eiesim.paper import figures, studies

    config = ArchConfig.make(**config_fields(settings, n_pe=pes, queue_depth=queue_depth, timing=timing))
    plot_folder = check_output_folder("--plot-dir", plot_dir) if plot_dir is not None else None
    outputs = check_outputs({"--json": json_out}, inputs={"--table": table_path, "--table2": table2_path})
    writers, figures_to_draw = {}, []
    event_model, table2_model = EventModel(table_path), Table2Model(table2_path)
    layers = _layers(benchmarks)
    doc: dict = {"config": config.model_dump(), "settings": config.settings()}

    doc["per_event"] = _show_events(event_model, config, explain)
    doc["table2"] = _show_table2(table2_model, config, explain)
    if layers:
        doc["layers"] = _show_layers(layers, config, seed, engine, event_model, table2_model)
    study_layers = layers or None
    if sram_width_study:
        width = studies.sram_width_study(study_layers, config=config, seed=seed, engine=engine,
                                         table=event_model.table)
        summary = studies.sram_width_summary(width)
        _section("Sparse-matrix SRAM width study (EIE Fig. 9): spmat_row_reads x energy per read")
        click.echo(width.to_string(index=False, float_format="{:.4g}".format))
        click.echo("\nTotal over the layers:")
        click.echo(summary.to_string(index=False, float_format="{:.4g}".format))
        best = summary.loc[summary["minimum"], "width_bits"].tolist()
        click.echo(f"Minimum read energy at {best} bits (per-read energy is linear in width in this model).")
        doc["sram_width_study"] = {"per_layer": width.to_dict("records"), "total": summary.to_dict("records")}
        figures_to_draw.append(lambda folder: figures.sram_width(
            width.rename(columns={"width_bits": "spmat_width_bits"}), folder / "sram_width"))
    if precision_study:
        energy_df = studies.precision_energy(event_model.table)
        errors = studies.precision_error_study(study_layers, config=config, seed=seed)
        _section("Precision study (EIE Fig. 10): arithmetic energy per operand format")
        click.echo(energy_df.drop(columns=["mult_rule", "add_rule"]).to_string(index=False, float_format="{:.4g}".format))
        if explain:
            for row in energy_df.itertuples():
                click.echo(f"  {row.mult_rule}\n  {row.add_rule}")
        _section("Output error of fixed point against float32 (same quantized weights)")
        click.echo(errors.to_string(index=False, float_format="{:.4g}".format))
        doc["precision_study"] = {"energy": energy_df.to_dict("records"), "error": errors.to_dict("records")}
        figures_to_draw.append(lambda folder: figures.precision(energy_df, errors, folder / "precision"))
    if json_out is not None:
        writers["--json"] = text_writer(json_text(doc, default=_json_default))
    outputs.publish(writers)
    for label in writers:
        click.echo(f"wrote {json_out if label == '--json' else label}")
    if plot_folder is not None and figures_to_draw:
        with filled_folder(plot_folder):
            for draw in figures_to_draw:
                click.echo("wrote " + ", ".join(str(p) for p in draw(plot_folder)))


def _layers(names: tuple[str, ...]) -> list[str]:
    from workloads.benchmarks import benchmark_names

    return benchmark_names(names)


def _section(title: str) -> None:
    click.echo(f"\n{title}\n{'-' * len(title)}")


def _show_events(model: EventModel, config: ArchConfig, explain: bool) -> dict:
    import pandas as pd

    from eiesim.energy import EVENTS, UNITS
    from eiesim.energy.events import PLACES, datapath_bits
    from eiesim.energy.rules import sram_access

    t = model.table
    fmt = f"{datapath_bits(config)}-bit {'float' if config.precision == 'float32' else 'fixed point'}"
    _section(f"Per-event energies: {t.name} ({t.source}), N = {config.n_pe}, {fmt}")
    if explain:
        click.echo(f"Source: {t.citation}")
    derived = model.derived(config)
    rows = [{"event": spec.name, "module": spec.unit.name, "pJ": derived[spec.name].pj, "count from": spec.count_rule}
            for spec in EVENTS]
    for unit in UNITS if explain else ():
        click.echo(f"{unit.name} [{unit.label}, {PLACES[unit.where]}]: {unit.citation}")
        for spec in (e for e in EVENTS if e.unit is unit):
            d = derived[spec.name]
            click.echo(f"  {spec.name}: {spec.what}")
            click.echo(f"    energy: {d.rule}")
            click.echo(f"    count:  {spec.count_rule}; per-PE share: {spec.share}")
    if not explain:
        click.echo(pd.DataFrame(rows).to_string(index=False, float_format="{:.4g}".format))
    else:
        click.echo(f"Cross-check: the table lists a 32-bit access of a 32 KB SRAM at {t['sram_32bit_32kb']:g} pJ; "
                   f"the width rule gives {sram_access(t, 32, 32).pj:.4g} pJ. The model uses the rule.")
        click.echo("Per-PE shares: equal = split evenly over the N PEs; real = in proportion to each "
                   "PE's real entries; busy = in proportion to each PE's busy cycles; none = a unit outside "
                   "the PEs, whose energy is reported as its own (outside_pes).")
    return {r["event"]: {"pj": r["pJ"], "module": r["module"], "rule": derived[r["event"]].rule,
                         "count": r["count from"]} for r in rows}


def _show_table2(model: Table2Model, config: ArchConfig, explain: bool) -> dict:
    t = model.table
    area, array_mw = model.area(config), model.array_power_mw(config)
    _section(f"EIE Table II model: {t.name} ({t.source})")
    click.echo(f"{config.n_pe} PEs + {area['lnzd_nodes']} LNZD nodes: {array_mw:.1f} mW at {t['clock']:g} MHz, "
               f"area {area['total_mm2']:.2f} mm^2")
    if explain:
        click.echo(f"Source: {t.citation}")
        click.echo("energy = Table II power x N PEs x cycles / table clock (energy per cycle kept at other "
                   "clocks); LNZD nodes = sum over levels l=1..L of ceil(N/4^l)")
        click.echo(f"PE power: units sum to {model.pe_power_mw:.3f} mW (table total {t['pe_power']:g} mW; the model "
                   "uses the sum so modules add up)")
        by_type = model.power_by_type_mw(config)
        click.echo("array power by type (mW): " + ", ".join(f"{k} {v:.1f}" for k, v in by_type.items()))
        click.echo("area per unit (um^2): " + ", ".join(f"{k} {v:,.0f}" for k, v in area["per_unit_um2"].items()))
    return {"array_power_mw": array_mw, "area": area, "power_by_type_mw": model.power_by_type_mw(config)}


def _show_layers(layers, config, seed, engine, event_model, table2_model) -> list[dict]:
    import pandas as pd

    from eiesim.energy import MODULES, UNITS, dram_counterfactual
    from eiesim.energy.base import Activity
    from eiesim.energy.report import EnergyReport, estimate
    from eiesim.simulation import simulate
    from workloads.benchmarks import benchmark_layer

    rows, dram_rows, out = [], [], []
    for name in layers:
        layer, acts = benchmark_layer(name, config, seed)
        result = simulate(layer, acts, config, engine=engine)
        report: EnergyReport = estimate(
            Activity(result.counters, result.per_pe, result.cycles, config), [event_model, table2_model])
        ev, t2 = report.estimates
        rows.append({
            "layer": name, "cycles": result.cycles, "time_us": result.time_us,
            "event_uJ": ev.total / 1e6, "table2_uJ": t2.total / 1e6,
            "event/table2": report.ratios()["event/table2"], "PEs_uJ": ev.per_pe.sum() / 1e6,
            **{f"{m}_uJ": ev.per_module[m] / 1e6 for m in MODULES},
            "event_mW": ev.avg_power_mw, "table2_mW": t2.avg_power_mw,
            "fits": "yes" if result.fit.fits else "NO",  # an overflowing layer is timed as if it fitted
        })
        dram = dram_counterfactual(layer, config, event_model.table)
        for s in dram:
            dram_rows.append({
                "layer": name, "weights": s.stream, "KB": s.bits / 8192,
                "dram_uJ_32bit": s.pj_32bit / 1e6, "dram_uJ_64bit_low": s.pj_64bit_low / 1e6,
                "dram_uJ_64bit_high": s.pj_64bit_high / 1e6,
                "x_onchip_64bit_low": s.pj_64bit_low / ev.total if ev.total else float("nan"),
                "x_onchip_64bit_high": s.pj_64bit_high / ev.total if ev.total else float("nan"),
            })
        out.append({"layer": name, "cycles": result.cycles, "time_us": result.time_us,
                    "energy_pj": report.to_dict(), "dram": [s.to_dict() for s in dram]})
    outside = ", ".join(u.name for u in UNITS if u.where == "chip")
    _section(f"Per-layer energy at N = {config.n_pe} (engine {engine}, seed {seed}); modules from the event model "
             f"(PEs_uJ: its units in the PEs together; outside the PEs: {outside})")
    click.echo(pd.DataFrame(rows).to_string(index=False, float_format="{:.4g}".format))
    _section("DRAM counterfactual: the weights fetched from DRAM every inference (x_onchip = DRAM / on-chip event energy)")
    click.echo(pd.DataFrame(dram_rows).to_string(index=False, float_format="{:.4g}".format))
    return out


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
