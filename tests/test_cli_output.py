"""What the commands print for a reader: units, fit, the work a rule drops, start-up cost."""

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
