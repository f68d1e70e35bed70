"""``eiesim lab``: list and open the labs, build the three Otter versions of each, and grade a
folder of notebooks (full marks for the solutions, nothing for the unanswered student
build, a loop stopped, a cell error confined to its question, a copied answer caught)."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import nbformat
import pytest

from eiesim.labs import list_labs
from eiesim.labs.checking import STUDENT_ENV

LABS = list_labs()
# Labs whose notebooks train or time with PyTorch (an optional extra): skipped without it.
NEEDS_TORCH = {"lab1_deep_compression", "lab6_baselines", "lab7_structured_pruning"}
GRADE_TIMEOUT_S = 300


def has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def read_csv(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def otter_tests(path) -> dict:
    return nbformat.read(path, as_version=4).metadata["otter"]["tests"]


def cases(tests: dict, hidden: bool) -> list[tuple[str, dict]]:
    return [(name, case) for name, test in tests.items() for suite in test["suites"] for case in suite["cases"]
            if case["hidden"] is hidden]


def doctest_source(code: str) -> str:
    return "\n".join(line[4:] for line in code.splitlines() if line.startswith((">>> ", "... ")))


# --- list and open -------------------------------------------------------------------------


def test_lab_list_shows_every_lab_with_its_number(run_cli):
    code, out, err = run_cli("lab", "list")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == len(list_labs()) >= 7
    for lab, line in zip(list_labs(), lines):
        assert line.split(maxsplit=1) == [str(lab.number), lab.title]
        assert lab.title.startswith(f"Lab {lab.number}: ")


def test_lab_open_writes_the_student_notebook(run_cli, tmp_path):
    code, out, err = run_cli("lab", "open", "3", "--dest", tmp_path)
    assert code == 0, err
    target = tmp_path / "lab3_activation_queues.ipynb"
    assert f"wrote {target}" in out
    nb = nbformat.read(target, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert nb.cells[0].source.startswith("# Initialize Otter")  # grader.check needs it
    sources = [c.source for c in nb.cells]
    assert "my_cycles = ..." in sources and not any("# SOLUTION" in s for s in sources)
    assert not cases(nb.metadata.otter.tests, hidden=True) and cases(nb.metadata.otter.tests, hidden=False)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temporary left


def test_lab_open_by_file_stem(run_cli, tmp_path):
    code, _, err = run_cli("lab", "open", "lab2_pe_array", "--dest", tmp_path)
    assert code == 0, err
    assert (tmp_path / "lab2_pe_array.ipynb").is_file()


def test_lab_open_defaults_to_the_working_directory(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("lab", "open", "1")
    assert code == 0, err
    assert (tmp_path / "lab1_deep_compression.ipynb").is_file()


def test_lab_open_refuses_to_overwrite(run_cli, tmp_path):
    target = tmp_path / "lab4_scaling_pes.ipynb"
    target.write_text("my work")
    code, out, err = run_cli("lab", "open", "4", "--dest", tmp_path)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "already exists" in err and "Traceback" not in err
    assert target.read_text() == "my work"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


@pytest.mark.parametrize("args, message", [
    (("lab", "open", "99"), "no lab '99'; choose one of 1, 2"),
    (("lab", "open", "0"), "no lab '0'"),
    (("lab", "open", "3", "--dest", "{tmp}/missing"), "is not an existing folder"),
])
def test_lab_open_bad_input_is_one_line(run_cli, tmp_path, args, message):
    code, out, err = run_cli(*(a.format(tmp=tmp_path) for a in args))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and message in err


def test_lab_open_dest_that_is_a_file(run_cli, tmp_path):
    path = tmp_path / "file"
    path.write_text("")
    code, _, err = run_cli("lab", "open", "3", "--dest", path)
    assert code != 0 and err.count("\n") == 1 and "is a file" in err


def test_lab_open_needs_a_number(run_cli):
    code, _, err = run_cli("lab", "open")
    assert code == 2 and "Missing argument" in err


def test_lab_sources_missing_is_one_line(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("EIESIM_LAB_SOURCES", str(tmp_path / "nowhere"))
    code, out, err = run_cli("lab", "list")
    assert code == 1 and out == "" and err.count("\n") == 1 and "lab sources not found" in err


# --- build: student, solution, autograder ---------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Every lab built once (Otter Assign does not run the notebooks: seconds)."""
    from eiesim.labs.grading import build

    out = tmp_path_factory.mktemp("built") / "course"
    return {b.lab.slug: b for b in build(out)}


