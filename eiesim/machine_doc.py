"""``docs/machine.md``, generated from the declarations: ``python -m eiesim.machine_doc [--check]``.

The machine parameters (``eiesim.declarations``), the timing rules (``eiesim.timing``) and
the energy events (``eiesim.energy.events``) as tables; ``tests/test_declarations.py``
checks that the committed file is what this module writes.
"""

from __future__ import annotations

import sys
import typing
from pathlib import Path
from typing import Literal

from eiesim.config import ArchConfig
from eiesim.declarations import PARAMETERS, Parameter
from eiesim.energy.events import EVENTS, PLACES, UNITS, event_energies
from eiesim.energy.tables import load_table
from eiesim.timing import PROFILE_NAMES, RULES

DOC_PATH = ("docs", "machine.md")  # relative to the repository root


def _bounds_text(p: Parameter) -> str:
    signs = {"ge": ">=", "gt": ">", "le": "<="}
    if typing.get_origin(p.kind) is Literal:
        return " / ".join(typing.get_args(p.kind))
    if p.kind is bool:
        return "true / false"
    return ", ".join(f"{signs[k]} {int(v) if float(v).is_integer() else v}" for k, v in p.bounds) or "-"


def _table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    cells = [header, tuple("-" * 3 for _ in header), *rows]
    return ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in cells]


def machine_doc() -> str:
    """``docs/machine.md``: the timing rules, machine parameters and energy events, as declared."""
    profiles = PROFILE_NAMES
    priced = event_energies(load_table(None, "events"), ArchConfig())
    lines = [
        "# The machine: parameters, timing rules and energy events",
        "",
        "<!-- Generated from the declarations (eiesim/declarations.py, eiesim/timing.py,",
        "eiesim/energy/events.py) by `python -m eiesim.machine_doc`; a test keeps it equal. -->",
        "",
        "Every field below is an `ArchConfig` field: set it with `--set FIELD=VALUE` on `simulate`,",
        "`infer`, `energy`, `compress` and `sweep`, sweep it with `eiesim sweep --grid FIELD=VALUES`.",
        "A run's JSON records every field that differs from its default (`settings`).",
        "",
        "## Machine parameters (SPEC §4)",
        "",
        *_table(("field", "unit", "default", "allowed", "what", "source"),
                [(f"`{p.name}`", p.unit or "-", p.default, _bounds_text(p), p.description, p.source)
                 for p in PARAMETERS]),
        "",
        "## Timing rules (SPEC §5, §5.1)",
        "",
        "A profile (`timing`) is one choice per rule. A rule marked as a field overrides its",
        "profile's choice (default: the profile's).",
        "",
        *_table(("rule", "choices", *profiles, "field", "what", "SPEC"),
                [(f"`{r.name}`", " / ".join(r.choices), *(r.profiles[p] for p in profiles),
                  "yes" if r.overridable else "no", r.description, r.section) for r in RULES]),
        "",
        "## Energy units and events (SPEC §7)",
        "",
        "Every event belongs to a unit, in every PE or outside the PEs; the energy of a unit outside",
        "the PEs is reported as its own (`outside_pes`), in no PE's share.",
        "",
        *_table(("unit", "what", "where", "source"),
                [(f"`{u.name}`", u.label, PLACES[u.where], u.citation) for u in UNITS]),
        "",
        "Each event's count follows from the simulator's counters; its price is derived from the",
        "built-in Horowitz 45 nm table (shown for the default configuration); per-PE shares: `equal`,",
        "`real` (real entries), `busy` (busy cycles), `none` (a unit outside the PEs).",
        "",
        *_table(("event", "unit", "count", "per-PE share", "price (default configuration)", "source"),
                [(f"`{e.name}`", f"`{e.unit.name}`", e.count_rule, e.share, priced[e.name].rule, e.citation)
                 for e in EVENTS]),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m eiesim.machine_doc [--check]``: write (or check) ``docs/machine.md``."""
    args = sys.argv[1:] if argv is None else argv
    path = Path(__file__).resolve().parents[1].joinpath(*DOC_PATH)
    text = machine_doc()
    if "--check" in args:
        same = path.exists() and path.read_text(encoding="utf-8") == text
        print(f"{path.name} is up to date" if same else f"{path.name} differs from the declarations; "
              "run python -m eiesim.machine_doc", file=sys.stderr)
        return 0 if same else 1
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
