"""Assign and grade the labs with Otter-Grader: one source, three builds, offline grading.

Each lab source (a jupytext script in the repository's ``notebooks/``) is an Otter Assign
notebook: raw cells ``# BEGIN QUESTION`` / ``# BEGIN SOLUTION`` / ``# BEGIN TESTS`` mark
the questions, their solutions and their test cases (public ones with 0 points that only
hint, hidden ones with the question's weight). :func:`build` runs Otter Assign on it and
writes, per lab, a student notebook (solutions replaced by ``...``, hidden tests gone),
the solution notebook and Otter's Gradescope autograder zip. :func:`grade` runs
``otter run`` on every notebook of a folder, each in its own process with time limits per
cell and per notebook, and writes one row of per-question scores per notebook.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from eiecore.atomic import check_output_folder, check_outputs, text_writer
from eiecore.errors import EieError
from eiesim.labs import QUICK_ENV
from eiesim.labs.catalog import Lab, get_lab, list_labs
from eiesim.labs.checking import STUDENT_ENV

# Otter Assign's configuration, the same for every lab (the first cell of each build).
ASSIGNMENT_CONFIG = """\
# ASSIGNMENT CONFIG
init_cell: true
check_all_cell: false
export_cell: false
run_tests: false
generate:
    show_hidden: false
    show_stdout: false
"""
INTERRUPTED = "eiesim-grade: interrupted cells: "  # how the grading process reports them


@dataclass(frozen=True)
class LabBuild:
    """Where :func:`build` put one lab's three builds."""

    lab: Lab
    student: Path
    solution: Path
    autograder: Path


def _master(lab: Lab, folder: Path, requirements: Path | None) -> Path:
    """The lab source as an Otter Assign master notebook, the assignment config first."""
    import jupytext
    import nbformat

    notebook = jupytext.read(lab.path)
    config = ASSIGNMENT_CONFIG
    if requirements is not None:
        shutil.copy(requirements, folder / "requirements.txt")
        config += "requirements: requirements.txt\n"
    notebook.cells.insert(0, nbformat.v4.new_raw_cell(config))
    notebook.metadata.pop("jupytext", None)
    master = folder / lab.notebook_name
    nbformat.write(notebook, master)
    return master


def assign(lab: Lab, work: Path, requirements: Path | None = None) -> LabBuild:
    """Otter Assign on one lab inside ``work``; returns where its builds landed."""
    from otter.assign import main as otter_assign

    source = work / "source"
    source.mkdir()
    master = _master(lab, source, requirements)
    dist = work / "dist"
    cwd = os.getcwd()
    try:
        otter_assign(str(master), str(dist), no_pdfs=True, no_run_tests=True)
    except Exception as exc:  # Otter reports a malformed source as a plain exception
        raise EieError(f"{lab.slug}: Otter Assign failed: {exc}") from None
    finally:
        os.chdir(cwd)  # Otter Assign works inside the output folder
    zips = sorted((dist / "autograder").glob("*.zip"))
    if len(zips) != 1:
        raise EieError(f"{lab.slug}: Otter Assign wrote {len(zips)} autograder zips, expected 1")
    return LabBuild(lab, dist / "student" / lab.notebook_name, dist / "autograder" / lab.notebook_name, zips[0])


