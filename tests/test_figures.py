"""Every evaluation figure: PNG and SVG, no overlapping texts once the layout engine has
run, legends outside the axes, one number format, SI units."""

import warnings

import numpy as np
import pandas as pd
import pytest

from eiesim.paper import figures, style

LAYERS = ["Alex-6", "Alex-7", "Alex-8", "VGG-6", "VGG-7", "VGG-8", "NT-We", "NT-Wd", "NT-LSTM"]
POW2 = [1, 2, 4, 8, 16, 32, 64, 128, 256]


@pytest.fixture
def checked(monkeypatch):
    """Figures saved through ``style.save``, each checked for text collisions and for a
    legend that does not cover its axes."""
    found = {}
    real = style.save

    def save(fig, stem):
        paths = real(fig, stem)  # as saved: tick formats set, layout engine run
        found[str(stem)] = style.text_collisions(fig)
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            legend = ax.get_legend()
            if legend is not None:
                assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer)), stem
        return paths

    monkeypatch.setattr(figures, "save", save)
    return found


def pe_frame():
    rows = []
    for i, layer in enumerate(LAYERS):
        for n in POW2:
            # Three layers coincide exactly: the test of distinguishable series.
            eff = 0.9 if i < 3 else 0.95 - 0.02 * i - 0.01 * np.log2(n)
            rows.append({"layer": layer, "n_pe": n, "queue_depth": 8, "cycles": int(1e6 / n / eff),
                         "load_efficiency": eff, "real_work_fraction": eff - 0.05, "real_entries": 1000,
                         "filler_entries": 10, "empty_columns": 5, "imbalance": 1.05,
                         "speedup_base_n_pe": 1, "speedup": n * eff / 0.95})
    return pd.DataFrame(rows)


def draw_all(tmp_path):
    pe = pe_frame()
    out = []
    out += figures.queue_depth(pe.rename(columns={"n_pe": "x"}).assign(n_pe=64, queue_depth=pe["n_pe"]),
                               tmp_path / "fig08")
    out += figures.pe_speedup(pe, tmp_path / "fig11")
    out += figures.real_work(pe, tmp_path / "fig12")
    out += figures.load_balance(pe, tmp_path / "fig13")
    out += figures.pe_queue_map(pe.assign(queue_depth=pe["n_pe"] % 7 + 1), tmp_path / "map")
    sram = pd.DataFrame([{"layer": layer, "spmat_width_bits": w, "spmat_row_reads": 1e6 / w * 64,
                          "read_energy_pj": 3e5 * (1 + w / 512)} for layer in LAYERS for w in (16, 32, 64, 128, 256, 512)])
    out += figures.sram_width(sram, tmp_path / "fig09")
    energy = pd.DataFrame({"format": ["fixed8", "fixed16", "fixed32", "float16", "float32"],
                           "mac_pj": [0.2, 0.5, 3.2, 1.5, 4.6]})
    errors = pd.DataFrame([{"layer": layer, "format": f, "relative_error": 10.0 ** -(2 + j)}
                           for layer in LAYERS[:5] for j, f in enumerate(["fixed8", "fixed16 (paper)", "fixed16 calibrated"])])
    out += figures.precision(energy, errors, tmp_path / "fig10")
    per_pe = pd.DataFrame({"layer": "NT-We", "pe": range(64), "busy": np.linspace(5000, 5400, 64),
                           "starved": np.linspace(600, 200, 64), "real": 100, "cycles": 5915})
    out += figures.per_pe(per_pe, tmp_path / "per_pe")
    bars = pd.DataFrame([{"layer": layer, "platform": p, "speedup": v}
                         for layer in LAYERS + ["geomean"]
                         for p, v in (("cpu-dense-b1", 1.0), ("cpu-sparse-b1", 0.76), ("cpu-dense-b64", 12.3),
                                      ("cpu-sparse-b64", 3.4), ("eie-64pe", 988.0 if layer != "VGG-6" else 1170.0))])
    out += figures.speedup_bars(bars, "speedup", tmp_path / "fig06", "speedup over CPU dense (batch 1)", "Speedup")
    return out


def test_every_figure_is_png_and_svg_without_collisions(tmp_path, checked):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the layout engine warns when it cannot place everything
        paths = draw_all(tmp_path)
    stems = {p.with_suffix("") for p in paths}
    assert len(stems) == 9 and all(p.with_suffix(s).stat().st_size > 0 for p in stems for s in (".png", ".svg"))
    assert {stem: hits for stem, hits in checked.items() if hits} == {}


def test_labels_use_one_number_format_and_si_units(tmp_path):
    draw_all(tmp_path)
    fig6 = (tmp_path / "fig06.svg").read_text()
    assert "1,170" in fig6 and "988" in fig6 and "e+0" not in fig6
    assert "µJ" in (tmp_path / "fig09.svg").read_text() and " uJ" not in (tmp_path / "fig09.svg").read_text()
    assert [style.number(v) for v in (0.7623, 35.44, 988, 1170, 9.996, 99.96, 256)] == [
        "0.762", "35.4", "988", "1,170", "10.0", "100", "256"]


def test_coinciding_series_get_different_markers_and_dashes():
    styles = [style.series_style(i, 9) for i in range(9)]
    assert len({s["marker"] for s in styles}) == 9
    assert styles[0]["linestyle"] != styles[1]["linestyle"] and styles[0]["markersize"] > styles[8]["markersize"]


def test_the_collision_check_finds_overlapping_texts():
    with style.figure() as (fig, ax):
        ax.set_title("a long title over the axes")
        ax.annotate("a label pushed into the title", (0.5, 1.0), xycoords="axes fraction", ha="center",
                    va="bottom", xytext=(0, 3), textcoords="offset points")
        ax.set_xlim(0, 10)
        ax.text(5, 0.5, "here"), ax.text(5.05, 0.5, "there")
        hits = style.text_collisions(fig)
    assert ("here", "there") in hits
    assert any("title" in a and "label" in b or "label" in a and "title" in b for a, b in hits)


def test_fig6_marks_the_layers_left_out_of_the_geometric_mean(tmp_path, checked):
    """VGG-6's reference timing is unstable (every bar of it left out), NT-We's CPU CSR
    timing alone: their bars are hatched, VGG-6's label says it is left out, and the
    geometric mean's label gives the layers it covers."""
    rows = []
    for layer in LAYERS:
        for p, v in (("cpu-dense-b1", 1.0), ("cpu-sparse-b1", 0.8), ("eie-64pe", 900.0)):
            rows.append({"layer": layer, "platform": p, "speedup": v,
                         "stable": layer != "VGG-6" and not (layer == "NT-We" and p == "cpu-sparse-b1")})
    rows += [{"layer": "geomean", "platform": p, "speedup": v, "stable": True, "layers_in_geomean": n}
             for p, v, n in (("cpu-dense-b1", 1.0, 8), ("cpu-sparse-b1", 0.8, 7), ("eie-64pe", 900.0, 8))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figures.speedup_bars(pd.DataFrame(rows), "speedup", tmp_path / "fig06", "speedup", "Speedup")
    svg = (tmp_path / "fig06.svg").read_text()
    assert "VGG-6" in svg and "(left out)" in svg and svg.count("(left out)") == 1  # NT-We keeps two bars
    assert "(7/8 of 9)" in svg and "hatched: unstable timing" in svg
    assert svg.count('id="h') >= 1  # a hatch pattern is defined
    assert {stem: hits for stem, hits in checked.items() if hits} == {}
