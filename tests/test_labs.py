"""The coursework labs: every source is an Otter Assign notebook with the agreed structure, the
per-student parameters differ between students, and each exercise's answer (recomputed by
the lab's ``*_of`` functions) agrees with a value worked out by hand.

Building and grading the notebooks (which runs them) is tested in ``test_cli_lab.py``.
"""

from __future__ import annotations

import re

import jupytext
import numpy as np
import pandas as pd
import pytest

from eiecore.errors import EieError
from eiesim.labs import QUICK_ENV, get_lab, list_labs, pick, quick_mode
from eiesim.labs.checking import (STUDENT_ENV, close, draw, is_number, is_whole, same_choice, same_sequence,
                                  student_id, student_params)

LABS = list_labs()


def lab_module(lab):
    import importlib

    return importlib.import_module(f"eiesim.labs.lab{lab.number}")


# --- every lab is a clean Otter Assign source with the agreed structure -------------------


def test_labs_are_numbered_from_one_without_gaps():
    assert [lab.number for lab in LABS] == list(range(1, len(LABS) + 1))
    assert len(LABS) >= 7


def test_lab_sources_are_not_in_the_installed_package():
    import eiesim.labs

    package = __import__("pathlib").Path(eiesim.labs.__file__).parent
    assert not list(package.rglob("lab*_*.py"))  # the sources (with solutions) live in notebooks/
    assert all(lab.path.parent.name == "notebooks" for lab in LABS)


def test_lab_sources_come_from_the_environment_when_set(monkeypatch, tmp_path):
    (tmp_path / "lab1_only.py").write_text("# %% [markdown]\n# # Lab 1: Only\n")
    monkeypatch.setenv("EIESIM_LAB_SOURCES", str(tmp_path))
    assert [(lab.number, lab.title) for lab in list_labs()] == [(1, "Lab 1: Only")]
    monkeypatch.setenv("EIESIM_LAB_SOURCES", str(tmp_path / "missing"))
    with pytest.raises(EieError, match="lab sources not found .* EIESIM_LAB_SOURCES"):
        list_labs()


def cells(lab):
    return jupytext.read(lab.path).cells


def raw_blocks(lab):
    """The Otter Assign markers of a source, in order (BEGIN QUESTION, END TESTS, ...)."""
    return [c.source.splitlines()[0].lstrip("# ").strip() for c in cells(lab) if c.cell_type == "raw"]


@pytest.mark.parametrize("lab", LABS, ids=[lab.slug for lab in LABS])
def test_lab_is_a_clean_notebook(lab):
    nb = jupytext.reads(lab.path.read_text(encoding="utf-8"), fmt="py:percent")
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
    assert "eiesim.cli" not in code  # labs call the library, never the command line module
    assert re.search(r'^STUDENT_ID = ""  # your student id', code, re.M)
    assert f"P = check.params(STUDENT_ID)" in code


@pytest.mark.parametrize("lab", LABS, ids=[lab.slug for lab in LABS])
def test_every_exercise_is_a_question_with_a_solution_public_hints_and_one_weighted_hidden_test(lab):
    blocks = raw_blocks(lab)
    questions = blocks.count("BEGIN QUESTION")
    exercises = sum(len(re.findall(r"^### Exercise \d", c.source, re.M)) for c in cells(lab))
    assert questions == exercises
    per_question = ["BEGIN QUESTION", "BEGIN SOLUTION", "END SOLUTION", "BEGIN TESTS", "END TESTS", "END QUESTION"]
    assert blocks == per_question * questions
    source = lab.path.read_text()
    names = re.findall(r"^# name: (q\d+)$", source, re.M)
    assert names == [f"q{i}" for i in range(1, questions + 1)]
    configs = re.findall(r'""" # BEGIN TEST CONFIG\n(.*?)""" # END TEST CONFIG', source, re.S)
    hidden = [c for c in configs if "hidden: true" in c]
    public = [c for c in configs if "hidden: true" not in c]
    assert len(hidden) == questions  # one weighted hidden test per question
    assert all(re.search(r"^points: [1-9]\d*$", c, re.M) for c in hidden)
    assert len(public) >= questions and all("points: 0" in c and "failure_message:" in c for c in public)
    # Every answer cell assigns my_<name> on a line Otter replaces by `...` in the student build.
    solutions = re.findall(r"^(my_\w+) = .*# SOLUTION$", source, re.M)
    assert len(solutions) == questions


