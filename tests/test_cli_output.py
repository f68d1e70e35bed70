"""What the commands print for a reader: units, fit, the work a rule drops, start-up cost."""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def small(tmp_path):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((24, 16)) * (rng.random((24, 16)) < 0.4)
    a = np.maximum(rng.standard_normal(16), 0.0)
    np.save(tmp_path / "W.npy", w)
    np.save(tmp_path / "a.npy", a)
    return tmp_path


def test_info_reads_a_model_without_loading_numba(small, run_cli):
    """``eiesim info`` decodes and validates the file with numpy alone: numba (half a second
    to import, seconds to compile) is never loaded."""
    code, _, err = run_cli("compress", "--weights", small / "W.npy", "--out", small / "w.eie")
    assert code == 0, err
    script = ("import sys\nfrom eiesim.cli import main\ntry:\n    main(['info', sys.argv[1]])\n"
              "except SystemExit as e:\n    assert e.code == 0, e.code\n"
              "assert 'numba' not in sys.modules, 'numba was imported'\n")
    proc = subprocess.run([sys.executable, "-c", script, str(small / "w.eie")], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": ""}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "layer W: 24 x 16" in proc.stdout and "SRAM use of the fullest PE" in proc.stdout


def test_local_rows_decode_without_numba_match_the_definition():
    """The numpy decoding of relative indices against a loop over SPEC §3's rule."""
    from compressor.csc import _local_rows, compress_layer
    from eiesim.config import ArchConfig

    rng = np.random.default_rng(3)
    w = rng.standard_normal((70, 9)) * (rng.random((70, 9)) < 0.2)
    layer = compress_layer(w, ArchConfig.make(n_pe=2, accumulators_per_pe=8, index_bits=2))
    expect = []
    for t in range(layer.n_blocks):
        for p in range(layer.n_pe):
            base = layer.start[t * layer.n_pe + p]
            for j in range(layer.shape[1]):
                row = -1
                for e in range(base + layer.ptr[t, p, j], base + layer.ptr[t, p, j + 1]):
                    row += int(layer.rel[e]) + 1
                    expect.append(row)
    assert _local_rows(layer.rel, layer.start, layer.ptr).tolist() == expect
    assert layer.n_fillers > 0  # 2-bit indices: gaps of 4 and more rows need fillers


def test_simulate_summary_gives_energy_with_units_and_fit(small, run_cli):
    code, out, err = run_cli("simulate", "--weights", small / "W.npy", "--acts", small / "a.npy", "--pes", "4",
                             "--engine", "fast")
    assert code == 0, err
    lines = {line[2:22].strip(): line[22:] for line in out.splitlines() if line.startswith("  ")}
    assert lines["energy (event)"].endswith(" uJ") and lines["energy (table2)"].endswith(" uJ")
    assert "fits SRAM" in lines and lines["fits SRAM"].rstrip().endswith("yes")
    assert "engine run (s)" in lines and "dropped inputs" not in lines  # spec timing drops nothing


def test_eie_cpp_reports_the_fraction_of_inputs_it_drops(tmp_path, run_cli):
    # Four non-zero inputs, one negative: eie-cpp skips a quarter of them.
    w = np.ones((8, 6))
    np.save(tmp_path / "W.npy", w)
    np.save(tmp_path / "a.npy", np.array([1.0, -2.0, 0.0, 0.5, 0.0, 3.0]))
    code, out, err = run_cli("simulate", "--weights", tmp_path / "W.npy", "--acts", tmp_path / "a.npy",
                             "--pes", "2", "--timing", "eie-cpp", "--engine", "fast")
    assert code == 0, err
    assert "  dropped inputs      0.250 (eie-cpp broadcasts only positive inputs" in out


def test_benchmark_table_has_energy_fit_and_dropped_columns(run_cli):
    code, out, err = run_cli("simulate", "--benchmark", "all", "--timing", "eie-cpp")
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["layer", "cycles", "time_us", "load_eff", "real_work", "imbalance", "energy_uJ",
                              "dropped", "fits", "engine", "wall_s"]
    table = {r.split()[0]: r.split() for r in rows if r.split() and r.split()[0] in ("VGG-6", "Alex-7", "NT-We")}
    assert table["VGG-6"][8] == "NO" and table["Alex-7"][8] == "yes"  # VGG-6's pointers overflow
    assert table["Alex-7"][7] == "0.000" and 0.4 < float(table["NT-We"][7]) < 0.6  # signed NeuralTalk inputs
    assert "'dropped' is the fraction of the non-zero inputs it skips" in out


def test_compress_prints_the_fit_of_every_layer(small, run_cli):
    code, out, err = run_cli("compress", "--weights", small / "W.npy", "--out", small / "w.eie", "--pes", "4")
    assert code == 0, err
    assert "SRAM use of the fullest PE (N = 4;" in out
    row = next(line for line in out.splitlines() if line.startswith("W ") and line.rstrip().endswith("yes"))
    assert len(row.split()) == 5


def test_wrong_length_activations_are_refused_before_encoding(small, run_cli, monkeypatch):
    import compressor.csc

    def never(*args, **kwargs):
        raise AssertionError("the layer was encoded before the activations were checked")

    monkeypatch.setattr(compressor.csc, "compress_layer", never)
    np.save(small / "short.npy", np.ones(5))
    code, _, err = run_cli("simulate", "--weights", small / "W.npy", "--acts", small / "short.npy", "--pes", "4")
    assert code == 1 and "activations have length 5 but layer W has 16 inputs" in err
    assert len(err.strip().splitlines()) == 1


def test_trace_shows_chosen_pes_and_cycles(run_cli):
    code, out, err = run_cli("simulate", "--benchmark", "NT-We", "--trace", "--trace-pes", "3,63",
                             "--trace-cycles", "100:103")
    assert code == 0, err
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("cycle"))
    assert [c.strip() for c in lines[header].split(" | ")] == ["cycle", "broadcast", "PE3", "PE63"]
    assert [int(line.split(" | ")[0]) for line in lines[header + 1: header + 4]] == [100, 101, 102]
    assert not lines[header + 4].strip()[:1].isdigit()  # the summary follows the window
    assert err == ""  # nothing cut by a default