def build(out: str | os.PathLike, labs: list[Lab] | None = None, requirements: str | os.PathLike | None = None,
          progress: bool = False) -> list[LabBuild]:
    """Write each lab's student notebook, solution notebook and autograder zip under ``out``.

    Per lab, ``out/<slug>/student/<slug>.ipynb``, ``out/<slug>/solution/<slug>.ipynb`` and
    ``out/<slug>/autograder/<slug>-autograder.zip``. ``requirements`` (a pip requirements
    file) is added to the zip's environment so that Gradescope installs the package.
    Refuses to replace a lab folder that exists; a lab folder appears whole or not at all.
    """
    from tqdm.auto import tqdm

    out = check_output_folder("--out", out)  # a read-only or full disk is found before any build
    req = None if requirements is None else Path(requirements)
    if req is not None and not req.is_file():
        raise EieError(f"requirements file {req} does not exist")
    labs = list_labs() if labs is None else labs
    for lab in labs:
        if (out / lab.slug).exists():
            raise EieError(f"{out / lab.slug} already exists; remove it or choose another --out")
    out.mkdir(exist_ok=True)
    built = []
    for lab in tqdm(labs, desc="labs", unit="lab", disable=not progress):
        with tempfile.TemporaryDirectory(dir=out, prefix=f".{lab.slug}-") as tmp:
            work = Path(tmp)
            made = assign(lab, work, req)
            staged = work / lab.slug
            for kind, path, name in (("student", made.student, lab.notebook_name),
                                     ("solution", made.solution, lab.notebook_name),
                                     ("autograder", made.autograder, f"{lab.slug}-autograder.zip")):
                (staged / kind).mkdir(parents=True)
                shutil.move(path, staged / kind / name)
            staged.rename(out / lab.slug)
        final = out / lab.slug
        built.append(LabBuild(lab, final / "student" / lab.notebook_name, final / "solution" / lab.notebook_name,
                              final / "autograder" / f"{lab.slug}-autograder.zip"))
    return built


def question_points(notebook: str | os.PathLike) -> dict[str, float]:
    """Question name -> points, from the Otter tests stored in a built notebook."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    tests = nb.metadata.get("otter", {}).get("tests", {})
    return {name: float(sum(case.get("points") or 0 for suite in test["suites"] for case in suite["cases"]))
            for name, test in tests.items()}


@dataclass
class Grade:
    """One notebook's outcome: per-question scores and a message (empty when all ran)."""

    notebook: str
    scores: dict[str, float]
    message: str = ""
    tests: list[dict] = field(default_factory=list)  # Otter's results entries, visibility included


