"""What every lab question shares: the student's parameters and the comparisons its tests make.

Each lab asks for the student's id in a cell (``STUDENT_ID = "..."``, or the environment
variable ``EIESIM_STUDENT_ID``, which wins). :func:`student_params` turns the id into the
lab's per-student parameters (a layer seed, a density, a PE count, a queue depth ...):
one draw per parameter from a hash of (lab, parameter, id), so two students get different
numbers and the autograder, re-running the notebook, recomputes each student's expected
answer with the simulator for that student's parameters.

The comparisons never print and never raise: a test case is ``assert close(...)`` and an
answer left as ``...`` (how the student notebook ships) or ``None`` simply fails.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from numbers import Real
from types import SimpleNamespace

from eiecore.errors import EieError

STUDENT_ENV = "EIESIM_STUDENT_ID"


def student_id(cell_value: str | None = None) -> str:
    """The student's id: ``EIESIM_STUDENT_ID`` when set, else the notebook cell's value."""
    value = os.environ.get(STUDENT_ENV, "").strip() or str(cell_value or "").strip()
    if not value:
        raise EieError(f"set STUDENT_ID to your student id (or the environment variable {STUDENT_ENV})")
    return value


def draw(sid: str, lab: int, name: str, options: Sequence):
    """One of ``options``, chosen by a hash of (lab, parameter name, student id)."""
    digest = hashlib.sha256(f"eiesim-lab{lab}:{name}:{sid}".encode()).digest()
    return options[int.from_bytes(digest[:8], "big") % len(options)]


def student_params(cell_value: str | None, lab: int, choices: dict[str, Sequence]) -> SimpleNamespace:
    """Every parameter of ``choices`` drawn for this student (see :func:`draw`)."""
    sid = student_id(cell_value)
    return SimpleNamespace(student_id=sid, **{name: draw(sid, lab, name, options) for name, options in choices.items()})


def is_number(answer) -> bool:
    """A finite real number (not a bool, not ``...``)."""
    return isinstance(answer, Real) and not isinstance(answer, bool) and math.isfinite(float(answer))


def is_whole(answer) -> bool:
    """A whole number, as an int or an integral float."""
    return is_number(answer) and float(answer) == int(answer)


def close(answer, expected: float, *, rel: float = 0.0, abs_tol: float = 0.0) -> bool:
    """A numeric answer equal to ``expected`` within the question's explicit tolerance."""
    return is_number(answer) and (float(answer) == expected
                                  or math.isclose(float(answer), expected, rel_tol=rel, abs_tol=abs_tol))


def same_choice(answer, expected: str) -> bool:
    """A word answer equal to ``expected``, ignoring case and surrounding blanks."""
    return isinstance(answer, str) and answer.strip().lower() == str(expected).lower()


def same_sequence(answer, expected) -> bool:
    """A list of whole numbers equal to ``expected`` element by element."""
    try:
        values = list(answer)
    except TypeError:
        return False
    return all(is_whole(v) for v in values) and [int(v) for v in values] == [int(v) for v in expected]
