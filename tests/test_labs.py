"""The coursework labs: each runs top to bottom in the quick setting, is a clean notebook,
and its answer checks accept the right answer and hint (without revealing it) otherwise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import numpy as np
import pandas as pd
import pytest

from eiecore.errors import EieError
from eiesim.labs import QUICK_ENV, get_lab, list_labs, pick, quick_mode
from eiesim.labs.checking import check_choice, check_number, check_sequence

LABS = list_labs()
# Labs whose notebooks train or time with PyTorch (an optional extra): skipped without it.
NEEDS_TORCH = {"lab1_deep_compression", "lab6_baselines", "lab7_structured_pruning"}


def has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True
LAB_TIMEOUT_S = 300


def lab_env() -> dict[str, str]:
    # One thread per library: the suite runs two labs side by side on two cores.
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env[QUICK_ENV] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parents[1]), env.get("PYTHONPATH")]))
    return env


# --- every lab runs headless, in its own process --------------------------------------


@pytest.mark.parametrize("lab", LABS, ids=[lab.slug for lab in LABS])
def test_lab_runs_top_to_bottom_in_quick_mode(lab, tmp_path):
    if lab.slug in NEEDS_TORCH and not has_torch():
        pytest.skip(f"{lab.slug} needs torch")
    proc = subprocess.run([sys.executable, str(lab.path)], cwd=tmp_path, env=lab_env(),
                          capture_output=True, text=True, timeout=LAB_TIMEOUT_S)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr and "TqdmWarning" not in proc.stderr
    # Scratch files stay in the lab's own folder, never loose beside the student's notebook.
    assert {p.name for p in tmp_path.iterdir()} <= {f"lab{lab.number}_files"}
    # Labs ship with answers left as None: every exercise's check says so, none errors.
    exercises = len(re.findall(r"^# ### Exercise \d", lab.path.read_text(), re.M))
    assert proc.stdout.count("not yet: no answer yet") == exercises


# --- every lab is a clean notebook with the agreed structure ---------------------------


def test_labs_are_numbered_from_one_without_gaps():
    assert [lab.number for lab in LABS] == list(range(1, len(LABS) + 1))
    assert len(LABS) >= 7


@pytest.mark.parametrize("lab", LABS, ids=[lab.slug for lab in LABS])
def test_lab_is_a_clean_notebook(lab):
    text = lab.path.read_text(encoding="utf-8")
    nb = jupytext.reads(text, fmt="py:percent")
    assert nb.cells[0].cell_type == "markdown"
    assert nb.cells[0].source.startswith(f"# Lab {lab.number}: ")
    assert lab.title.startswith(f"Lab {lab.number}: ")
    assert "**Learning objectives.**" in nb.cells[0].source
    assert "**Background.**" in nb.cells[0].source
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")
    assert 2 <= len(re.findall(r"^### Exercise \d", "\n".join(c.source for c in nb.cells), re.M)) <= 4
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    # Things that work in a script but not in a kernel (or the reverse).
    assert "__file__" not in code and "__main__" not in code
    assert not re.search(r"^\s*[%!]", code, re.M)
    assert "plt.show()" not in code  # Agg warns; Jupyter shows figures by itself
    assert f"from eiesim.labs import lab{lab.number} as check" in code


@pytest.mark.parametrize("lab", LABS, ids=[lab.slug for lab in LABS])
def test_every_exercise_answer_is_left_to_the_student(lab):
    nb = jupytext.read(lab.path)
    checked = [c.source for c in nb.cells if c.cell_type == "code" and "check." in c.source
               and re.search(r"^my_\w+ = ", c.source, re.M)]
    assert checked
    for source in checked:
        for line in re.findall(r"^my_\w+ = .*$", source, re.M):
            assert re.match(r"^my_\w+ = None\s+# your answer", line), line


# --- catalog and quick mode --------------------------------------------------------------


def test_get_lab_by_number_or_slug_and_bad_names():
    assert get_lab(3) == get_lab("3") == get_lab(LABS[2].slug)
    with pytest.raises(EieError, match="no lab '99'"):
        get_lab("99")
    with pytest.raises(EieError, match="no lab"):
        get_lab("")


@pytest.mark.parametrize("value, quick", [("1", True), ("yes", True), ("0", False), ("", False), (" ", False)])
def test_quick_mode_reads_the_environment(monkeypatch, value, quick):
    monkeypatch.setenv(QUICK_ENV, value)
    assert quick_mode() is quick
    assert pick("full", "quick") == ("quick" if quick else "full")


def test_quick_mode_is_off_without_the_variable(monkeypatch):
    monkeypatch.delenv(QUICK_ENV, raising=False)
    assert not quick_mode()


# --- the shared check helpers --------------------------------------------------------------


def test_check_number_prints_correct_or_a_hint_without_the_answer(capsys):
    assert check_number(12, 12, "use the recurrence")
    assert capsys.readouterr().out == "correct\n"
    assert not check_number(13, 12, "use the recurrence", name="cycle count")
    out = capsys.readouterr().out
    assert out.startswith("not yet: use the recurrence") and "too high" in out and "12" not in out
    assert not check_number(11, 12, "x")
    assert "too low" in capsys.readouterr().out
    assert check_number(0.1001, 0.1, "x", rel=1e-2)
    assert check_number("12", 12, "x")


def test_check_number_none_and_bad_answers(capsys):
    assert not check_number(None, 3, "x")
    assert "no answer yet" in capsys.readouterr().out
    for bad in ("twelve", [1], float("nan"), float("inf"), True):
        with pytest.raises(EieError, match="answer: expected a"):
            check_number(bad, 3, "x")


def test_check_choice_and_sequence(capsys):
    assert check_choice(" Empty ", "empty", ("filler", "empty"), "x")
    assert not check_choice("filler", "empty", ("filler", "empty"), "think")
    assert "empty" not in capsys.readouterr().out.split("\n")[1]
    with pytest.raises(EieError, match="choose one of filler, empty"):
        check_choice("other", "empty", ("filler", "empty"), "x")
    assert not check_choice(None, "empty", ("filler", "empty"), "x")
    assert check_sequence([1, 2], (1, 2), "x")
    assert not check_sequence([1, 3], (1, 2), "x")
    assert "position 1" in capsys.readouterr().out.splitlines()[-1]
    assert not check_sequence([1], (1, 2), "x")
    with pytest.raises(EieError, match="list of integers"):
        check_sequence(["a"], (1,), "x")
    assert not check_sequence(None, (1,), "x")


# --- lab answer checks: right answers pass, wrong ones get a hint without the answer ----


@pytest.fixture(scope="module")
def quick_store(tmp_path_factory):
    """A small sweep store shared by the sweep-based checks (quick mode: in-process)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(QUICK_ENV, "1")
        yield tmp_path_factory.mktemp("lab-store")


