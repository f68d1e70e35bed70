"""Checks shared by every entry point, each failing with an :class:`EieError`.

Seeds are non-negative integers below 2^32: every random generator the project feeds
(numpy's SeedSequence, scikit-learn's ``random_state``, torch) accepts that whole range.
"""

from __future__ import annotations

from eiecore.errors import EieError

SEED_MAX = 2**32 - 1


def check_seed(seed, what: str = "seed") -> int:
    """``seed`` as an int in 0..2^32-1, or an :class:`EieError` naming ``what``."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise EieError(f"{what} must be an integer in 0..{SEED_MAX}, got {seed!r}")
    if not 0 <= seed <= SEED_MAX:
        raise EieError(f"{what} must be in 0..{SEED_MAX}, got {seed}")
    return seed