@pytest.mark.parametrize("lab", LABS, ids=[lab.slug for lab in LABS])
def test_every_exercise_draws_from_the_students_parameters(lab):
    module = lab_module(lab)
    assert module.CHOICES and all(len(options) >= 2 for options in module.CHOICES.values())
    source = lab.path.read_text()
    for name in module.CHOICES:
        assert f"P.{name}" in source, name


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


# --- student ids and parameters -----------------------------------------------------------


def test_student_id_from_the_cell_or_the_environment(monkeypatch):
    monkeypatch.delenv(STUDENT_ENV, raising=False)
    assert student_id(" s123 ") == "s123"
    for blank in ("", "  ", None):
        with pytest.raises(EieError, match="set STUDENT_ID to your student id"):
            student_id(blank)
    monkeypatch.setenv(STUDENT_ENV, "s999")  # the grader's id wins over the notebook's
    assert student_id("s123") == student_id("") == "s999"


def test_draws_are_deterministic_per_student_and_parameter(monkeypatch):
    monkeypatch.delenv(STUDENT_ENV, raising=False)
    options = tuple(range(10))
    assert draw("s1", 2, "depth", options) == draw("s1", 2, "depth", options)
    # Over 200 students every option turns up, roughly evenly (20 expected each).
    counts = np.bincount([draw(f"s{i}", 2, "depth", options) for i in range(200)], minlength=10)
    assert counts.min() >= 8 and counts.max() <= 35
    # Parameters and labs draw independently: the same student gets unrelated values.
    assert [draw(f"s{i}", 2, "a", options) for i in range(50)] != [draw(f"s{i}", 2, "b", options) for i in range(50)]
    assert [draw(f"s{i}", 2, "a", options) for i in range(50)] != [draw(f"s{i}", 3, "a", options) for i in range(50)]
    p = student_params("s1", 4, {"n": (2, 3), "t": (0.5, 0.9)})
    assert p.student_id == "s1" and p.n in (2, 3) and p.t in (0.5, 0.9)


@pytest.mark.parametrize("lab", LABS, ids=[lab.slug for lab in LABS])
def test_students_get_different_parameters(lab, monkeypatch):
    monkeypatch.delenv(STUDENT_ENV, raising=False)
    module = lab_module(lab)
    drawn = [vars(module.params(f"student{i}")) for i in range(40)]
    for name, options in module.CHOICES.items():
        assert {d[name] for d in drawn} == set(options), name  # every option is handed out


def test_two_students_get_different_expected_values_in_lab2(monkeypatch):
    from eiesim.labs import lab2

    monkeypatch.delenv(STUDENT_ENV, raising=False)
    alice, bob = lab2.params("alice"), lab2.params("bob")
    assert (alice.z_pe, alice.shallow_depth) == (2, 2) and (bob.z_pe, bob.shallow_depth) == (3, 1)
    # Hand schedule (SPEC §5), broadcast columns 2, 4, 5, 7, c_p(k) rows PE0..PE3:
    # 2 2 2 2 / 4 1 1 1 / 1 2 1 1 / 1 1 4 1, L = 1.
    # D = 2: b = 1, 2, 3, 6; s(2) = 4, 6, 3, 3; s(3) = 6, 7, 5, 4; s(4) = 8, 8, 7, 8;
    # PE0 ends at 10 -> 16 cycles; PE2 waits one cycle (5 + 1 = 6, pops at 7): 1 starved.
    # D = 1: b = 1, 2, 6, 7; PE3 pops column 7 at 11 -> 12 + 6 = 18; starved 1 + 0 + 2 + 3.
    assert (lab2.cycles_of(alice.shallow_depth), lab2.starved_of(alice.shallow_depth)) == (16, 1)
    assert (lab2.cycles_of(bob.shallow_depth), lab2.starved_of(bob.shallow_depth)) == (18, 6)
    # PE2 holds (2, 1), (6, 3), (10, 4), (14, 4), (2, 5), (6, 6), (10, 6): local rows 0, 1,
    # 2 3, 0, 1 2 -> z = 0, 1, 2, 0, 0, 1, 0. PE3: (3, 0), (7, 2), (11, 4), (3, 5), (7, 5),
    # (11, 5), (15, 5), (15, 7): local rows 0, 1, 2, 0 1 2 3, 3 -> z = 0, 1, 2, 0, 0, 0, 0, 3.
    assert lab2.relative_indices_of(alice.z_pe) == [0, 1, 2, 0, 0, 1, 0]
    assert lab2.relative_indices_of(bob.z_pe) == [0, 1, 2, 0, 0, 0, 0, 3]