def test_trace_of_a_large_layer_shows_a_window_and_says_so(run_cli):
    code, out, err = run_cli("simulate", "--benchmark", "VGG-8", "--trace")  # 64 PEs, > 20,000 entries
    assert code == 0, err
    assert "the trace shows PEs 0-7 of 64 (--trace-pes) and cycles 0-999 of each row block" in err
    rows = [line for line in out.splitlines() if line.split(" | ")[0].strip().isdigit()]
    assert len(rows) == 1000 and max(len(line) for line in out.splitlines()) < 400


def test_reference_trace_window(small, run_cli):
    args = ("simulate", "--weights", small / "W.npy", "--acts", small / "a.npy", "--pes", "4", "--engine", "reference",
            "--trace")
    code, full, _ = run_cli(*args)
    code2, cut, err = run_cli(*args, "--trace-pes", "1", "--trace-cycles", "2:4")
    assert code == code2 == 0, err
    head = next(line for line in cut.splitlines() if line.startswith("cycle"))
    assert [c.strip() for c in head.split(" | ")][-1] == "PE1" and "PE0" not in head and "PE2" not in head
    rows = [line for line in cut.splitlines() if line.split(" | ")[0].strip().isdigit()]
    assert [int(r.split(" | ")[0]) for r in rows] == [2, 3]
    full_row = next(line for line in full.splitlines() if line.split(" | ")[0].strip() == "2").split(" | ")
    assert rows[0].split(" | ")[-1].strip() == full_row[-3].strip()  # PE1's cell, of PE0..PE3


@pytest.mark.parametrize("extra, message", [
    (("--trace-pes", "0-99"), "PEs are numbered 0..3"),
    (("--trace-pes", "two"), "--trace-pes takes PE numbers"),
    (("--trace-cycles", "5:5"), "--trace-cycles takes FIRST:STOP"),
    (("--trace-cycles", "7"), "--trace-cycles takes FIRST:STOP"),
])
def test_bad_trace_windows(small, run_cli, extra, message):
    code, _, err = run_cli("simulate", "--weights", small / "W.npy", "--acts", small / "a.npy", "--pes", "4",
                           "--trace", *extra)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("simulate", "--weights", small / "W.npy", "--acts", small / "a.npy", *extra)
    assert code == 1 and "go with --trace" in err


def test_latency_figure_shares_one_y_axis(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from eiesim.config import ArchConfig
    from eiesim.inference import InferenceResult, plot_latency

    cycles = np.array([[800, 80], [1600, 160], [2400, 240]])  # fc1 1-3 us, fc2 0.1-0.3 us at 800 MHz
    result = InferenceResult(["fc1", "fc2"], cycles, np.ones((3, 2)), np.ones((3, 2)), np.ones((3, 2)),
                             np.zeros((3, 1)), np.zeros((3, 1)), {}, ArchConfig(), "fast")
    figures = []
    monkeypatch.setattr(plt, "close", lambda fig: figures.append(fig))
    plot_latency(result, tmp_path / "lat.png")
    (fig,) = figures
    axes = fig.axes
    assert len(axes) == 3 and all(ax.get_ylim() == axes[0].get_ylim() for ax in axes)
    assert axes[0].get_ylim()[1] >= 3.3  # the network's 3.3 us fits every panel's scale
    assert (tmp_path / "lat.png").stat().st_size > 0


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_over_several_layers_on_a_terminal_only(monkeypatch):
    from eiesim.progress import over_layers

    for stream, total, shown in ((_Terminal(), 1, False), (_Terminal(), 3, True), (io.StringIO(), 3, False)):
        monkeypatch.setattr(sys, "stderr", stream)
        assert list(over_layers(iter(range(total)), total, "compressing")) == list(range(total))
        err = stream.getvalue()
        assert ("compressing:" in err and f"0/{total}" in err) == shown, (total, err)


def test_energy_layer_table_has_a_fit_column(run_cli):
    code, out, err = run_cli("energy", "--benchmark", "VGG-6")
    assert code == 0, err
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["layer", "cycles"])
    assert lines[header].split()[-1] == "fits" and lines[header + 1].split()[-1] == "NO"  # VGG-6's pointers