def _sandbox_env(home: Path, quick: bool, student: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "EIESIM_FC8_DIR",
                                                         "VIRTUAL_ENV", "NUMBA_CACHE_DIR")}
    env.update(HOME=str(home), TMPDIR=str(home), MPLBACKEND="Agg", PYTHONHASHSEED="0",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if quick:
        env[QUICK_ENV] = "1"
    if student is not None:
        env[STUDENT_ENV] = student
    return env


def _otter_run(cell_timeout_s: int, submission: str, autograder: str, results: str) -> None:
    """``otter run`` with a time limit per cell (runs in the grading process).

    A cell still running after ``cell_timeout_s`` is interrupted like Ctrl-C and the notebook
    goes on, so only the questions that need that cell lose their points. Otter builds its
    executor from nbconvert's ``ExecutePreprocessor`` when it grades, so a subclass with
    these two settings stands in for it. Prints the interrupted cells' count.
    """
    import nbconvert.preprocessors
    from otter.run import main as otter_run
    from traitlets import Bool, Integer

    class CellLimited(nbconvert.preprocessors.ExecutePreprocessor):
        timeout = Integer(cell_timeout_s).tag(config=True)
        interrupt_on_timeout = Bool(True).tag(config=True)

    nbconvert.preprocessors.ExecutePreprocessor = CellLimited
    graded = otter_run(submission, autograder=autograder, output_dir=results, no_logo=True)
    cells = getattr(graded, "notebook", None)
    stopped = sum(1 for cell in (cells.cells if cells else []) for out in cell.get("outputs", [])
                  if out.get("ename") == "KeyboardInterrupt")
    print(f"{INTERRUPTED}{stopped}")


def grade_notebook(notebook: Path, autograder: Path, points: dict[str, float], timeout_s: float,
                   cell_timeout_s: float, quick: bool = False, student: str | None = None) -> Grade:
    """Run ``otter run`` on one notebook in a process of its own, stopped after ``timeout_s``.

    The process gets its own session (killed whole at the time limit), working folder,
    HOME and temporary folder. A notebook whose cells raise or loop still gets graded: Otter
    keeps going after an error, and a cell running longer than ``cell_timeout_s`` is
    interrupted; the questions whose tests then fail score 0 and the message names them. A
    notebook stopped at ``timeout_s``, or one Otter cannot read, scores 0 everywhere, with
    the reason in the message.
    """
    zero = {name: 0.0 for name in points}
    with tempfile.TemporaryDirectory(prefix="eiesim-grade-") as tmp:
        work = Path(tmp)
        results = work / "results"
        results.mkdir()
        submission = work / notebook.name
        shutil.copyfile(notebook, submission)
        cmd = [sys.executable, "-c", "import sys; from eiesim.labs.grading import _otter_run; "
               "_otter_run(int(sys.argv[1]), *sys.argv[2:])",
               str(max(1, int(cell_timeout_s))), str(submission), str(autograder), str(results)]
        proc = subprocess.Popen(cmd, cwd=work, env=_sandbox_env(work, quick, student), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            output, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return Grade(notebook.name, zero, f"stopped after {timeout_s:g} s (an endless loop, or too slow): "
                                              "every question scores 0")
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        path = results / "results.json"
        if proc.returncode != 0 or not path.is_file():
            lines = [ln for ln in output.decode(errors="replace").splitlines() if ln.strip()]
            reason = lines[-1] if lines else f"exit status {proc.returncode}"
            return Grade(notebook.name, zero, f"not graded: {reason}")
        tests = json.loads(path.read_text())["tests"]
    printed = output.decode(errors="replace")
    stopped = int(printed.rsplit(INTERRUPTED, 1)[1].split()[0]) if INTERRUPTED in printed else 0
    scores = dict(zero)
    failed = []
    for entry in tests:
        name = entry["name"]
        if name in scores:
            scores[name] = float(entry.get("score") or 0.0)
            # A wrong answer fails an assert; any other exception means the code did not run.
            if "Error" in entry.get("output", "").replace("AssertionError", "") and scores[name] < points[name]:
                failed.append(name)
    message = f"errors in {', '.join(failed)}" if failed else ""
    if stopped:
        message = f"{stopped} cell(s) stopped after {cell_timeout_s:g} s; {message}".rstrip("; ")
    return Grade(notebook.name, scores, message, tests)


def grade(number: int | str, submissions: str | os.PathLike, out: str | os.PathLike, timeout_s: float = 1800,
          cell_timeout_s: float = 600, quick: bool = False, id_from_filename: bool = False,
          progress: bool = False) -> list[Grade]:
    """Grade every ``*.ipynb`` in ``submissions`` for lab ``number`` into the CSV ``out``.

    One row per notebook: its file name, the score of each question, the total, the
    maximum and a message. ``id_from_filename``: grade each notebook for the student named
    by its file name (``<id>.ipynb``) instead of the id written in the notebook.
    ``quick``: run the labs in their reduced setting (students must have used it too).
    """
    from tqdm.auto import tqdm

    lab = get_lab(number)
    folder = Path(submissions)
    if not folder.is_dir():
        raise EieError(f"submissions folder {folder} does not exist or is not a folder")
    notebooks = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    if not notebooks:
        raise EieError(f"no .ipynb notebooks in {folder}")
    if not timeout_s > 0 or not cell_timeout_s >= 1:
        raise EieError(f"time limits must be positive (cell at least 1 s), got {timeout_s} and {cell_timeout_s}")
    outputs = check_outputs({"--out": out})
    with tempfile.TemporaryDirectory(prefix="eiesim-assign-") as tmp:
        made = assign(lab, Path(tmp))
        points = question_points(made.solution)
        grades = [grade_notebook(nb, made.autograder, points, timeout_s, cell_timeout_s, quick,
                                 nb.stem if id_from_filename else None)
                  for nb in tqdm(notebooks, desc=f"grading lab {lab.number}", unit="notebook", disable=not progress)]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["notebook", *points, "total", "max", "message"])
    for g in grades:
        writer.writerow([g.notebook, *(f"{g.scores[q]:g}" for q in points), f"{sum(g.scores.values()):g}",
                         f"{sum(points.values()):g}", g.message])
    outputs.publish({"--out": text_writer(text.getvalue())})
    return grades