def assert_verdict(capsys, ok: bool, expected_text: str | None = None) -> None:
    out = capsys.readouterr().out
    if ok:
        assert out == "correct\n"
    else:
        assert out.startswith("not yet: ")
        if expected_text is not None:
            assert not re.search(rf"(?<![\d.]){re.escape(expected_text)}(?![\d])", out), out


def test_lab3_two_pe_cycles_by_hand(capsys):
    from eiesim.labs import lab3

    # Hand-derived with SPEC §5: c0 = 6,1,1,1,1 and c1 = 1,1,1,6,1, L = 1.
    # D = 8: b = 1..5; PE0 ends at 11 + 1, PE1 at 11 + 1 -> 12 + 6 = 18.
    # D = 1: lock step, b = 1, 2, 8, 9, 10; PE1 ends at 16 + 1 -> 17 + 6 = 23.
    assert lab3.tiny_cycles(18, queue_depth=8)
    assert_verdict(capsys, True)
    assert lab3.tiny_cycles(23, queue_depth=1)
    assert_verdict(capsys, True)
    assert not lab3.tiny_cycles(17, queue_depth=8)
    assert_verdict(capsys, False, "18")
    # D = 2 still stalls (22 cycles); D = 3 reaches the unbounded queue's 18.
    assert lab3.two_pe_cycles(2) == 22 and lab3.two_pe_cycles(3) == 18
    assert lab3.smallest_full_speed_depth(3)
    assert_verdict(capsys, True)
    assert not lab3.smallest_full_speed_depth(8)
    assert_verdict(capsys, False, "3")


