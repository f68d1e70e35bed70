"""The one exception type users see for bad input.

Every validation failure in the project raises :class:`EieError` (a ``ValueError``) with a
one-line message naming the problem; the CLI prints that line and exits non-zero.
"""


class EieError(ValueError):
    """Bad input: wrong shapes, NaN, corrupt files, bad options, layers that do not fit."""


class EieWarning(UserWarning):
    """A result that is valid but degraded (e.g. a repaired codebook); the CLI prints one line."""
