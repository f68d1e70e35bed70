"""Checks shared by every entry point, each failing with an :class:`EieError`.

Seeds are non-negative integers below 2^32: every random generator the project feeds
(numpy's SeedSequence, scikit-learn's ``random_state``, torch) accepts that whole range.
Arrays cross the boundary once, through :func:`as_array`: native byte order, the expected
dtype, C order, the caller's array never modified.
"""

from __future__ import annotations

import numpy as np

from eiecore.errors import EieError

_NOT_NUMBERS = "bcmMOUSV"  # dtype kinds: booleans, complex, time spans, dates, objects, text, bytes, records

SEED_MAX = 2**32 - 1


def check_seed(seed, what: str = "seed") -> int:
    """``seed`` as an int in 0..2^32-1, or an :class:`EieError` naming ``what``."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise EieError(f"{what} must be an integer in 0..{SEED_MAX}, got {seed!r}")
    if not 0 <= seed <= SEED_MAX:
        raise EieError(f"{what} must be in 0..{SEED_MAX}, got {seed}")
    return seed



def as_array(value, what: str, dtype, ndim: int | None = None) -> np.ndarray:
    """``value`` as an array of ``dtype`` in native byte order and C order, or an
    :class:`EieError` naming ``what``.

    Refused: masked arrays (their mask would be ignored), booleans, complex numbers, dates,
    time spans, objects and text; for an integer ``dtype`` also floats and values outside
    its range (never wrapped); a number of dimensions other than ``ndim``. Nothing is done
    to the caller's array: the result is that array itself only when it needed no
    conversion, so a caller that keeps it and must not see it change copies it.
    """
    if isinstance(value, np.ma.MaskedArray):
        raise EieError(f"{what} is a masked array: fill or drop the masked values first")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise EieError(f"{what} is not an array of numbers ({' '.join(str(exc).split())})") from None
    kind = arr.dtype.kind
    if kind in _NOT_NUMBERS:
        raise EieError(f"{what} must be real numbers, got dtype {arr.dtype}")
    target = np.dtype(dtype)
    if ndim is not None and arr.ndim != ndim:
        raise EieError(f"{what} must have {ndim} dimension(s), got shape {arr.shape}")
    if target.kind in "ui" and arr.dtype != target:
        if kind == "f" and arr.size:  # an empty list is float64 to numpy
            raise EieError(f"{what} must be integers, got dtype {arr.dtype}")
        info = np.iinfo(target)
        if arr.size and (int(arr.min()) < info.min or int(arr.max()) > info.max):
            raise EieError(f"{what} holds values outside {info.min}..{info.max}, the range of {target}")
    return np.ascontiguousarray(arr, dtype=target.newbyteorder("="))
