"""Helpers of the energy tests: the built-in tables' text and small edits of it."""

from __future__ import annotations

from importlib import resources


def builtin_text(name: str) -> str:
    return resources.files("eiesim.energy").joinpath("tables", name).read_text("utf-8")


EVENTS_TOML = builtin_text("horowitz_45nm.toml")
TABLE2_TOML = builtin_text("eie_table2.toml")


def replace_value(text: str, key: str, field: str, new: str) -> str:
    """``text`` with ``field = ...`` of entry ``key`` replaced by ``field = new``."""
    head, sep, tail = text.partition(f"[entries.{key}]\n")
    assert sep, key
    lines = tail.split("\n")
    i = next(i for i, ln in enumerate(lines) if ln.startswith(f"{field} = "))
    lines[i] = f"{field} = {new}"
    return head + sep + "\n".join(lines)


def drop_entry(text: str, key: str) -> str:
    head, sep, tail = text.partition(f"[entries.{key}]\n")
    assert sep, key
    rest = tail.split("\n[", 1)
    return head + ("[" + rest[1] if len(rest) > 1 else "")
