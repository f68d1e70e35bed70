"""The project's one output policy: outputs checked before any work, then all published or none.

Every command that writes files follows these rules:

- :func:`check_outputs` runs before any work. An output must be a non-empty name; its folder
  must exist and be writable; it must not be an existing folder, a read-only file, one of the
  command's inputs or another of its outputs (the same file after following symlinks, hard
  links included). Messages name the option and the path as the user wrote them.
- A regular file (or a new name) is replaced atomically: the writer fills a temporary file in
  the same folder, which is flushed to disk, given the mode a plain ``open(path, "w")`` would
  (``0o666`` less the umask) and renamed into place.
- A symlink is followed: its target is replaced (atomically, in the target's folder) and the
  link itself is kept.
- A character or block device, a FIFO and ``-`` (standard output) are written directly, never
  renamed over: the content is made first in a private temporary folder, then copied in.
- :meth:`Outputs.publish` writes every output of a command first and only then moves them into
  place, so a failing writer publishes nothing. (The final renames, within each output's own
  folder, are the only step after which a failure could leave some outputs replaced.)
- Temporary names carry the writer's pid (``.eiesim-tmp-PID-RANDOM-HOST-NAME``, ending with
  the target's own name so libraries that pick a format from the suffix keep it); the first
  write into a folder removes temporaries there whose process on this host is gone.

:func:`write_atomic` applies the same rules to one path for library code (store parts, caches,
figures). Writers that append their own suffix whatever the name ends with (``np.save`` on a
name not ending ``.npy``) should write to ``open(tmp, "wb")``.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import shutil
import socket
import stat
import sys
import tempfile
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from eiecore.errors import EieError

Writer = Callable[[Path], object]
STDOUT = "-"
TMP_PREFIX = ".eiesim-tmp-"
_HOST = f"{zlib.crc32(socket.gethostname().encode()):08x}"
_TMP = re.compile(re.escape(TMP_PREFIX) + r"(\d+)-[0-9a-f]{12}-([0-9a-f]{8})-")
_swept: set[str] = set()  # folders whose stale temporaries this process already removed


@dataclass(frozen=True)
class Output:
    """One output of a command: how the user named it, and what will be written."""

    label: str  # the option, e.g. "--json"
    path: str  # as the user wrote it
    target: Path | None  # the file replaced (symlinks followed); None for standard output
    direct: bool  # device, FIFO or standard output: written in place, never renamed over

    def __str__(self) -> str:
        return f"{self.label} {self.path}" if self.label != self.path else self.path


class Outputs:
    """The checked outputs of one command; :meth:`publish` writes them all or none.

    An output named ``-`` goes to standard output as it was when the outputs were checked,
    so a command may then send its human-readable text elsewhere (:attr:`to_stdout`).
    """

    def __init__(self, outputs: list[Output]):
        self._outputs = {o.label: o for o in outputs}
        self._stdout = sys.stdout

    @property
    def to_stdout(self) -> bool:
        """Whether an output is written to standard output."""
        return any(o.path == STDOUT for o in self._outputs.values())

    def __contains__(self, label: str) -> bool:
        return label in self._outputs

    def publish(self, writers: Mapping[str, Writer]) -> None:
        """Run each output's writer on a temporary path, then move everything into place."""
        unknown = set(writers) - set(self._outputs)
        if unknown:
            raise KeyError(f"no checked output {sorted(unknown)[0]!r}")
        staged: list[tuple[Output, Path]] = []
        private = None
        try:
            for label, write in writers.items():
                out = self._outputs[label]
                try:
                    if out.direct:
                        private = private or Path(tempfile.mkdtemp(prefix=f"eiesim-{os.getpid()}-"))
                        tmp = _temporary(private / f"{len(staged)}-{Path(out.path).name or 'stdout'}")
                    else:
                        tmp = _temporary(out.target)
                    staged.append((out, tmp))
                    _run_writer(write, tmp)
                except OSError as exc:
                    raise EieError(f"cannot write {out}: {exc.strerror or exc}") from None
            for out, tmp in staged:  # devices and streams first: a full disk or closed pipe stops here
                if out.direct:
                    _copy_into(out, tmp, self._stdout)
            for out, tmp in staged:
                if not out.direct:
                    _guard(out, os.replace, tmp, out.target)
        finally:
            for out, tmp in staged:
                if not out.direct:
                    tmp.unlink(missing_ok=True)
            if private is not None:
                shutil.rmtree(private, ignore_errors=True)