# --- the comparisons the tests make ------------------------------------------------------


def test_close_uses_the_questions_tolerance_and_rejects_non_answers():
    assert close(12, 12) and close(12.0, 12) and not close(13, 12)
    assert close(0.1001, 0.1, rel=1e-2) and not close(0.1001, 0.1, rel=1e-4)
    assert close(5.4, 5, abs_tol=0.5) and not close(5.6, 5, abs_tol=0.5)
    for bad in (..., None, "12", [12], float("nan"), float("inf"), True):
        assert not close(bad, 12)


def test_number_and_choice_and_sequence_comparisons():
    assert is_number(3) and is_number(2.5) and is_number(np.float64(1.0)) and is_number(np.int64(4))
    assert not any(is_number(v) for v in (True, ..., None, "3", float("nan")))
    assert is_whole(3) and is_whole(3.0) and not is_whole(3.5) and not is_whole(...)
    assert same_choice(" Empty ", "empty") and not same_choice("filler", "empty") and not same_choice(..., "empty")
    assert same_sequence([1, 2], (1, 2)) and same_sequence(np.array([1, 2]), [1, 2])
    assert not same_sequence([1, 3], (1, 2)) and not same_sequence([1], (1, 2))
    assert not same_sequence(..., (1,)) and not same_sequence(["a"], (1,)) and not same_sequence([1.5], [1])


# --- each exercise's answer agrees with a value worked out by hand -------------------------


@pytest.fixture(scope="module")
def quick_store(tmp_path_factory):
    """A small sweep store shared by the sweep-based answers (quick mode: in-process)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(QUICK_ENV, "1")
        yield tmp_path_factory.mktemp("lab-store")


def test_lab3_two_pe_cycles_by_hand():
    from eiesim.labs import lab3

    # Hand-derived with SPEC §5: c0 = 6,1,1,1,1 and c1 = 1,1,1,6,1, L = 1.
    # D = 8: b = 1..5; PE0 ends at 11 + 1, PE1 at 11 + 1 -> 12 + 6 = 18.
    # D = 1: lock step, b = 1, 2, 8, 9, 10; PE1 ends at 16 + 1 -> 17 + 6 = 23.
    # D = 2 still stalls (22 cycles); D = 3 reaches the unbounded queue's 18.
    assert [lab3.two_pe_cycles(d) for d in (1, 2, 3, 8, 256)] == [23, 22, 18, 18, 18]
    # Slack 0 needs D = 3, slack 4 (22 <= 18 + 4) D = 2, slack 5 (23 <= 23) D = 1.
    assert [lab3.full_speed_depth_of(s) for s in (0, 4, 5)] == [3, 2, 1]


def crafted_measured(table: pd.DataFrame):
    """A stand-in for the labs' sweep: the rows of ``table`` at the requested grid."""

    def measured(layers, axes, base=None, store=None):
        rows = table[table.layer.isin(layers)]
        for name, values in {**axes, **{k: [v] for k, v in (base or {}).items()}}.items():
            if name in rows:
                rows = rows[rows[name].isin(values)]
        return rows.reset_index(drop=True)

    return measured


