"""Derivation rules: per-event energies from a table's source numbers (SPEC §7).

Each rule returns a :class:`Derived` value carrying the energy and a sentence that shows
the rule and the numbers it used, so every figure in a report can be traced to the table.

- SRAM: the 64-bit access energy is interpolated log-log in capacity between the 8 KB,
  32 KB and 1 MB points, clamped to the 8 KB figure below 8 KB and extended along the
  32 KB-1 MB line above 1 MB; it then scales linearly with the access width.
- Integer ADD / MULT: interpolated log-log in bit width between the 8- and 32-bit figures
  (a power law E(b) = E8 (b/8)^k); the same power law is extended outside 8..32 bits.
- Float ADD / MULT: the table's 16- and 32-bit figures, no other widths.
- Register files: the 32-bit access scaled linearly by width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from eiecore.errors import EieError
from eiesim.energy.tables import EnergyTable

SRAM_POINTS_KB = (("sram_64bit_8kb", 8.0), ("sram_64bit_32kb", 32.0), ("sram_64bit_1mb", 1024.0))


@dataclass(frozen=True)
class Derived:
    """An energy in pJ and the rule, with numbers, that produced it."""

    pj: float
    rule: str


def _power_law(x: float, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float]:
    """y at x on the log-log line through (x0, y0) and (x1, y1); also the exponent."""
    k = math.log(y1 / y0) / math.log(x1 / x0)
    return y0 * (x / x0) ** k, k


def sram_access(table: EnergyTable, capacity_kb: float, width_bits: int) -> Derived:
    """Energy of one ``width_bits`` access to an SRAM of ``capacity_kb``."""
    points = [(kb, table[key]) for key, kb in SRAM_POINTS_KB]
    if capacity_kb <= points[0][0]:
        e64 = points[0][1]
        how = f"{capacity_kb:g} KB is at most 8 KB: clamped to the 8 KB figure {e64:g} pJ"
    else:
        (x0, y0), (x1, y1) = points[1:] if capacity_kb > points[1][0] else points[:2]
        e64, k = _power_law(capacity_kb, x0, y0, x1, y1)
        verb = "extended" if capacity_kb > points[-1][0] else "interpolated"
        how = (
            f"log-log {verb} between {x0:g} KB ({y0:g} pJ) and {x1:g} KB ({y1:g} pJ): "
            f"{y0:g} x ({capacity_kb:g}/{x0:g})^{k:.4f} = {e64:.4g} pJ"
        )
    pj = e64 * width_bits / 64
    return Derived(pj, f"64-bit access of a {capacity_kb:g} KB SRAM, {how}; x {width_bits}/64 bits = {pj:.4g} pJ")


def int_op(table: EnergyTable, op: str, bits: int) -> Derived:
    """Energy of one ``bits``-wide integer ``op`` ("add" or "mult")."""
    e8, e32 = table[f"int_{op}_8"], table[f"int_{op}_32"]
    pj, k = _power_law(bits, 8, e8, 32, e32)
    where = "interpolated" if 8 <= bits <= 32 else "extended (outside 8..32 bits)"
    return Derived(
        pj,
        f"{bits}-bit int {op.upper()}: log-log {where} between 8 bits ({e8:g} pJ) and 32 bits "
        f"({e32:g} pJ): {e8:g} x ({bits}/8)^{k:.4f} = {pj:.4g} pJ",
    )


def float_op(table: EnergyTable, op: str, bits: int) -> Derived:
    """Energy of one ``bits``-wide float ``op``; the table gives 16 and 32 bits only."""
    if bits not in (16, 32):
        raise EieError(f"float {op} energy is tabulated for 16 and 32 bits only, not {bits}")
    pj = table[f"float_{op}_{bits}"]
    return Derived(pj, f"{bits}-bit float {op.upper()}: table figure {pj:g} pJ")


def dram_byte(table: EnergyTable) -> Derived:
    """Energy of one byte read from DRAM: the table's 64-bit access (low end of its range) / 8."""
    e64 = table["dram_64bit_low"]
    pj = e64 / 8
    return Derived(pj, f"64-bit DRAM access, low end of the table's range, {e64:g} pJ / 8 bytes = {pj:.4g} pJ "
                       f"({e64 / 64:.4g} pJ per bit)")


def register_file(table: EnergyTable, width_bits: int) -> Derived:
    """Energy of one ``width_bits`` register-file access: the 32-bit figure scaled by width."""
    e32 = table["regfile_32"]
    pj = e32 * width_bits / 32
    return Derived(pj, f"{width_bits}-bit register file access: {e32:g} pJ (32-bit) x {width_bits}/32 = {pj:.4g} pJ")


def arithmetic(table: EnergyTable, op: str, bits: int, floating: bool) -> Derived:
    """A datapath ADD or MULT of ``bits`` width, float or integer."""
    return float_op(table, op, bits) if floating else int_op(table, op, bits)
