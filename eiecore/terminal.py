"""Text from files and users, made safe to show on a terminal.

A layer name, a model's ``source`` or a state-dict key can hold ESC, OSC, BEL, CR or
Unicode direction overrides that would recolour, retitle or rewrite the user's terminal.
:func:`printable` shows each such character as its Python escape (``\\x1b``, ``\\u202e``);
:class:`EscapedStream` applies it to everything written to a stream. The command line
writes its standard output and its error and warning lines through them, so every string
it prints is escaped in one place; machine outputs (``--json -``) bypass them byte for byte.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, and the invisible characters that reorder or hide text.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def printable(text: str, keep: str = "") -> str:
    """``text`` with every control or invisible formatting character but those in ``keep``
    replaced by its escape (``"\\x1b"``)."""
    return _UNSAFE.sub(lambda m: m[0] if m[0] in keep else m[0].encode("unicode_escape").decode("ascii"), text)


class EscapedStream:
    """A text stream that writes :func:`printable` text (line breaks and tabs kept) to
    ``stream``; everything else (``buffer``, ``fileno``, ``flush``) is the stream's."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(printable(text, keep="\n\t"))
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)