def test_lab3_knee_on_a_table_worked_by_hand(monkeypatch):
    from eiesim.labs import lab3

    # Load efficiency at depths 1, 2, 8, 64. Relative to depth 64: A 0.5, 0.9, 0.96, 1;
    # B 0.5, 0.875, 1, 1. Depth 8 is the first where both reach 1 - 0.05 = 0.95; with a
    # tolerance of 0.1 (>= 0.9) A passes at 2 but B (0.875) not: still 8; at 0.15, 2.
    table = pd.DataFrame({
        "layer": ["A"] * 4 + ["B"] * 4, "queue_depth": [1, 2, 8, 64] * 2, "n_pe": 8,
        "load_efficiency": [0.5, 0.9, 0.96, 1.0, 0.4, 0.7, 0.8, 0.8],
    })
    monkeypatch.setattr(lab3, "measured", crafted_measured(table))
    assert [lab3.knee_depth_of(["A", "B"], [1, 2, 8, 64], 8, None, within=w) for w in (0.05, 0.1, 0.15)] == [8, 8, 2]


def test_lab3_next_cycle_refill_by_hand():
    from eiesim.labs import lab3

    # D = 2 with next-cycle refill: b_k >= max_p s_p(k - 2) + 1 for k > 2.
    # b1 = 1, s = 2, 2; b2 = 2, s0 = max(3, 2 + 6) = 8, s1 = 3; b3 = max(3, 2 + 1) = 3,
    # s0 = 9, s1 = 4; b4 = max(4, s0(2) + 1 = 9) = 9 (same-cycle: 8), s0 = 10, s1 = 10;
    # b5 = max(10, s(3) + 1 = 10) = 10, s0 = 11; PE1 pops column 5 after the six entries of
    # column 4: s1 = max(11, 10 + 6) = 16, ends 17 -> 17 + 6 = 23 cycles (same-cycle: 22).
    # D = 1: 25 against 23. D = 3 and 8: no broadcast waits for a pop, nothing changes.
    assert lab3.two_pe_cycles(2, "next-cycle") == 23 and lab3.two_pe_cycles(8, "next-cycle") == 18
    assert [lab3.refill_cost_of(d) for d in (1, 2, 3, 8)] == [2, 1, 0, 0]


def test_lab3_knee_on_real_runs_is_one_of_the_depths(quick_store):
    from eiesim.labs import lab3

    layers, depths, n_pe = ["synth:64x256:0.2:0.5", "synth:48x128:0.3:1"], [1, 2, 8, 64], 8
    knees = [lab3.knee_depth_of(layers, depths, n_pe, quick_store, within=w) for w in (0.03, 0.1, 1.0)]
    assert all(k in depths for k in knees) and knees == sorted(knees, reverse=True) and knees[-1] == 1


def test_lab4_fillers_by_hand():
    from eiesim.labs import lab4

    rows = [3, 40, 41, 100]
    # N = 1: gaps 3, 36, 0, 58 -> 0 + 2 + 0 + 3. N = 2: PE0 local rows 20, 50 (gaps 20, 29),
    # PE1 local rows 1, 20 (gaps 1, 18) -> 1 + 1 + 0 + 1. N = 3: PE0 rows 3 (1), PE1 40 (13),
    # 100 (33; gap 19), PE2 41 (13) -> 1. N = 4: every gap < 16.
    assert [lab4.column_fillers(rows, n) for n in (1, 2, 3, 4)] == [5, 3, 1, 0]


