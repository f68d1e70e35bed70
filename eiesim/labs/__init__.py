"""Coursework labs: discovery, the quick mode tests run them in, and grading.

The labs are Otter-Grader assignments: jupytext percent-format scripts in the repository's
``notebooks/`` folder (not shipped in the package: they hold the solutions and hidden
tests). ``eiesim lab list`` shows them, ``eiesim lab open N`` writes one's student notebook,
``eiesim lab build`` the student, solution and autograder versions of each
(:mod:`eiesim.labs.grading`) and ``eiesim lab grade`` grades a folder of notebooks.
``eiesim.labs.labN`` holds lab N's helpers, its per-student parameters (``params``) and the
``*_of`` functions with which the hidden tests recompute each answer.

A lab reads ``EIESIM_LAB_QUICK``: when set (not "" or "0") it shrinks its grids so that
the test suite can run it top to bottom in seconds; opened in Jupyter it runs in full.
"""

from __future__ import annotations

import os
from typing import TypeVar

from eiesim.labs.catalog import Lab, get_lab, list_labs, open_lab

QUICK_ENV = "EIESIM_LAB_QUICK"

T = TypeVar("T")


def quick_mode() -> bool:
    """True when ``EIESIM_LAB_QUICK`` asks for the reduced setting."""
    return os.environ.get(QUICK_ENV, "").strip() not in ("", "0")


def pick(full: T, quick: T) -> T:
    """``full`` normally, ``quick`` in the reduced setting."""
    return quick if quick_mode() else full


__all__ = ["QUICK_ENV", "Lab", "get_lab", "list_labs", "open_lab", "pick", "quick_mode"]