def test_build_writes_three_versions_per_lab(built):
    assert set(built) == {lab.slug for lab in LABS}
    for slug, b in built.items():
        assert b.student == b.student.parents[1] / "student" / f"{slug}.ipynb" and b.student.is_file()
        assert b.solution == b.solution.parents[1] / "solution" / f"{slug}.ipynb" and b.solution.is_file()
        assert b.autograder.name == f"{slug}-autograder.zip" and b.autograder.is_file()
        assert sorted(p.name for p in b.student.parents[1].iterdir()) == ["autograder", "solution", "student"]
    assert not [p for p in next(iter(built.values())).student.parents[2].iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("lab", LABS, ids=[lab.slug for lab in LABS])
def test_student_build_has_no_solutions_and_no_hidden_tests(built, lab):
    b = built[lab.slug]
    solution, student = otter_tests(b.solution), otter_tests(b.student)
    text = b.student.read_text()
    hidden = cases(solution, hidden=True)
    assert {name for name, _ in hidden} == set(solution) == set(student)  # every question has one
    for _, case in hidden:
        assert doctest_source(case["code"]) not in text
        for line in doctest_source(case["code"]).splitlines():
            if line.startswith("assert"):
                assert line not in text
    assert not cases(student, hidden=True)
    # Every answer line of the solution is `my_x = ...` in the student notebook, and no
    # solution expression survives.
    sol_cells = [c.source for c in nbformat.read(b.solution, as_version=4).cells if c.cell_type == "code"]
    stu_cells = [c.source for c in nbformat.read(b.student, as_version=4).cells if c.cell_type == "code"]
    answers = re.findall(r"^(my_\w+) = (.*?)\s*# SOLUTION$", "\n".join(sol_cells), re.M)
    assert len(answers) == len(solution)
    for name, expression in answers:
        assert f"{name} = ..." in "\n".join(stu_cells) and expression not in text
    assert "BEGIN SOLUTION" not in text and "# SOLUTION" not in text


@pytest.mark.parametrize("lab", LABS, ids=[lab.slug for lab in LABS])
def test_public_checks_are_valid_python_with_a_hint_and_no_points(built, lab):
    b = built[lab.slug]
    public = cases(otter_tests(b.student), hidden=False)
    assert {name for name, _ in public} == set(otter_tests(b.solution))
    for name, case in public:
        compile(doctest_source(case["code"]), f"{lab.slug}:{name}", "exec")
        assert case["points"] == 0 and len(case["failure_message"]) > 20
    cells = [c.source for c in nbformat.read(b.student, as_version=4).cells]
    assert [s for s in cells if s.startswith("grader.check(")] == [f'grader.check("{q}")' for q in otter_tests(b.student)]


@pytest.mark.parametrize("lab", LABS, ids=[lab.slug for lab in LABS])
def test_autograder_zip_holds_the_weighted_hidden_tests(built, lab):
    b = built[lab.slug]
    with zipfile.ZipFile(b.autograder) as z:
        names = set(z.namelist())
        assert {"run_autograder", "setup.sh", "otter_config.json"} <= names
        config = json.loads(z.read("otter_config.json"))
        assert config.get("show_hidden") is False
        for q, test in otter_tests(b.solution).items():
            text = z.read(f"tests/{q}.py").decode()
            hidden = [c for s in test["suites"] for c in s["cases"] if c["hidden"]]
            assert len(hidden) == 1 and hidden[0]["points"] > 0 and "'hidden': True" in text


def test_build_cli_one_lab_and_refusals(run_cli, tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("eiesim @ file:///opt/eiesim\n")
    code, out, err = run_cli("lab", "build", "--out", tmp_path / "course", "--lab", "2", "--requirements", req)
    assert code == 0, err
    assert out.startswith("lab2_pe_array: ")
    folder = tmp_path / "course" / "lab2_pe_array"
    with zipfile.ZipFile(folder / "autograder" / "lab2_pe_array-autograder.zip") as z:
        assert "- eiesim @ file:///opt/eiesim" in z.read("environment.yml").decode()  # pip installs it
    before = (folder / "student" / "lab2_pe_array.ipynb").read_bytes()
    code, out, err = run_cli("lab", "build", "--out", tmp_path / "course", "--lab", "2")
    assert code == 1 and err.count("\n") == 1 and "already exists" in err
    assert (folder / "student" / "lab2_pe_array.ipynb").read_bytes() == before


@pytest.mark.parametrize("args, message", [
    (("--lab", "99"), "no lab '99'"),
    (("--requirements", "{tmp}/missing.txt"), "requirements file"),
])
def test_build_cli_bad_input_is_one_line(run_cli, tmp_path, args, message):
    code, out, err = run_cli("lab", "build", "--out", tmp_path / "c", *(a.format(tmp=tmp_path) for a in args))
    assert code == 1 and out == "" and err.count("\n") == 1 and message in err
    assert not (tmp_path / "c").exists()


def test_build_cli_out_is_a_file_or_has_no_parent(run_cli, tmp_path):
    (tmp_path / "f").write_text("")
    for out, message in ((tmp_path / "f", "exists and is not a folder"), (tmp_path / "no" / "c", "does not exist")):
        code, _, err = run_cli("lab", "build", "--out", out, "--lab", "2")
        assert code == 1 and err.count("\n") == 1 and message in err


# --- grade: every lab's solutions score full marks, its student build nothing ---------------


def grade(lab, folder, out, **options):
    from eiesim.labs.grading import grade as grade_folder

    options = {"timeout_s": GRADE_TIMEOUT_S, "quick": True, "id_from_filename": True, **options}
    return {g.notebook: g for g in grade_folder(lab, folder, out, **options)}


# `make test` grades a fixed sample of the labs (the first three: compression, the PE array,
# the queues); `make test-deep` grades every lab (10 to 25 s each on 2 cores).
SAMPLED_LABS = 3


@pytest.mark.parametrize("lab", [pytest.param(lab, id=lab.slug, marks=[pytest.mark.slow] if i >= SAMPLED_LABS else [])
                                 for i, lab in enumerate(LABS)])
def test_solution_scores_full_marks_and_the_student_build_nothing(built, lab, tmp_path):
    if lab.slug in NEEDS_TORCH and not has_torch():
        pytest.skip(f"{lab.slug} needs torch")
    from eiesim.labs.grading import question_points

    b = built[lab.slug]
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(b.solution, subs / "alice.ipynb")
    shutil.copy(b.student, subs / "bob.ipynb")
    grades = grade(lab.number, subs, tmp_path / "grades.csv")
    points = question_points(b.solution)
    assert grades["alice.ipynb"].scores == points and grades["alice.ipynb"].message == ""
    assert grades["bob.ipynb"].scores == {q: 0.0 for q in points} and grades["bob.ipynb"].message == ""
    rows = read_csv(tmp_path / "grades.csv")
    assert [r["notebook"] for r in rows] == ["alice.ipynb", "bob.ipynb"]
    assert rows[0]["total"] == rows[0]["max"] == f"{sum(points.values()):g}" and rows[1]["total"] == "0"
    # Otter's results carry visibility per test: the hidden tests' scores stay hidden.
    visibility = {t["name"]: t["visibility"] for t in grades["alice.ipynb"].tests}
    assert visibility == {"Public Tests": "visible", **{q: "hidden" for q in points}}


# --- grade: wrong answers, errors, loops, copied answers (lab 2, the quickest) --------------


def notebook_with(source: Path, target: Path, edits: dict[str, str]) -> Path:
    """A copy of ``source`` whose code cells starting with a key are replaced by its value."""
    nb = nbformat.read(source, as_version=4)
    for start, new in edits.items():
        [cell] = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(start)]
        cell.source = new
    nbformat.write(nb, target)
    return target


def test_grading_wrong_answers_errors_and_copied_answers(built, tmp_path, monkeypatch):
    from eiesim.labs import lab2

    monkeypatch.delenv(STUDENT_ENV, raising=False)
    solution = built["lab2_pe_array"].solution
    subs = tmp_path / "subs"
    subs.mkdir()
    alice, bob = lab2.params("alice"), lab2.params("bob")
    # Ids come from the file names. Alice submits the solution; Carol answers q1 and q3
    # wrongly; Dave's notebook raises in q2's cell; Bob typed in Alice's numbers.
    shutil.copy(solution, subs / "alice.ipynb")
    notebook_with(solution, subs / "carol.ipynb", {
        "my_z =": "my_z = [0] * 7  # wrong: every z zero",
        "my_cycles_shallow =": "my_cycles_shallow = 17  # wrong by one",
    })
    notebook_with(solution, subs / "dave.ipynb", {"my_cycles_deep =": "raise RuntimeError('oops')"})
    notebook_with(solution, subs / "bob.ipynb", {
        "my_z =": f"my_z = {lab2.relative_indices_of(alice.z_pe)}",
        "my_cycles_deep =": f"my_cycles_deep = {lab2.cycles_of(8, alice.extra_column)}",
        "my_cycles_shallow =": f"my_cycles_shallow = {lab2.cycles_of(alice.shallow_depth)}",
        "my_starved =": f"my_starved = {lab2.starved_of(alice.shallow_depth)}",
    })
    grades = grade(2, subs, tmp_path / "grades.csv")
    full = {"q1": 2.0, "q2": 2.0, "q3": 2.0, "q4": 1.0}
    assert grades["alice.ipynb"].scores == full
    assert grades["carol.ipynb"].scores == {**full, "q1": 0.0, "q3": 0.0} and grades["carol.ipynb"].message == ""
    assert grades["dave.ipynb"].scores == {**full, "q2": 0.0} and grades["dave.ipynb"].message == "errors in q2"
    # Alice's and Bob's parameters differ (PE 2 vs 3, extra column 3 vs 1, depth 2 vs 1):
    # Alice's numbers fail Bob's questions except q2, where both extra columns give 17.
    assert (alice.z_pe, alice.extra_column, alice.shallow_depth) != (bob.z_pe, bob.extra_column, bob.shallow_depth)
    assert lab2.cycles_of(8, alice.extra_column) == lab2.cycles_of(8, bob.extra_column) == 17
    assert grades["bob.ipynb"].scores == {"q1": 0.0, "q2": 2.0, "q3": 0.0, "q4": 0.0}
    # The same notebook graded under the id written in it (no --id-from-filename): all right.
    only = tmp_path / "only"
    only.mkdir()
    notebook_with(subs / "bob.ipynb", only / "bob.ipynb", {'STUDENT_ID = ""': 'STUDENT_ID = "alice"\nP = check.params(STUDENT_ID)'})
    assert grade(2, only, tmp_path / "g2.csv", id_from_filename=False)["bob.ipynb"].scores == full


def test_a_looping_cell_is_interrupted_and_only_its_question_lost(built, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    notebook_with(built["lab2_pe_array"].solution, subs / "erin.ipynb", {"my_cycles_shallow =": "while True:\n    pass"})
    grades = grade(2, subs, tmp_path / "grades.csv", cell_timeout_s=8)
    assert grades["erin.ipynb"].scores == {"q1": 2.0, "q2": 2.0, "q3": 0.0, "q4": 1.0}
    assert grades["erin.ipynb"].message == "1 cell(s) stopped after 8 s; errors in q3"


def test_a_notebook_that_never_ends_is_stopped_and_graded(built, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    # A loop that swallows the interrupt: only the notebook's time limit ends it.
    notebook_with(built["lab2_pe_array"].solution, subs / "gina.ipynb", {"my_starved =": (
        "import time\nwhile True:\n    try:\n        time.sleep(0.1)\n    except KeyboardInterrupt:\n        pass")})
    (subs / "frank.ipynb").write_text("{not a notebook")
    grades = grade(2, subs, tmp_path / "grades.csv", timeout_s=10, cell_timeout_s=3)
    assert grades["gina.ipynb"].scores == {"q1": 0.0, "q2": 0.0, "q3": 0.0, "q4": 0.0}
    assert grades["gina.ipynb"].message.startswith("stopped after 10 s")
    assert grades["frank.ipynb"].message.startswith("not graded: ")
    rows = read_csv(tmp_path / "grades.csv")
    assert [(r["notebook"], r["total"]) for r in rows] == [("frank.ipynb", "0"), ("gina.ipynb", "0")]


@pytest.mark.parametrize("args, message", [
    (("--lab", "99", "{subs}"), "no lab '99'"),
    (("--lab", "2", "{tmp}/missing"), "does not exist or is not a folder"),
    (("--lab", "2", "{tmp}/empty"), "no .ipynb notebooks in"),
    (("--lab", "2", "{subs}", "--out", "{tmp}/no/grades.csv"), "does not exist"),
])
def test_grade_cli_bad_input_is_one_line(run_cli, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "x.ipynb").write_text("{}")
    args = [a.format(tmp=tmp_path, subs=tmp_path / "subs") for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "grades.csv")]
    code, out, err = run_cli("lab", "grade", *args)
    assert code == 1 and out == "" and err.count("\n") == 1 and message in err
    assert not (tmp_path / "grades.csv").exists()


@pytest.mark.parametrize("option", ["--timeout", "--cell-timeout"])
def test_grade_cli_time_limits_must_be_positive(run_cli, tmp_path, option):
    code, _, err = run_cli("lab", "grade", "--lab", "2", tmp_path, "--out", tmp_path / "g.csv", option, "0")
    assert code == 2 and option in err


# --- make lab: Jupyter runs as root only with --allow-root -----------------------------------


def test_make_lab_starts_jupyter_with_allow_root_only_as_root(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    repo = Path(__file__).parents[1]
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log = tmp_path / "calls.log"
    for tool in ("python", "eiesim", "jupyter"):  # stand-ins that record their arguments
        script = venv / "bin" / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\n')
        script.chmod(0o755)
    (tmp_path / "pyproject.toml").write_text("")
    (venv / ".installed").write_text("")
    os.utime(tmp_path / "pyproject.toml", (0, 0))
    (tmp_path / "notebooks").symlink_to(repo / "notebooks")
    proc = subprocess.run(["make", "-f", str(repo / "Makefile"), "lab", f"VENV={venv}"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    assert sum(c.startswith("eiesim lab open ") for c in calls) == len(LABS)
    [jupyter] = [c for c in calls if c.startswith("jupyter ")]
    expected = "jupyter lab --allow-root labs" if os.geteuid() == 0 else "jupyter lab labs"
    assert jupyter == expected


def test_build_and_grade_help_document_every_option(run_cli):
    for command, options in (("build", ("--out", "--lab", "--requirements")),
                             ("grade", ("--lab", "SUBMISSIONS", "--out", "--timeout", "--cell-timeout", "--quick",
                                        "--id-from-filename"))):
        code, out, _ = run_cli("lab", command, "--help")
        assert code == 0 and all(option in out for option in options)