def test_lab4_sweep_answers_on_a_table_worked_by_hand(monkeypatch):
    from eiesim.labs import lab4

    # Cycles at N = 1, 4, 16, 64: 1000, 260, 80, 40 -> speedup 1, 3.85, 12.5, 25 ->
    # efficiency (speedup / N) 1, 0.96, 0.78, 0.39: N = 16 is the last at >= 0.75, N = 4
    # at >= 0.9, N = 64 at >= 0.3.
    # At N = 64: fillers 100, empty 300, idle 64 x 40 - 2000 = 560 PE-cycles -> idle dominates;
    # at N = 16: fillers 400, empty 100, idle 16 x 80 - 1200 = 80 -> filler.
    table = pd.DataFrame({
        "layer": "L", "n_pe": [1, 4, 16, 64], "cycles": [1000, 260, 80, 40],
        "filler_entries": [0, 0, 400, 100], "empty_columns": [0, 0, 100, 300], "busy_pe_cycles": [0, 0, 1200, 2000],
    })
    monkeypatch.setattr(lab4, "measured", crafted_measured(table))
    assert lab4.scaling_frame(["L"], [1, 4, 16, 64], None).speedup.tolist() == pytest.approx([1, 1000 / 260, 12.5, 25])
    assert [lab4.last_efficient_n_of("L", [1, 4, 16, 64], None, t) for t in (0.75, 0.9, 0.3)] == [16, 4, 64]
    assert lab4.dominant_loss_of("L", 64, [1, 4, 16, 64], None) == "idle"
    assert lab4.dominant_loss_of("L", 16, [1, 4, 16, 64], None) == "filler"


def test_lab4_busy_cycles_are_the_sum_of_entries_and_empty_columns(quick_store):
    from eiesim.labs import lab4

    df = lab4.scaling_frame(["synth:96x256:0.1:1"], [1, 4, 16, 64], quick_store)
    assert df.speedup.iloc[0] == 1.0
    assert (df.real_entries + df.filler_entries + df.empty_columns == df.busy_pe_cycles).all()


def test_notebooks_folder_holds_every_lab():
    from pathlib import Path

    folder = Path(__file__).parents[1] / "notebooks"
    assert {p.name for p in folder.glob("lab*.py")} == {lab.path.name for lab in LABS}


def test_lab2_golden_example_by_hand():
    from eiesim.labs import lab2

    # EIE Fig. 3: PE0's relative row indices.
    assert lab2.relative_indices_of(0) == [0, 1, 0, 1, 0, 2, 0, 0, 0, 2, 0, 2, 0]
    # D = 8: b = 1..4; PE0 pops at 2, 4, 6, 8 and ends at 10 -> 16 cycles, nobody starves.
    assert (lab2.cycles_of(8), lab2.starved_of(8)) == (16, 0)
    # One more column broadcast at D = 8 (columns in order, c = max(1, n)):
    # column 0 (n = 3, 1, 0, 1): PE0 works 3 + 2 + 2 + 2 + 2 = 11 from cycle 2 -> 13 + 6 = 19;
    # column 1, 3 or 6 adds one cycle to PE0 (n = 1, 0, 0 -> c = 1; column 6: n = 1) -> 17;
    # PE2 with column 6 (n = 2): 1 + 2 + 1 + 2 + 1 = 7 < 9.
    assert [lab2.cycles_of(8, extra_column=j) for j in (0, 1, 3, 6)] == [19, 17, 17, 17]


def test_lab2_example_keeps_the_papers_pe0_pattern():
    from eiesim.labs import lab2

    layer, _, _ = lab2.golden_layer()
    assert layer.ptr[0, 0].tolist() == [0, 3, 4, 6, 6, 8, 10, 11, 13]  # EIE Fig. 3
    w = lab2.golden_matrix()
    assert all(r % 4 == p for p, pairs in lab2.NONZEROS.items() for r, _ in pairs)
    assert np.count_nonzero(w) == sum(len(v) for v in lab2.NONZEROS.values())
    a = lab2.golden_activations(extra_column=3)
    assert np.flatnonzero(a).tolist() == [2, 3, 4, 5, 7] and a[3] == 1.0


@pytest.fixture(scope="module")
def small_layer():
    from eiesim.config import ArchConfig
    from eiesim.labs import lab5

    config = ArchConfig(n_pe=16)
    layer, acts = lab5.lab_layer("synth:128x256:0.1:0.5", config)
    return layer, acts, config


