"""Lab discovery and ``open``: the lab sources in the repository's ``notebooks/`` folder.

A lab is a jupytext percent-format script named ``labN_slug.py``; its title is the first
Markdown heading. The sources hold the solutions and hidden tests, so they are not part of
the installed package: they are found in the repository checkout beside the package, or
in the folder named by ``EIESIM_LAB_SOURCES``. ``open_lab`` writes the *student* build of
one lab (solutions and hidden tests removed) as a notebook in a folder of the user's
choice and never overwrites an existing file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from eiecore.atomic import check_output_folder, write_atomic
from eiecore.errors import EieError

_NAME = re.compile(r"^lab(\d+)_([a-z0-9_]+)\.py$")
_TITLE = re.compile(r"^# #\s+(.+?)\s*$")


@dataclass(frozen=True)
class Lab:
    number: int
    slug: str  # file stem, e.g. "lab2_pe_array"
    title: str
    path: Path

    @property
    def notebook_name(self) -> str:
        return f"{self.slug}.ipynb"


SOURCES_ENV = "EIESIM_LAB_SOURCES"


def lab_dir() -> Path:
    """The folder holding the lab sources: ``EIESIM_LAB_SOURCES``, else the checkout's ``notebooks/``."""
    folder = Path(os.environ.get(SOURCES_ENV) or Path(__file__).resolve().parents[2] / "notebooks")
    if not folder.is_dir():
        raise EieError(f"lab sources not found at {folder}: they live in the repository's notebooks/ "
                       f"folder, not in the installed package; set {SOURCES_ENV} to that folder")
    return folder


def _title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _TITLE.match(line)
        if match:
            return match[1]
    return path.stem


def list_labs() -> list[Lab]:
    """Every lab, by number."""
    labs = []
    for path in lab_dir().glob("lab*.py"):
        match = _NAME.match(path.name)
        if match:
            labs.append(Lab(int(match[1]), path.stem, _title(path), path))
    return sorted(labs, key=lambda lab: lab.number)


def get_lab(number: int | str) -> Lab:
    """A lab by its number (``2``, ``"2"``) or its file stem (``"lab2_pe_array"``)."""
    labs = list_labs()
    for lab in labs:
        if str(number).strip() in (str(lab.number), lab.slug):
            return lab
    known = ", ".join(str(lab.number) for lab in labs)
    raise EieError(f"no lab {number!r}; choose one of {known}")


def open_lab(number: int | str, dest: str | os.PathLike = ".") -> Path:
    """Write lab ``number``'s student notebook into ``dest``; refuses to overwrite a file."""
    import shutil
    import tempfile

    from eiesim.labs.grading import assign

    lab = get_lab(number)
    folder = Path(dest)
    if not folder.is_dir():
        raise EieError(f"destination {folder} is not an existing folder")
    check_output_folder("--dest", folder)  # a read-only folder is found before the notebook is built
    target = folder / lab.notebook_name
    if target.exists():
        raise EieError(f"{target} already exists; remove it or choose another --dest")
    with tempfile.TemporaryDirectory(prefix="eiesim-open-") as tmp:
        student = assign(lab, Path(tmp)).student
        try:
            return write_atomic(target, lambda out: shutil.copyfile(student, out), overwrite=False)
        except FileExistsError:  # created while we wrote
            raise EieError(f"{target} already exists; remove it or choose another --dest") from None
