"""The project's one atomic file writer: a file is either all there or not there at all.

:func:`write_atomic` lets a writer fill a temporary file in the target's folder (its name
starts with :data:`TMP_PREFIX` and ends with the target's own suffix, so libraries that pick
a format from the suffix, or append one when it is missing, leave the name alone), flushes
it to disk, gives it the mode a plain ``open(path, "w")`` would (``0o666`` less the umask)
and renames it into place. On any failure the temporary file is removed and an existing
target is left untouched. Writers that append their own suffix whatever the name ends with
(``np.save`` on a name not ending ``.npy``) should write to ``open(tmp, "wb")`` instead.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path
from typing import Callable

TMP_PREFIX = ".tmp-"


def write_atomic(path: str | os.PathLike, write: Callable[[Path], object], overwrite: bool = True) -> Path:
    """Call ``write(tmp)`` on a temporary path, then move it onto ``path`` in one step.

    With ``overwrite=False`` an existing ``path`` (even one created while ``write`` ran) is
    never replaced: :class:`FileExistsError` is raised instead. Returns ``path``.
    """
    path = Path(path)
    tmp = path.with_name(f"{TMP_PREFIX}{path.stem}-{uuid.uuid4().hex[:12]}{path.suffix}")
    try:
        # Created with 0o666 so the kernel applies the umask: that is the mode the file keeps.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            mode = stat.S_IMODE(os.fstat(fd).st_mode)
            os.fchmod(fd, mode | stat.S_IRUSR | stat.S_IWUSR)  # the writer reopens it by name
        finally:
            os.close(fd)
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        _place(tmp, path, overwrite)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _place(tmp: Path, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails if path exists, even one created a moment ago
    except FileExistsError:
        raise
    except OSError:  # a filesystem without hard links: check, then rename
        if path.exists():
            raise FileExistsError(f"{path} already exists") from None
        os.replace(tmp, path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as indented JSON (no NaN or infinity) to ``path`` atomically."""
    return write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")