def test_lab5_energy_answers(small_layer):
    import math

    from eiesim.labs import lab5
    from eiesim.simulation import simulate

    layer, acts, config = small_layer
    result = simulate(layer, acts, config)
    # 128 KB lies between 32 KB (20 pJ) and 1 MB (100 pJ) on a log-log line.
    per_read = 20 * (128 / 32) ** (math.log(100 / 20) / math.log(1024 / 32))
    assert lab5.spmat_energy_of(layer, acts, config) == pytest.approx(result.counters.spmat_row_reads * per_read)

    reads = {w: simulate(layer, acts, config.replace(spmat_width_bits=w)).counters.spmat_row_reads
             for w in (64, 128, 256)}
    f = 2 - reads[64] / reads[128]  # r64 x 1 = r128 x (f + 2 (1 - f))
    assert lab5.break_even_fraction_of(layer, acts, config) == pytest.approx(f)
    f256 = (4 - reads[64] / reads[256]) / 3  # r64 = r256 x (f + 4 (1 - f))
    assert lab5.break_even_fraction_of(layer, acts, config, 64, 256) == pytest.approx(f256)
    df = lab5.read_energy_by_width(layer, acts, config, [64, 128], fixed_fraction=f)
    assert df.read_energy_pj.iloc[0] == pytest.approx(df.read_energy_pj.iloc[1])
    with pytest.raises(EieError, match="fixed_fraction"):
        lab5.read_energy_by_width(layer, acts, config, [64], fixed_fraction=1.0)

    # The answer divides the float32 run's total by the fixed-point run's: with totals of
    # 300 pJ and 120 pJ it is 2.5 (not the inverse, 0.4).
    class Run:
        def __init__(self, total):
            self.energy = type("Energy", (), {"total": total})()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lab5, "_simulate", lambda layer, acts, cfg: Run(300.0 if cfg.precision == "float32" else 120.0))
        assert lab5.float32_ratio_of(layer, acts, config) == pytest.approx(2.5)
    # On the real layer float32 costs more: a 32-bit float MULT is 3.7 pJ, a 16-bit integer
    # one at most 3.1 (the 32-bit figure), and every other event is at least as wide.
    assert lab5.float32_ratio_of(layer, acts, config) > 1

    m, k = layer.shape
    bits = layer.n_entries * 8 + layer.n_blocks * 16 * (k + 1) * 16 + 16 * 16
    dram = math.ceil(bits / 32) * 640.0 / result.energy.total
    assert lab5.dram_ratio_of(layer, acts, config) == pytest.approx(dram)


def test_lab5_layer_seed_changes_the_layer():
    from eiesim.config import ArchConfig
    from eiesim.labs import lab5

    config = ArchConfig(n_pe=16)
    (l1, a1), (l2, a2) = (lab5.lab_layer("synth:128x256:0.1:0.5", config, seed=s) for s in (1, 2))
    assert not np.array_equal(a1, a2) or not np.array_equal(l1.code, l2.code)


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


def test_lab1_survivors_and_huffman_ratio(digits_linear_model):
    from compressor.csc import compress_layer
    from compressor.huffman import HuffmanCode
    from eiesim.config import ArchConfig
    from eiesim.labs import lab1

    assert lab1.survivors_of((300, 64), 0.08) == 1536  # 0.08 x 19200
    assert lab1.survivors_of((300, 64), 0.11) == 2112  # 0.11 x 19200

    [(w, _)], _ = digits_linear_model
    layer = compress_layer(w, ArchConfig(n_pe=4))
    codes, rel = HuffmanCode.from_symbols(layer.code, 16), HuffmanCode.from_symbols(layer.rel, 16)
    stored = (codes.encoded_bits + rel.encoded_bits + codes.table_bits + rel.table_bits
              + layer.ptr.size * 16 + 16 * 16)
    assert lab1.huffman_ratio_of(w, 4) == pytest.approx(w.size * 32 / stored)


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


def test_lab1_accuracy_answers(digits_linear_model):
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
    for bits in (1, 2, 3):
        at = {init: loss(lab1.shared_layers(layers, bits, init)) for init in lab1.INITS}
        assert lab1.better_init_of(layers, data, bits) == min(at, key=at.get)

    bits_list = [1, 2, 3, 4, 6]
    base = acc(layers)
    for tolerance in (0.01, 0.05):
        fewest = min(b for b in bits_list if acc(lab1.shared_layers(layers, b, "linear")) >= base - tolerance)
        assert lab1.smallest_bits_of(layers, data, bits_list, tolerance=tolerance) == fewest
    with pytest.raises(EieError, match="no codebook size"):
        lab1.smallest_bits_of(layers, data, [1], tolerance=-1.0)