def crafted_measured(table: pd.DataFrame):
    """A stand-in for the labs' sweep: the rows of ``table`` at the requested grid."""

    def measured(layers, axes, base=None, store=None):
        rows = table[table.layer.isin(layers)]
        for name, values in {**axes, **{k: [v] for k, v in (base or {}).items()}}.items():
            if name in rows:
                rows = rows[rows[name].isin(values)]
        return rows.reset_index(drop=True)

    return measured


def test_lab3_sweep_checks_on_a_table_worked_by_hand(capsys, monkeypatch):
    from eiesim.labs import lab3

    # Load efficiency at depths 1, 2, 8, 64. Relative to depth 64: A 0.5, 0.9, 0.96, 1;
    # B 0.5, 0.875, 1, 1. Depth 8 is the first where both reach 1 - 0.05 = 0.95.
    table = pd.DataFrame({
        "layer": ["A"] * 4 + ["B"] * 4, "queue_depth": [1, 2, 8, 64] * 2, "n_pe": 8,
        "load_efficiency": [0.5, 0.9, 0.96, 1.0, 0.4, 0.7, 0.8, 0.8],
        "starved_pe_cycles": [0, 0, 200, 0, 0, 0, 0, 0], "cycles": [0, 0, 1000, 0, 0, 0, 0, 0],
    })
    monkeypatch.setattr(lab3, "measured", crafted_measured(table))
    assert lab3.knee_depth(8, ["A", "B"], [1, 2, 8, 64], 8, None)
    assert_verdict(capsys, True)
    assert not lab3.knee_depth(2, ["A", "B"], [1, 2, 8, 64], 8, None)
    assert_verdict(capsys, False, "8")


def test_lab3_next_cycle_refill_by_hand(capsys):
    from eiesim.labs import lab3

    # D = 2 with next-cycle refill: b_k >= max_p s_p(k - 2) + 1 for k > 2.
    # b1 = 1, s = 2, 2; b2 = 2, s0 = max(3, 2 + 6) = 8, s1 = 3; b3 = max(3, 2 + 1) = 3,
    # s0 = 9, s1 = 4; b4 = max(4, s0(2) + 1 = 9) = 9 (same-cycle: 8), s0 = 10, s1 = 10;
    # b5 = max(10, s(3) + 1 = 10) = 10, s0 = 11; PE1 pops column 5 after the six entries of
    # column 4: s1 = max(11, 10 + 6) = 16, ends 17 -> 17 + 6 = 23 cycles (same-cycle: 22).
    # D = 8: no broadcast waits for a pop, so the refill rule changes nothing (18 both).
    assert lab3.two_pe_cycles(2, "next-cycle") == 23 and lab3.two_pe_cycles(8, "next-cycle") == 18
    assert lab3.refill_delay_cost(1, queue_depth=2)
    assert_verdict(capsys, True)
    assert lab3.refill_delay_cost(0, queue_depth=8)
    assert_verdict(capsys, True)
    assert not lab3.refill_delay_cost(2, queue_depth=2)
    assert_verdict(capsys, False, "1")


def test_lab3_sweep_checks_accept_one_answer_on_real_runs(capsys, quick_store):
    from eiesim.labs import lab3

    layers, depths, n_pe = ["synth:64x256:0.2:0.5", "synth:48x128:0.3:1"], [1, 2, 8, 64], 8
    verdicts = [lab3.knee_depth(d, layers, depths, n_pe, quick_store) for d in depths]
    assert sum(verdicts) == 1


