"""The machine's parameters, each declared once (SPEC §4), without importing pydantic.

:class:`~eiesim.config.ArchConfig` builds its fields and their validation from
:data:`PARAMETERS` and the overridable timing rules (``eiesim.timing.RULES``); the CLI's
``--set FIELD=VALUE`` help and the docs tables (``python -m eiesim.machine_doc``, written
to ``docs/machine.md``) read the same declarations, so a new parameter is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from eiecore.encoding import Encoding
from eiesim.timing import PROFILE_NAMES, OVERRIDABLE, Profile

_CHIP = Encoding()  # the paper's chip: the encoding defaults live in one place
PAPER = "EIE (ISCA 2016)"


@dataclass(frozen=True)
class Parameter:
    """One machine parameter: its type, default, unit, bounds (pydantic's ge / gt / le) and source."""

    name: str
    kind: Any
    default: Any
    unit: str
    description: str
    source: str
    bounds: tuple[tuple[str, float], ...] = ()


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("n_pe", int, _CHIP.n_pe, "PEs", "number of processing elements N", f"{PAPER} §IV",
              (("ge", 1), ("le", 65536))),
    Parameter("queue_depth", int, 8, "slots", "activation-queue slots D (usable slots: see queue_slots)",
              f"{PAPER} §IV", (("ge", 1), ("le", 65536))),
    Parameter("clock_mhz", float, 800.0, "MHz", "clock frequency", f"{PAPER} Table II", (("gt", 0),)),
    Parameter("accumulators_per_pe", int, _CHIP.accumulators_per_pe, "rows",
              "accumulators R per PE (rows per PE per block)", f"{PAPER} §IV", (("ge", 1), ("le", 2**20))),
    Parameter("index_bits", int, _CHIP.index_bits, "bits", "bits x of a relative row index", f"{PAPER} §III",
              (("ge", 1), ("le", 8))),
    Parameter("weight_bits", int, _CHIP.weight_bits, "bits", "bits b of a weight code (codebook of 2^b entries)",
              f"{PAPER} §III", (("ge", 1), ("le", 8))),
    Parameter("spmat_width_bits", int, 64, "bits", "width of one sparse-matrix SRAM row", f"{PAPER} §IV",
              (("ge", 1), ("le", 65536))),
    Parameter("spmat_sram_kb", float, 128.0, "KB", "sparse-matrix SRAM per PE", f"{PAPER} §IV",
              (("gt", 0), ("le", 2**20))),
    Parameter("ptr_sram_kb", float, 32.0, "KB", "pointer SRAM per PE (two banks)", f"{PAPER} §IV",
              (("gt", 0), ("le", 2**20))),
    Parameter("act_sram_kb", float, 2.0, "KB", "activation SRAM per PE", f"{PAPER} §IV", (("gt", 0), ("le", 2**20))),
    Parameter("ptr_bits", int, 16, "bits", "bits of one column pointer", f"{PAPER} §IV", (("ge", 1), ("le", 64))),
    Parameter("value_bits", int, 16, "bits", "bits of an activation / codebook value / accumulator",
              f"{PAPER} §IV", (("ge", 2), ("le", 32))),
    Parameter("act_frac_bits", int, 8, "bits", "fraction bits of activations", "SPEC §4 (Q8.8)", (("ge", 0),)),
    Parameter("weight_frac_bits", int, 12, "bits", "fraction bits of codebook values", "SPEC §4", (("ge", 0),)),
    Parameter("precision", Literal["fixed", "float32"], "fixed", "", "arithmetic number format", "SPEC §4"),
    Parameter("strict_fit", bool, False, "", "make a layer that does not fit the SRAMs an error", "SPEC §4"),
    Parameter("timing", Profile, "spec", "", "timing profile: a bundle of timing rules (docs/machine.md)",
              "SPEC §5.1"),
    Parameter("weights", Literal["on-chip", "streamed"], "on-chip", "",
              "where the sparse matrix lives: in the PEs' SRAMs, or streamed from DRAM column by column",
              f"{PAPER} §IV (on-chip); SPEC §5.2 (streamed)"),
    Parameter("dram_bytes_per_cycle", int, 64, "B/cycle",
              "DRAM bandwidth shared by all PEs under streamed weights",
              "LPDDR5 x64 at 6400 MT/s: 51.2 GB/s = 64 B per cycle at 800 MHz", (("ge", 1), ("le", 2**30))),
    Parameter("dram_latency_cycles", int, 80, "cycles",
              "cycles from a fetch's start to its first byte under streamed weights",
              "about 100 ns DRAM access latency at 800 MHz", (("ge", 0), ("le", 2**20))),
    Parameter("dram_burst_bytes", int, 64, "B", "DRAM burst: a column's fetch is rounded up to whole bursts",
              "LPDDR5 BL16 x 32 bits = 64 B", (("ge", 1), ("le", 2**16))),
    Parameter("stream_buffer_columns", int, 16, "columns",
              "per-PE stream buffer slots, the column in service included (at least queue slots + 1 hides "
              "nothing of an unbounded DRAM)", "SPEC §5.2 (twice the queue depth)", (("ge", 2), ("le", 65536))),
)

if tuple(p.default for p in PARAMETERS if p.name == "timing") != (PROFILE_NAMES[0],):
    raise ImportError("the default timing profile must be SPEC §5's")




def field_names() -> tuple[str, ...]:
    """Every ArchConfig field, in declaration order: the parameters, then the rule overrides."""
    return (*(p.name for p in PARAMETERS), *OVERRIDABLE)
