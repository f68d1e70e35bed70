"""Energy and area tables: numbers as data, each with its unit and its citation.

A table is a TOML file (see ``tables/horowitz_45nm.toml``)::

    schema = "eiesim-energy-table/1"
    kind = "events"            # or "table2"
    name = "horowitz-45nm"
    citation = "..."
    [entries.int_add_8]
    what = "8-bit integer ADD"
    value = 0.03
    unit = "pJ"
    citation = "..."

The keys a kind needs, and their units, are fixed by ``SCHEMAS``. Loading checks
everything (TOML syntax, schema, kind, every required key present, no unknown key, unit,
citation, value a positive finite number up to ``MAX_VALUE``, so sums of millions of events
stay finite) and raises :class:`EieError` naming the file
and the key. The two tables shipped with eiesim load by name: ``load_table("events")``.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from eiecore import caches
from eiecore.errors import EieError

SCHEMA = "eiesim-energy-table/1"
MAX_VALUE = 1e9  # in the entry's unit: a billion pJ (1 mJ) per event is far beyond any real circuit

# kind -> key -> (unit, what it is). The derivation rules read exactly these keys.
SCHEMAS: dict[str, dict[str, tuple[str, str]]] = {
    "events": {
        "int_add_8": ("pJ", "8-bit integer ADD"),
        "int_add_32": ("pJ", "32-bit integer ADD"),
        "int_mult_8": ("pJ", "8-bit integer MULT"),
        "int_mult_32": ("pJ", "32-bit integer MULT"),
        "float_add_16": ("pJ", "16-bit float ADD"),
        "float_add_32": ("pJ", "32-bit float ADD"),
        "float_mult_16": ("pJ", "16-bit float MULT"),
        "float_mult_32": ("pJ", "32-bit float MULT"),
        "regfile_32": ("pJ", "32-bit register file access"),
        "sram_32bit_32kb": ("pJ", "32-bit SRAM access, 32 KB"),
        "sram_64bit_8kb": ("pJ", "64-bit SRAM access, 8 KB"),
        "sram_64bit_32kb": ("pJ", "64-bit SRAM access, 32 KB"),
        "sram_64bit_1mb": ("pJ", "64-bit SRAM access, 1 MB"),
        "dram_32bit": ("pJ", "32-bit DRAM access"),
        "dram_64bit_low": ("pJ", "64-bit DRAM access, low end"),
        "dram_64bit_high": ("pJ", "64-bit DRAM access, high end"),
    },
    "table2": {
        "clock": ("MHz", "clock of the power figures"),
        "critical_path": ("ns", "critical path delay"),
        "pe_power": ("mW", "total power of one PE"),
        "pe_area": ("um^2", "total area of one PE"),
        "act_queue_power": ("mW", "activation queue power"),
        "act_queue_area": ("um^2", "activation queue area"),
        "ptr_read_power": ("mW", "pointer read unit power"),
        "ptr_read_area": ("um^2", "pointer read unit area"),
        "spmat_read_power": ("mW", "sparse-matrix read unit power"),
        "spmat_read_area": ("um^2", "sparse-matrix read unit area"),
        "arithm_unit_power": ("mW", "arithmetic unit power"),
        "arithm_unit_area": ("um^2", "arithmetic unit area"),
        "act_rw_power": ("mW", "activation read/write unit power"),
        "act_rw_area": ("um^2", "activation read/write unit area"),
        "filler_cell_area": ("um^2", "filler cell area"),
        "memory_power": ("mW", "power by type: memory"),
        "clock_network_power": ("mW", "power by type: clock network"),
        "register_power": ("mW", "power by type: register"),
        "combinational_power": ("mW", "power by type: combinational"),
        "lnzd_node_power": ("mW", "power of one LNZD node"),
        "lnzd_node_area": ("um^2", "area of one LNZD node"),
    },
}

BUILTIN_FILES = {"events": "horowitz_45nm.toml", "table2": "eie_table2.toml"}
ENTRY_FIELDS = {"what", "value", "unit", "citation"}


@dataclass(frozen=True)
class Entry:
    """One number of a table."""

    key: str
    value: float
    unit: str
    what: str
    citation: str


@dataclass(frozen=True, eq=False)
class EnergyTable:
    """A validated table: ``table["int_add_8"]`` is the value in the schema's unit.

    Compared and hashed by identity, so derived energies can be cached per table."""

    kind: str
    name: str
    citation: str
    source: str  # where it was loaded from
    entries: Mapping[str, Entry]

    def __getitem__(self, key: str) -> float:
        return self.entries[key].value

    def describe(self, key: str) -> str:
        """``8-bit integer ADD = 0.03 pJ`` for rule texts."""
        e = self.entries[key]
        return f"{e.what} = {e.value:g} {e.unit}"


def load_table(source: "str | Path | EnergyTable | None", kind: str) -> EnergyTable:
    """The table of ``kind`` from a file path, an already loaded table, or None (built in)."""
    if kind not in SCHEMAS:
        raise EieError(f"unknown energy table kind {kind!r}; choose one of {', '.join(SCHEMAS)}")
    if isinstance(source, EnergyTable):
        if source.kind != kind:
            raise EieError(f"energy table {source.source} is of kind {source.kind!r}, expected {kind!r}")
        return source
    if source is None:
        return _builtin(kind)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EieError(f"cannot read energy table {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_table(text, kind, str(path))


@lru_cache(maxsize=None)
def _builtin(kind: str) -> EnergyTable:
    text = resources.files("eiesim.energy").joinpath("tables", BUILTIN_FILES[kind]).read_text("utf-8")
    return parse_table(text, kind, f"built-in {BUILTIN_FILES[kind]}")


caches.register("built-in energy tables", _builtin.cache_clear, lambda: _builtin.cache_info().currsize)


def parse_table(text: str, kind: str, source: str) -> EnergyTable:
    """Validate the TOML text of a table of ``kind``; ``source`` names it in errors."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EieError(f"energy table {source} is not valid TOML: {exc}") from None

    def fail(msg: str) -> EieError:
        return EieError(f"energy table {source}: {msg}")

    if doc.get("schema") != SCHEMA:
        raise fail(f"'schema' must be {SCHEMA!r}, got {doc.get('schema')!r}")
    if doc.get("kind") != kind:
        raise fail(f"'kind' must be {kind!r}, got {doc.get('kind')!r}")
    for field in ("name", "citation"):
        if not isinstance(doc.get(field), str) or not doc[field].strip():
            raise fail(f"'{field}' must be a non-empty string")
    unknown_top = set(doc) - {"schema", "kind", "name", "citation", "entries"}
    if unknown_top:
        raise fail(f"unknown top-level key '{sorted(unknown_top)[0]}'")
    raw = doc.get("entries")
    if not isinstance(raw, dict):
        raise fail("missing [entries] table")

    schema = SCHEMAS[kind]
    for key in schema:
        if key not in raw:
            unit, what = schema[key]
            raise fail(f"missing entry '{key}' ({what}, in {unit})")
    for key in raw:
        if key not in schema:
            raise fail(f"unknown entry '{key}'")
    entries = {key: _entry(key, raw[key], schema[key][0], fail) for key in schema}
    return EnergyTable(kind, doc["name"], doc["citation"], source, MappingProxyType(entries))


def _entry(key: str, raw, unit: str, fail) -> Entry:
    if not isinstance(raw, dict):
        raise fail(f"entry '{key}' must be a table with value, unit, what and citation")
    missing = ENTRY_FIELDS - set(raw)
    if missing:
        raise fail(f"entry '{key}' lacks '{sorted(missing)[0]}'")
    extra = set(raw) - ENTRY_FIELDS
    if extra:
        raise fail(f"entry '{key}' has unknown field '{sorted(extra)[0]}'")
    value = raw["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(f"entry '{key}' value must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0 or value > MAX_VALUE:
        raise fail(f"entry '{key}' value must be a positive finite number up to {MAX_VALUE:g}, got {value!r}")
    if raw["unit"] != unit:
        raise fail(f"entry '{key}' has unit {raw['unit']!r}, expected {unit!r}")
    for field in ("what", "citation"):
        if not isinstance(raw[field], str) or not raw[field].strip():
            raise fail(f"entry '{key}' {field} must be a non-empty string")
    return Entry(key, float(value), unit, raw["what"], raw["citation"])