def test_lab4_fillers_by_hand(capsys):
    from eiesim.labs import lab4

    rows = [3, 40, 41, 100]
    # N = 1: gaps 3, 36, 0, 58 -> 0 + 2 + 0 + 3. N = 2: PE0 local rows 20, 50 (gaps 20, 29),
    # PE1 local rows 1, 20 (gaps 1, 18) -> 1 + 1 + 0 + 1. N = 4: every gap < 16.
    assert [lab4.column_fillers(rows, n) for n in (1, 2, 4)] == [5, 3, 0]
    assert lab4.fillers(3, rows, n_pe=2)
    assert_verdict(capsys, True)
    assert not lab4.fillers(5, rows, n_pe=2)
    assert_verdict(capsys, False, "3")


def test_lab4_sweep_checks_on_a_table_worked_by_hand(capsys, monkeypatch):
    from eiesim.labs import lab4

    # Cycles at N = 1, 4, 16, 64: 1000, 260, 80, 40 -> speedup 1, 3.85, 12.5, 25 ->
    # efficiency (speedup / N) 1, 0.96, 0.78, 0.39: N = 16 is the last at >= 0.75.
    # At N = 64: fillers 100, empty 300, idle 64 x 40 - 2000 = 560 PE-cycles -> idle dominates.
    table = pd.DataFrame({
        "layer": "L", "n_pe": [1, 4, 16, 64], "cycles": [1000, 260, 80, 40],
        "filler_entries": [0, 0, 0, 100], "empty_columns": [0, 0, 0, 300], "busy_pe_cycles": [0, 0, 0, 2000],
    })
    monkeypatch.setattr(lab4, "measured", crafted_measured(table))
    assert lab4.scaling_frame(["L"], [1, 4, 16, 64], None).speedup.tolist() == pytest.approx([1, 1000 / 260, 12.5, 25])
    assert lab4.last_efficient_n(16, "L", [1, 4, 16, 64], None)
    assert_verdict(capsys, True)
    assert not lab4.last_efficient_n(64, "L", [1, 4, 16, 64], None)
    assert_verdict(capsys, False, "16")
    assert lab4.dominant_loss("idle", "L", 64, [1, 4, 16, 64], None)
    assert_verdict(capsys, True)
    assert not lab4.dominant_loss("empty", "L", 64, [1, 4, 16, 64], None)
    assert_verdict(capsys, False)


def test_lab4_busy_cycles_are_the_sum_of_entries_and_empty_columns(quick_store):
    from eiesim.labs import lab4

    df = lab4.scaling_frame(["synth:96x256:0.1:1"], [1, 4, 16, 64], quick_store)
    assert df.speedup.iloc[0] == 1.0
    assert (df.real_entries + df.filler_entries + df.empty_columns == df.busy_pe_cycles).all()


def test_notebooks_folder_links_every_lab():
    folder = Path(__file__).parents[1] / "notebooks"
    linked = {p.name: p.resolve() for p in folder.glob("lab*.py")}
    assert linked == {lab.path.name: lab.path.resolve() for lab in LABS}


def test_lab2_golden_example_by_hand(capsys):
    from eiesim.labs import lab2

    # EIE Fig. 3: PE0's relative row indices.
    fig3 = [0, 1, 0, 1, 0, 2, 0, 0, 0, 2, 0, 2, 0]
    assert lab2.relative_indices(fig3, pe=0)
    assert_verdict(capsys, True)
    assert not lab2.relative_indices(fig3[:-1] + [1], pe=0)
    assert "position 12" in capsys.readouterr().out
    # Hand schedule (SPEC §5), broadcast columns 2, 4, 5, 7, c_p(k) rows PE0..PE3:
    # 2 2 2 2 / 4 1 1 1 / 1 2 1 1 / 1 1 4 1, L = 1.
    # D = 8: b = 1..4; PE0 pops at 2, 4, 6, 8 and ends at 10 -> 16 cycles, nobody starves.
    # D = 1: b = 1, 2, 6, 7; PE3 pops column 7 at 11 -> 12 + 6 = 18; starved 1 + 0 + 2 + 3.
    assert lab2.cycles(16, queue_depth=8)
    assert_verdict(capsys, True)
    assert lab2.cycles(18, queue_depth=1)
    assert_verdict(capsys, True)
    assert not lab2.cycles(17, queue_depth=1)
    assert_verdict(capsys, False, "18")
    assert lab2.starved(6, queue_depth=1)
    assert_verdict(capsys, True)
    assert not lab2.starved(0, queue_depth=1)
    assert_verdict(capsys, False, "6")