def fake_report():
    """A baseline report with made-up timings (the answers only read it)."""
    from workloads.baselines import BaselineReport, EieRow, Measurement, Stats

    def m(kind, batch, seconds):
        return Measurement("Alex-7", "cpu", kind, batch, Stats.of([seconds]))

    return BaselineReport({}, {}, [m("dense", 1, 1e-3), m("sparse", 1, 4e-4), m("dense", 64, 6.4e-3)],
                          [EieRow("Alex-7", 64, "fast", 10000, 12.5e-6, None, "")])


def test_lab6_answers_on_a_made_up_report():
    from eiesim.labs import lab6

    report = fake_report()
    assert lab6.seconds_per_frame(report, "Alex-7")["cpu-dense-b64"] == pytest.approx(1e-4)
    assert lab6.speedup_of(report, "Alex-7", column="eie-64pe", over="cpu-dense-b1") == pytest.approx(80)  # 1e-3 / 12.5e-6
    assert lab6.speedup_of(report, "Alex-7", column="eie-64pe", over="cpu-sparse-b1") == pytest.approx(32)
    assert lab6.speedup_of(report, "Alex-7", column="eie-64pe", over="cpu-dense-b64") == pytest.approx(8)  # 1e-4 / 12.5e-6
    assert lab6.fastest_of(report, "Alex-7") == "eie-64pe"
    with pytest.raises(EieError, match="no column 'gpu-dense-b1'"):
        lab6.speedup_of(report, "Alex-7", column="eie-64pe", over="gpu-dense-b1")
    with pytest.raises(EieError, match="no layer 'VGG-6'"):
        lab6.fastest_of(report, "VGG-6")


def test_lab7_storage_formats_by_hand():
    from eiesim.labs import lab7

    w = np.zeros((3, 8))
    w[0, [1, 5]] = 0.5
    w[2, [0, 3, 7]] = -0.25
    # 5 weights x (4-bit code + 3-bit column) + 4 row pointers x 3 bits + 16 x 16-bit codebook.
    assert lab7.csr_bits(w) == 5 * 7 + 4 * 3 + 256
    assert lab7.csr_bits(w, 3) == 5 * 6 + 4 * 3 + 8 * 16  # 3-bit codes, 8-entry codebook

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


def test_lab7_least_storage_and_ppr():
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

    assert lab7.least_storage_of(matrices, config) == min(matrices, key=lambda s: eie_bits(matrices[s][0]))
    assert lab7.least_storage_of(matrices, config, "csr") == min(matrices, key=lambda s: lab7.csr_bits(matrices[s][0]))

    pruned = matrices["unstructured"][0]
    acts = np.abs(rng.normal(size=(2, 48)))
    cycles = lambda w: np.mean([simulate(compress_layer(w, config), a, config).cycles for a in acts])  # noqa: E731
    expected = (dense.size / np.count_nonzero(pruned)) / (cycles(dense) / cycles(pruned))
    assert lab7.ppr_of([pruned], [dense], [acts], config) == pytest.approx(expected)
    curve = lab7.ppr_curve({("unstructured", 0.25): [pruned]}, [dense], {("unstructured", 0.25): [acts]}, config)
    assert curve["PPR"].iloc[0] == pytest.approx(expected) and curve["pruning rate"].iloc[0] == 4.0  # 1536 / 384


def test_lab7_balanced_share():
    from eiesim.labs import lab7

    # fc1 of LeNet-300-100 on the digits: 300 x 64 over 64 PEs -> density x 300 per PE.
    assert [lab7.balanced_share_of(300, 64, d, 64) for d in (0.05, 0.1, 0.2)] == [15, 30, 60]
    w = np.random.default_rng(0).normal(size=(300, 64))
    kept = lab7.mask(w, "balanced", 0.1)
    assert {int(kept[p::64].sum()) for p in range(64)} == {30}
