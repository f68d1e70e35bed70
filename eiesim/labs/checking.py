"""What every answer check shares: compare, then print ``correct`` or a hint.

A check recomputes the expected answer with the package (never a stored number) and
returns a :class:`Verdict`, true or false like a bool, so tests can use it too. An answer left as ``None`` (how the labs
ship) gets "no answer yet". What it prints never contains the
expected value: a wrong answer gets a hint about the method, and at most whether the
answer is too high or too low.
"""

from __future__ import annotations

import math
from numbers import Real

from eiecore.errors import EieError


NO_ANSWER = "no answer yet: replace None with your answer"


class Verdict(int):
    """A check's outcome: 1 or 0, true or false like a bool (it adds up, compares equal to
    True/False), but shown as nothing in a notebook (the check has printed it already), so a
    cell ending in a check echoes no stray ``True``/``False``."""

    def __new__(cls, ok: bool):
        return super().__new__(cls, bool(ok))

    def __repr__(self) -> str:
        return "correct" if self else "not yet"

    def _ipython_display_(self) -> None:
        pass


def verdict(ok: bool, hint: str) -> Verdict:
    """Print the outcome of a check; returns it as a :class:`Verdict`."""
    print("correct" if ok else f"not yet: {hint}")
    return Verdict(ok)


def number(answer, name: str) -> float:
    """The student's answer as a finite number, or a clear error."""
    if isinstance(answer, bool):
        raise EieError(f"{name}: expected a number, got {answer!r}")
    if not isinstance(answer, Real):
        try:
            answer = float(answer)
        except (TypeError, ValueError):
            raise EieError(f"{name}: expected a number, got {answer!r}") from None
    value = float(answer)
    if not math.isfinite(value):
        raise EieError(f"{name}: expected a finite number, got {answer!r}")
    return value


def check_number(answer, expected: float, hint: str, *, name: str = "answer",
                 rel: float = 0.0, abs_tol: float = 0.0) -> Verdict:
    """Compare a numeric answer with ``expected`` (exact unless a tolerance is given)."""
    if answer is None:
        return verdict(False, NO_ANSWER)
    value = number(answer, name)
    ok = math.isclose(value, expected, rel_tol=rel, abs_tol=abs_tol) or value == expected
    if not ok:
        hint = f"{hint} (your {name} is too {'high' if value > expected else 'low'})"
    return verdict(ok, hint)


def check_choice(answer, expected: str, choices: tuple[str, ...], hint: str, *, name: str = "answer") -> Verdict:
    """Compare a word answer, case-insensitively, with one of ``choices``."""
    if answer is None:
        return verdict(False, NO_ANSWER)
    text = str(answer).strip().lower()
    if text not in choices:
        raise EieError(f"{name}: choose one of {', '.join(choices)}, got {answer!r}")
    return verdict(text == expected, hint)


def check_sequence(answer, expected, hint: str, *, name: str = "answer") -> Verdict:
    """Compare a list of integers element by element."""
    if answer is None:
        return verdict(False, NO_ANSWER)
    try:
        values = [int(v) for v in answer]
    except (TypeError, ValueError):
        raise EieError(f"{name}: expected a list of integers, got {answer!r}") from None
    expected = [int(v) for v in expected]
    if len(values) != len(expected):
        return verdict(False, f"{hint} (your {name} has {len(values)} items; count them again)")
    wrong = [i for i, (a, b) in enumerate(zip(values, expected)) if a != b]
    if wrong:
        return verdict(False, f"{hint} (first difference at position {wrong[0]})")
    return verdict(True, hint)