def test_lab2_example_keeps_the_papers_pe0_pattern():
    from eiesim.labs import lab2

    layer, _, _ = lab2.golden_layer()
    assert layer.ptr[0, 0].tolist() == [0, 3, 4, 6, 6, 8, 10, 11, 13]  # EIE Fig. 3
    w = lab2.golden_matrix()
    assert all(r % 4 == p for p, pairs in lab2.NONZEROS.items() for r, _ in pairs)
    assert np.count_nonzero(w) == sum(len(v) for v in lab2.NONZEROS.values())


@pytest.fixture(scope="module")
def small_layer():
    from eiesim.config import ArchConfig
    from eiesim.labs import lab5

    config = ArchConfig(n_pe=16)
    layer, acts = lab5.lab_layer("synth:128x256:0.1:0.5", config)
    return layer, acts, config


def test_lab5_energy_checks(capsys, small_layer):
    import math

    from eiesim.labs import lab5
    from eiesim.simulation import simulate

    layer, acts, config = small_layer
    result = simulate(layer, acts, config)
    # 128 KB lies between 32 KB (20 pJ) and 1 MB (100 pJ) on a log-log line.
    per_read = 20 * (128 / 32) ** (math.log(100 / 20) / math.log(1024 / 32))
    by_hand = result.counters.spmat_row_reads * per_read
    assert lab5.spmat_energy(by_hand, layer, acts, config)
    assert_verdict(capsys, True)
    assert not lab5.spmat_energy(by_hand * 1.1, layer, acts, config)
    assert_verdict(capsys, False)

    reads = {w: simulate(layer, acts, config.replace(spmat_width_bits=w)).counters.spmat_row_reads for w in (64, 128)}
    f = 2 - reads[64] / reads[128]  # r64 x 1 = r128 x (f + 2 (1 - f))
    assert lab5.break_even_fraction(f, layer, acts, config)
    assert_verdict(capsys, True)
    df = lab5.read_energy_by_width(layer, acts, config, [64, 128], fixed_fraction=f)
    assert df.read_energy_pj.iloc[0] == pytest.approx(df.read_energy_pj.iloc[1])
    assert not lab5.break_even_fraction(f + 0.1, layer, acts, config)
    assert_verdict(capsys, False)
    with pytest.raises(EieError, match="fixed_fraction"):
        lab5.read_energy_by_width(layer, acts, config, [64], fixed_fraction=1.0)

    # The check divides the float32 run's total by the fixed-point run's: with totals of
    # 300 pJ and 120 pJ the answer is 2.5 (the inverse, 0.4, is wrong).
    class Run:
        def __init__(self, total):
            self.energy = type("Energy", (), {"total": total})()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lab5, "_simulate", lambda layer, acts, cfg: Run(300.0 if cfg.precision == "float32" else 120.0))
        assert lab5.float32_ratio(2.5, layer, acts, config)
        assert_verdict(capsys, True)
        assert not lab5.float32_ratio(0.4, layer, acts, config)
        assert_verdict(capsys, False)
    # On the real layer float32 costs more: a 32-bit float MULT is 3.7 pJ, a 16-bit integer
    # one at most 3.1 (the 32-bit figure), and every other event is at least as wide.
    floating = simulate(layer, acts, config.replace(precision="float32")).energy.total
    assert floating > result.energy.total

    m, k = layer.shape
    bits = layer.n_entries * 8 + layer.n_blocks * 16 * (k + 1) * 16 + 16 * 16
    dram = math.ceil(bits / 32) * 640.0 / result.energy.total
    assert lab5.dram_ratio(dram, layer, acts, config)
    assert_verdict(capsys, True)
    assert not lab5.dram_ratio(dram / 2, layer, acts, config)
    assert_verdict(capsys, False)


