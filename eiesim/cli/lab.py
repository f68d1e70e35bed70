"""``eiesim lab``: list the coursework labs, open one, build the graded versions, grade a class."""

from __future__ import annotations

import click


@click.group()
def lab() -> None:
    """Coursework labs: Jupyter notebooks graded with Otter-Grader."""


@lab.command("list")
def list_cmd() -> None:
    """Show the labs with their numbers."""
    from eiesim.labs import list_labs

    for item in list_labs():
        click.echo(f"{item.number:>2}  {item.title}")


@lab.command("open")
@click.argument("number")
@click.option("--dest", type=click.Path(file_okay=False), default=".", show_default=True,
              help="folder to write the notebook into (must exist)")
def open_cmd(number: str, dest: str) -> None:
    """Write lab NUMBER's student notebook as NAME.ipynb into --dest; never overwrites a file."""
    from eiesim.labs import open_lab

    path = open_lab(number, dest)
    click.echo(f"wrote {path}; open it in Jupyter (jupyter lab or VS Code)")


@lab.command("build")
@click.option("--out", required=True, type=click.Path(),
              help="folder to write into (created if missing); each lab gets OUT/<lab>/student, "
                   "solution and autograder, and an existing lab folder is never replaced")
@click.option("--lab", "numbers", multiple=True, metavar="N",
              help="build only lab N (a number or file stem); repeat for several; default: all labs")
@click.option("--requirements", type=click.Path(dir_okay=False),
              help="pip requirements file added to each autograder's environment (Gradescope installs "
                   "it: name how to install this package there, e.g. a wheel URL)")
def build_cmd(out: str, numbers: tuple[str, ...], requirements: str | None) -> None:
    """Build each lab's student notebook, solution notebook and Gradescope autograder zip.

    The student notebook has no solutions and no hidden tests; keep the solution notebooks
    and the autograder zips (which hold the hidden tests) away from students.
    """
    from eiesim.labs import get_lab
    from eiesim.labs.grading import build

    labs = [get_lab(n) for n in numbers] or None
    for item in build(out, labs, requirements, progress=True):
        click.echo(f"{item.lab.slug}: {item.student.parent.parent}")


@lab.command("grade")
@click.option("--lab", "number", required=True, metavar="N", help="the lab the notebooks answer (number or file stem)")
@click.argument("submissions", type=click.Path())
@click.option("--out", required=True, metavar="CSV",
              help="CSV of per-question scores, one row per notebook (written atomically; - for standard output)")
@click.option("--timeout", type=click.FloatRange(min=1), default=1800, show_default=True,
              help="seconds one notebook may run before it is stopped and scores 0 on every question")
@click.option("--cell-timeout", type=click.FloatRange(min=1), default=600, show_default=True,
              help="seconds one cell may run before it is interrupted (the notebook goes on; the "
                   "questions that need the cell score 0)")
@click.option("--quick", is_flag=True,
              help="run the labs in their reduced setting (EIESIM_LAB_QUICK=1); only if students used it too")
@click.option("--id-from-filename", is_flag=True,
              help="grade <id>.ipynb for student <id> (EIESIM_STUDENT_ID), not the id written in the notebook")
def grade_cmd(number: str, submissions: str, out: str, timeout: float, cell_timeout: float, quick: bool,
              id_from_filename: bool) -> None:
    """Grade every .ipynb in SUBMISSIONS for lab N, offline, one process per notebook.

    Each notebook runs under Otter-Grader (`otter run`) in its own process and folder,
    stopped after --timeout seconds. A cell that raises, or runs past --cell-timeout and is
    interrupted, costs only the questions that need it; a notebook stopped at --timeout or
    unreadable scores 0 with the reason in the message column.
    """
    from eiesim.labs.grading import grade

    grades = grade(number, submissions, out, timeout, cell_timeout, quick, id_from_filename, progress=True)
    if out != "-":
        click.echo(f"graded {len(grades)} notebook(s) into {out}")
