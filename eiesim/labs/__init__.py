"""Coursework labs: discovery, the quick mode tests run them in, and answer checks.

The labs are jupytext percent-format scripts in ``eiesim/labs/notebooks/`` (shipped with
the package; ``notebooks/`` at the repository root links to them). ``eiesim lab list``
shows them and ``eiesim lab open N`` writes one as a notebook into the working directory.
Each lab has its answer checks in ``eiesim.labs.labN``: a check recomputes the answer with
the package and prints ``correct`` or a hint, never the answer itself.

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