@pytest.fixture(scope="module")
def digits_linear_model():
    """A one-layer softmax classifier of the digits, pruned to 30 %: [(W, b)] and the data."""
    from sklearn.linear_model import LogisticRegression

    from compressor.prune import magnitude_mask
    from workloads.digits import load_digits_split

    data = load_digits_split(seed=0)
    clf = LogisticRegression(max_iter=500).fit(data.x_train, data.y_train)
    w = clf.coef_ * magnitude_mask(clf.coef_, 0.3)
    return [(w, clf.intercept_.copy())], data


def test_lab1_survivors_and_huffman_ratio(capsys, digits_linear_model):
    from compressor.csc import compress_layer
    from compressor.huffman import HuffmanCode
    from eiesim.config import ArchConfig
    from eiesim.labs import lab1

    assert lab1.survivors(1536, (300, 64), 0.08)  # 0.08 x 19200
    assert_verdict(capsys, True)
    assert not lab1.survivors(1537, (300, 64), 0.08)
    assert_verdict(capsys, False, "1536")

    [(w, _)], _ = digits_linear_model
    layer = compress_layer(w, ArchConfig(n_pe=4))
    codes, rel = HuffmanCode.from_symbols(layer.code, 16), HuffmanCode.from_symbols(layer.rel, 16)
    stored = (codes.encoded_bits + rel.encoded_bits + codes.table_bits + rel.table_bits
              + layer.ptr.size * 16 + 16 * 16)
    ratio = w.size * 32 / stored
    assert lab1.huffman_ratio(ratio, layer)
    assert_verdict(capsys, True)
    assert not lab1.huffman_ratio(ratio * 1.01, layer)
    assert_verdict(capsys, False)


def test_lab1_sharing_inits(digits_linear_model):
    from eiesim.labs import lab1

    [(w, _)], _ = digits_linear_model
    # Linear init by hand: 2 bits -> 3 clusters starting at -1, 0, 1 (even over [min, max]);
    # {-1, -0.9} -> -0.95, {0.1, 0.2} -> 0.15, {0.9, 1} -> 0.95, and the assignment is stable.
    small = np.array([-1.0, -0.9, 0.1, 0.2, 0.9, 1.0])
    np.testing.assert_allclose(lab1.share(small, 2, "linear"), [-0.95, -0.95, 0.15, 0.15, 0.95, 0.95])
    values = w[w != 0]
    shared = lab1.share(values, 3, "random")
    assert shared.shape == values.shape and np.unique(shared).size <= 7
    assert np.array_equal(shared, lab1.share(values, 3, "random"))  # seeded
    with pytest.raises(EieError, match="init must be one of linear, random"):
        lab1.share(values, 3, "density")


def test_lab1_accuracy_checks(capsys, digits_linear_model):
    from eiesim.labs import lab1

    layers, data = digits_linear_model

    def acc(layers_):
        (w, b), = layers_
        return float(((data.x_test @ w.T + b).argmax(axis=1) == data.y_test).mean())

    def loss(layers_):
        (w, b), = layers_
        z = data.x_test @ w.T + b
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return float(-np.log(p[np.arange(data.y_test.size), data.y_test]).mean())

    assert lab1.loss(layers, data.x_test, data.y_test) == pytest.approx(loss(layers))
    at = {init: loss(lab1.shared_layers(layers, 2, init)) for init in lab1.INITS}
    best = min(at, key=at.get)
    assert lab1.better_init(best, layers, data, bits=2)
    assert_verdict(capsys, True)
    assert not lab1.better_init(next(i for i in lab1.INITS if i != best), layers, data, bits=2)
    assert_verdict(capsys, False)

    bits_list = [1, 2, 3, 4, 6]
    base = acc(layers)
    fewest = min(b for b in bits_list if acc(lab1.shared_layers(layers, b, "linear")) >= base - 0.01)
    assert lab1.smallest_bits(fewest, layers, data, bits_list, tolerance=0.01)
    assert_verdict(capsys, True)
    assert not lab1.smallest_bits(fewest + 1, layers, data, bits_list, tolerance=0.01)
    assert_verdict(capsys, False, str(fewest))
    with pytest.raises(EieError, match="no codebook size"):
        lab1.smallest_bits(1, layers, data, [1], tolerance=-1.0)


