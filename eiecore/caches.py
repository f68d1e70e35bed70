"""The process's caches as named objects, and :func:`clear_caches` to empty them all.

Every module that keeps results between calls (weight-shared layers, the fast engine's
layer tables, loaded energy tables, ...) holds them in a :class:`Cache` made here, or
registers the ``cache_clear`` of its ``functools`` cache with :func:`register`. Tests and
long-running programs can then drop everything at once (``eiesim.clear_caches()``), and
:func:`cache_sizes` says what is held.

Caches keyed on an encoded layer use the layer object itself (weakly, so a dropped layer
frees its entry); that is safe because an encoded layer's arrays are read-only.

On disk (:func:`disk_folder`, :func:`disk_entry`, :func:`disk_used`, :func:`disk_evict`) a
cache owns only what it made, even in a folder it shares with the user or with other
versions of this code:

- each version's folder is ``ROOT/_eiesim-cache-VERSION`` and holds the marker file
  ``.eiesim-cache`` (JSON naming this project, the cache format and the version); a folder
  without that marker is never written into nor emptied, whatever its name;
- every entry is a file named ``*.eiesim-cache.npz`` inside a marked folder; nothing else
  there (a user's file) is ever removed;
- a hit refreshes the entry's modification time; after each write the least recently used
  entries of every marked folder under ``ROOT`` (other versions' included) are removed until
  all of them together fit the budget (:data:`DISK_BUDGET_BYTES`, or the environment
  variable ``EIESIM_CACHE_BYTES``). The entry just written is never removed, and an entry
  another checkout is using stays recent, so versions sharing a root evict only what none
  of them used lately. Folders are never removed.
"""

from __future__ import annotations

import json
import os
import weakref
from pathlib import Path

from eiecore.atomic import TMP_PREFIX, write_text
from eiecore.errors import EieError
from collections import OrderedDict
from typing import Any, Callable, Hashable

_CLEARERS: dict[str, Callable[[], None]] = {}
_SIZES: dict[str, Callable[[], int]] = {}


class Cache:
    """A named dict-like cache, least recently used first out beyond ``maxsize`` entries.

    With ``weak_keys=True`` keys are held weakly (entries vanish with their key object) and
    there is no size limit.
    """

    def __init__(self, name: str, maxsize: int | None = None, weak_keys: bool = False):
        if weak_keys and maxsize is not None:
            raise ValueError("a weak-keyed cache has no size limit")
        self.name = name
        self.maxsize = maxsize
        self._data: Any = weakref.WeakKeyDictionary() if weak_keys else OrderedDict()
        register(name, self.clear, lambda: len(self))

    def get(self, key: Hashable, default: Any = None) -> Any:
        if key not in self._data:
            return default
        if isinstance(self._data, OrderedDict):
            self._data.move_to_end(key)
        return self._data[key]

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def __getitem__(self, key: Hashable) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key: Hashable, value: Any) -> None:
        self._data[key] = value
        if isinstance(self._data, OrderedDict):
            self._data.move_to_end(key)
            while self.maxsize is not None and len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()


_MISSING = object()


def register(name: str, clear: Callable[[], None], size: Callable[[], int] | None = None) -> None:
    """Make ``clear`` part of :func:`clear_caches` under ``name`` (a module imported again
    replaces its own entry)."""
    _CLEARERS[name] = clear
    if size is not None:
        _SIZES[name] = size


def clear_caches() -> None:
    """Empty every registered cache of this process."""
    for clear in _CLEARERS.values():
        clear()


def cache_sizes() -> dict[str, int | None]:
    """Entries held per registered cache (None where a cache cannot say)."""
    return {name: (_SIZES[name]() if name in _SIZES else None) for name in _CLEARERS}


DISK_MARKER = ".eiesim-cache"
DISK_FORMAT = 1
DISK_PREFIX = "_eiesim-cache-"  # "_": readers of a Parquet dataset skip it if a root is inside one
DISK_SUFFIX = ".eiesim-cache.npz"
DISK_BUDGET_BYTES = 2 * 2**30
BUDGET_ENV = "EIESIM_CACHE_BYTES"


def disk_budget() -> int:
    """The disk cache's size budget in bytes: ``$EIESIM_CACHE_BYTES`` or :data:`DISK_BUDGET_BYTES`."""
    text = os.environ.get(BUDGET_ENV, "").strip()
    if not text:
        return DISK_BUDGET_BYTES
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise EieError(f"{BUDGET_ENV} must be a whole number of bytes >= 0, got {text!r}")
    return value


def _marker(version: str) -> dict:
    return {"made_by": "eiesim", "format": DISK_FORMAT, "version": version}


def _is_marked(folder: Path) -> bool:
    try:
        with open(folder / DISK_MARKER, encoding="utf-8") as f:
            marker = json.load(f)
    except (OSError, ValueError):
        return False
    return (isinstance(marker, dict) and marker.get("made_by") == "eiesim" and marker.get("format") == DISK_FORMAT
            and folder.name == f"{DISK_PREFIX}{marker.get('version')}")


def disk_folder(root: str | os.PathLike, version: str) -> Path:
    """This version's marked folder under ``root``, made (with its marker) if missing.

    Raises :class:`OSError` when it cannot be made, and when a folder of that name exists
    without the marker (not this cache's: it is left alone)."""
    folder = Path(root) / f"{DISK_PREFIX}{version}"
    if _is_marked(folder):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / DISK_MARKER
    if not marker.exists() and any(not e.name.startswith(TMP_PREFIX) for e in os.scandir(folder)):
        raise FileExistsError(17, "a folder not made by the eiesim cache is in the way", str(folder))
    write_text(marker, json.dumps(_marker(version)))
    return folder


def disk_entry(folder: str | os.PathLike, stem: str) -> Path:
    """The path of the entry ``stem`` in a marked folder (``stem`` made safe for a file name)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)
    return Path(folder) / f"{safe}{DISK_SUFFIX}"


def disk_used(entry: Path) -> None:
    """Mark a cache hit: the entry becomes the most recently used."""
    try:
        os.utime(entry)
    except OSError:
        pass  # a read-only cache still serves hits


def disk_entries(root: str | os.PathLike) -> list[tuple[int, int, Path]]:
    """(modification time in ns, size, path) of every entry of every marked folder under ``root``."""
    found = []
    try:
        folders = [Path(e.path) for e in os.scandir(root)
                   if e.name.startswith(DISK_PREFIX) and e.is_dir(follow_symlinks=False)]
    except OSError:
        return found
    for folder in folders:
        if not _is_marked(folder):
            continue
        try:
            for e in os.scandir(folder):
                if e.name.endswith(DISK_SUFFIX) and e.is_file(follow_symlinks=False):
                    st = e.stat(follow_symlinks=False)
                    found.append((st.st_mtime_ns, st.st_size, Path(e.path)))
        except OSError:
            continue  # removed meanwhile by another process
    return found


def disk_evict(entry: Path, budget: int | None = None) -> list[Path]:
    """After writing ``entry``: remove the least recently used entries under its root (its
    folder's parent) until all fit ``budget`` bytes (default :func:`disk_budget`). Returns
    what was removed."""
    if not _is_marked(Path(entry).parent):
        return []  # an entry outside a marked folder (a library caller's own folder): nothing to evict
    budget = disk_budget() if budget is None else budget
    entries = sorted(disk_entries(Path(entry).parent.parent))
    total = sum(size for _, size, _ in entries)
    removed = []
    for _, size, path in entries:
        if total <= budget:
            break
        if path == Path(entry):
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            pass  # another process evicted it first
        except OSError:
            continue
        total -= size
        removed.append(path)
    return removed