def check_outputs(outputs: Mapping[str, str | os.PathLike | None],
                  inputs: Mapping[str, str | os.PathLike | None] = {}) -> Outputs:
    """Check every output (``label -> path``; ``None`` = not asked for) before any work.

    ``inputs`` (``label -> path``) are the files the command reads: no output may be one.
    """
    checked: list[Output] = []
    seen: dict[object, str] = {}
    for label, path in inputs.items():
        if path not in (None, "", STDOUT):
            seen.setdefault(_identity(Path(path)), f"{label} {path}: refusing to overwrite an input")
    for label, path in outputs.items():
        if path is None:
            continue
        out = _check_one(label, os.fspath(path))
        key = STDOUT if out.target is None else _identity(out.target)
        if key in seen:
            raise EieError(f"{out} is also {seen[key]}")
        seen[key] = f"{out}: give each output its own file"
        checked.append(out)
    return Outputs(checked)


def check_output_folder(label: str, path: str | os.PathLike) -> Path:
    """Check a folder a command fills (created if missing): a name, not a file, its parent exists."""
    text = os.fspath(path)
    if not text:
        raise EieError(f"{label}: give a folder name (got an empty string)")
    folder = Path(text)
    if folder.exists() and not folder.is_dir():
        raise EieError(f"{label} {text} exists and is not a folder")
    parent = Path(os.path.realpath(folder)).parent
    if not folder.exists() and not parent.is_dir():
        raise EieError(f"{label} {text}: folder {parent} does not exist")
    return folder


def write_atomic(path: str | os.PathLike, write: Writer, overwrite: bool = True, tmp_suffix: str = "") -> Path:
    """Call ``write(tmp)`` on a temporary path, then move it onto ``path`` in one step.

    ``tmp_suffix`` is appended to the temporary's name, for folders that outside tools read
    by a glob such as ``*.parquet`` (a result store).
    ``path`` follows the output policy (symlink followed, device or FIFO written directly).
    With ``overwrite=False`` an existing ``path`` (even one created while ``write`` ran) is
    never replaced: :class:`FileExistsError` is raised instead. Returns ``path``.
    An ``OSError`` names ``path``, never the temporary file.
    """
    path = Path(path)
    out = _resolve(str(path), str(path))
    if out.direct:
        if not overwrite:
            raise FileExistsError(errno.EEXIST, "File exists", str(path))
        Outputs([out]).publish({out.label: write})
        return path
    tmp = None
    try:
        tmp = _temporary(out.target, tmp_suffix)
        _run_writer(write, tmp)
        _place(tmp, out.target, overwrite)
    except OSError as exc:  # name the user's path, not the temporary file
        raise OSError(exc.errno, exc.strerror, str(path)) if exc.errno else exc from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_atomic(path, text_writer(text))