def fake_report():
    """A baseline report with made-up timings (the checks only read it)."""
    from workloads.baselines import BaselineReport, EieRow, Measurement, Stats

    def m(kind, batch, seconds):
        return Measurement("Alex-7", "cpu", kind, batch, Stats.of([seconds]))

    return BaselineReport({}, {}, [m("dense", 1, 1e-3), m("sparse", 1, 4e-4), m("dense", 64, 6.4e-3)],
                          [EieRow("Alex-7", 64, "fast", 10000, 12.5e-6, None, "")])


def test_lab6_checks_on_a_made_up_report(capsys):
    from eiesim.labs import lab6

    report = fake_report()
    assert lab6.seconds_per_frame(report, "Alex-7")["cpu-dense-b64"] == pytest.approx(1e-4)
    assert lab6.speedup(80, report, "Alex-7", column="eie-64pe", over="cpu-dense-b1")  # 1e-3 / 12.5e-6
    assert_verdict(capsys, True)
    assert lab6.speedup(8, report, "Alex-7", column="eie-64pe", over="cpu-dense-b64")  # 1e-4 / 12.5e-6
    assert_verdict(capsys, True)
    assert not lab6.speedup(512, report, "Alex-7", column="eie-64pe", over="cpu-dense-b64")
    assert_verdict(capsys, False, "8")
    assert lab6.fastest("eie-64pe", report, "Alex-7")
    assert_verdict(capsys, True)
    assert not lab6.fastest("cpu-sparse-b1", report, "Alex-7")
    assert_verdict(capsys, False)
    with pytest.raises(EieError, match="no column 'gpu-dense-b1'"):
        lab6.speedup(1, report, "Alex-7", column="eie-64pe", over="gpu-dense-b1")
    with pytest.raises(EieError, match="no layer 'VGG-6'"):
        lab6.fastest("eie-64pe", report, "VGG-6")


def test_lab7_storage_formats_by_hand(capsys):
    from eiesim.labs import lab7

    w = np.zeros((3, 8))
    w[0, [1, 5]] = 0.5
    w[2, [0, 3, 7]] = -0.25
    # 5 weights x (4-bit code + 3-bit column) + 4 row pointers x 3 bits + 16 x 16-bit codebook.
    assert lab7.csr_bits(w) == 5 * 7 + 4 * 3 + 256
    assert lab7.csr(303, w)
    assert_verdict(capsys, True)
    assert not lab7.csr(304, w)
    assert_verdict(capsys, False, "303")

    rows = np.zeros((6, 8))
    rows[[1, 4]] = 1.0
    assert lab7.compact_bits(rows, "row") == 2 * 8 * 4 + 2 * 3 + 256  # 2 rows, ceil(log2 6) = 3
    blocks = np.zeros((8, 8))
    blocks[4:8, 0:4] = 1.0
    assert lab7.compact_bits(blocks, "block") == 16 * 4 + 2 + 256  # 1 of 4 tiles, 2-bit index
    assert lab7.compact_bits(w, "unstructured") == 24 * 4 + 256
    assert lab7.compact_bits(w, "balanced") == 24 * 4 + 256  # nothing to compact either
    with pytest.raises(EieError, match="scheme must be one of"):
        lab7.compact_bits(w, "diagonal")
    with pytest.raises(EieError, match="scheme must be one of"):
        lab7.mask(w, "diagonal", 0.5)


