"""The process's caches as named objects, and :func:`clear_caches` to empty them all.

Every module that keeps results between calls (weight-shared layers, the fast engine's
layer tables, loaded energy tables, ...) holds them in a :class:`Cache` made here, or
registers the ``cache_clear`` of its ``functools`` cache with :func:`register`. Tests and
long-running programs can then drop everything at once (``eiesim.clear_caches()``), and
:func:`cache_sizes` says what is held.

Caches keyed on an encoded layer use the layer object itself (weakly, so a dropped layer
frees its entry); that is safe because an encoded layer's arrays are read-only.
"""

from __future__ import annotations

import weakref
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