def write_json(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as indented JSON (no NaN or infinity) to ``path`` atomically."""
    return write_text(path, json_text(obj))


def text_writer(text: str) -> Writer:
    """A writer putting ``text`` (UTF-8) into the file it is given."""
    data = text.encode("utf-8")
    return lambda tmp: Path(tmp).write_bytes(data)


def json_text(obj, **options) -> str:
    """``obj`` as strict, indented JSON: NaN or infinity anywhere is an :class:`EieError` naming the field."""
    try:
        return json.dumps(obj, indent=2, allow_nan=False, **options) + "\n"
    except ValueError:
        where = _non_finite_field(obj, "")
        if where is None:
            raise
        raise EieError(f"refusing to write JSON: field {where or '(top level)'} is not a finite number") from None


def _non_finite_field(obj, path: str) -> str | None:
    """The path (``a.b[2]``) of the first NaN or infinity in ``obj``, or None."""
    if isinstance(obj, dict):
        items = ((f"{path}.{k}" if path else str(k), v) for k, v in obj.items())
    elif isinstance(obj, (list, tuple)):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(obj))
    else:
        try:
            return None if math.isfinite(obj) else path
        except TypeError:
            return None
    for sub, value in items:
        found = _non_finite_field(value, sub)
        if found is not None:
            return found
    return None


def remove_stale_temporaries(folder: Path) -> None:
    """Remove temporaries in ``folder`` left by writers on this host whose process is gone."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        match = _TMP.match(entry.name)
        if match and match[2] == _HOST and not _alive(int(match[1])):
            try:
                os.unlink(entry.path)
            except OSError:
                pass  # another run removed it first, or it is not ours to remove


def _check_one(label: str, path: str) -> Output:
    if not path.strip():
        raise EieError(f"{label}: give a file name (got an empty string)")
    out = _resolve(label, path)
    if out.target is None:
        return out
    target = out.target
    if target.is_dir():
        raise EieError(f"{out} is a folder; give a file name")
    folder = target.parent
    # Name the folder as the user wrote it, unless a symlink led elsewhere.
    shown = folder if os.path.islink(out.path) else (os.path.dirname(out.path) or ".")
    if not folder.is_dir():
        raise EieError(f"cannot write {out}: its folder {shown} does not exist")
    if out.direct:
        if not os.access(target, os.W_OK):
            raise EieError(f"cannot write {out}: permission denied")
        return out
    if target.exists() and not os.access(target, os.W_OK):
        raise EieError(f"cannot write {out}: the file is read-only")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise EieError(f"cannot write {out}: its folder {shown} is not writable")
    return out


def _resolve(label: str, path: str) -> Output:
    """Where ``path`` really writes: standard output, a device or FIFO, or a (new) regular file."""
    if path == STDOUT:
        return Output(label, path, None, True)
    target = Path(os.path.realpath(path))  # follows every symlink; a dangling one names its target
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return Output(label, path, target, False)
    except OSError as exc:  # a symlink loop, a name too long, ...
        raise EieError(f"cannot write {label} {path}: {exc.strerror}") from None
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
        return Output(label, path, target, True)
    if stat.S_ISSOCK(mode):
        raise EieError(f"cannot write {label} {path}: it is a socket")
    return Output(label, path, target, False)


def _identity(path: Path) -> object:
    """The same value for two names of one file (device and inode), else the absolute path."""
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino)
    except OSError:
        return str(Path(os.path.realpath(path)))


def _temporary(target: Path, suffix: str = "") -> Path:
    """A new empty file next to ``target``, named after this process, with the umask's mode."""
    folder = target.parent
    if str(folder) not in _swept:
        _swept.add(str(folder))
        remove_stale_temporaries(folder)
    tmp = folder / f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}-{_HOST}-{target.name}{suffix}"
    # Created with 0o666 so the kernel applies the umask: that is the mode the file keeps.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(fd)
    return tmp


def _run_writer(write: Writer, tmp: Path) -> None:
    """``write(tmp)``, then flush it to disk and give it back the mode it was created with."""
    mode = stat.S_IMODE(os.stat(tmp).st_mode)
    os.chmod(tmp, mode | stat.S_IRUSR | stat.S_IWUSR)  # the writer reopens it by name
    write(tmp)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _copy_into(out: Output, content: Path, stdout) -> None:
    """Copy the made content into a device, FIFO or the standard output ``stdout``."""
    try:
        with open(content, "rb") as src:
            if out.target is None:
                stdout.flush()
                shutil.copyfileobj(src, stdout.buffer)
                stdout.buffer.flush()
            else:
                with open(out.target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    except OSError as exc:
        raise EieError(f"cannot write {out}: {exc.strerror or exc}") from None


def _guard(out: Output, op, *args) -> None:
    try:
        op(*args)
    except OSError as exc:
        raise EieError(f"cannot write {out}: {exc.strerror or exc}") from None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


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
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
        os.replace(tmp, path)