def test_lab7_masks_keep_the_density():
    from eiesim.labs import lab7

    dense = np.random.default_rng(5).normal(size=(40, 64))
    for scheme in lab7.SCHEMES:
        # 25 %: 640 weights, 10 rows, 40 tiles, or 80 on each of 8 PEs (5 rows x 64 x 0.25)
        assert lab7.mask(dense, scheme, 0.25, n_pe=8).sum() == 640
    balanced = lab7.mask(dense, "balanced", 0.25, n_pe=8)
    assert [int(balanced[p::8].sum()) for p in range(8)] == [80] * 8
    rows = lab7.mask(dense, "row", 0.25)
    assert rows.all(axis=1).sum() == 10 and (rows.any(axis=1) == rows.all(axis=1)).all()
    tiles = lab7.mask(dense, "block", 0.25).reshape(10, 4, 16, 4).any(axis=(1, 3))
    assert tiles.sum() == 40


def test_lab7_least_storage_and_ppr(capsys):
    from compressor.csc import compress_layer
    from eiesim.config import ArchConfig
    from eiesim.labs import lab7
    from eiesim.simulation import simulate

    rng = np.random.default_rng(3)
    dense = rng.normal(size=(32, 48))
    config = ArchConfig(n_pe=4)
    matrices = {s: [dense * lab7.mask(dense, s, 0.25, config.n_pe)] for s in lab7.SCHEMES}

    def eie_bits(w):
        layer = compress_layer(w, config)
        return layer.n_entries * 8 + layer.ptr.size * 16 + 256

    best = min(matrices, key=lambda s: eie_bits(matrices[s][0]))
    assert lab7.least_storage(best, matrices, config)
    assert_verdict(capsys, True)
    assert not lab7.least_storage(next(s for s in matrices if s != best), matrices, config)
    assert_verdict(capsys, False)

    pruned = matrices["unstructured"][0]
    acts = np.abs(rng.normal(size=(2, 48)))
    cycles = lambda w: np.mean([simulate(compress_layer(w, config), a, config).cycles for a in acts])  # noqa: E731
    expected = (dense.size / np.count_nonzero(pruned)) / (cycles(dense) / cycles(pruned))
    assert lab7.ppr(expected, [pruned], [dense], [acts], config)
    assert_verdict(capsys, True)
    assert not lab7.ppr(expected * 1.1, [pruned], [dense], [acts], config)
    assert_verdict(capsys, False)
    curve = lab7.ppr_curve({("unstructured", 0.25): [pruned]}, [dense], {("unstructured", 0.25): [acts]}, config)
    assert curve["PPR"].iloc[0] == pytest.approx(expected) and curve["pruning rate"].iloc[0] == 4.0  # 1536 / 384


def test_lab7_balanced_share(capsys):
    from eiesim.labs import lab7

    # fc1 of LeNet-300-100 on the digits: 300 x 64 at 10 % over 64 PEs -> 0.1 x 300 x 64 / 64 = 30.
    assert lab7.balanced_share(30, 300, 64, 0.1, 64)
    assert_verdict(capsys, True)
    assert not lab7.balanced_share(29, 300, 64, 0.1, 64)
    assert_verdict(capsys, False)


def test_a_check_at_the_end_of_a_cell_echoes_nothing_after_its_verdict(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    from eiesim.labs.checking import verdict

    wrong = verdict(False, "a hint")
    assert capsys.readouterr().out == "not yet: a hint\n"
    # Jupyter shows a cell's value only when IPython's formatter gives it some data: none here
    # (a plain False would come back as {"text/plain": "False"}).
    assert InteractiveShell.instance().display_formatter.format(wrong) == ({}, {})
    assert InteractiveShell.instance().display_formatter.format(False)[0] == {"text/plain": "False"}
    ok = verdict(True, "")
    assert ok and not wrong and ok == True and wrong == False  # noqa: E712 (bool-like)
