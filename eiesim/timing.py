"""The timing rules of the PE array, each named and documented once (SPEC §5, §5.1).

Everything that decides a cycle number lives here: the engines' blocks and kernels, the
test oracle, labs and docs import these names instead of repeating a number.

Latencies of the pipeline (SPEC §5)
    A PE issues ``ISSUE_LANES`` entries per cycle (EIE: one): the width of the reference
    blocks' stage registers and the issue capacity of the derived metrics
    (:func:`eiesim.result.derived_metrics`). A column popped in cycle s (the pop cycle reads its two pointers) has its first entry
    issued ``ISSUE_OFFSET`` cycles later. An issued entry then passes the PE's pipeline:
    ``ISSUE_STAGE`` (the address register), the sparse-matrix SRAM read
    (``SPMAT_READ_LATENCY``) and ``ARITH_STAGES`` stage registers (decode + address
    accumulate, multiply + accumulator read, shift-add, write). ``PIPELINE_DRAIN`` = 1 + 1 +
    4 = 6 stages: what the ``pipeline`` block end adds after the last issue slot.

Schedule quantities (the leaf definitions every engine, report, trace and the test oracle
share; plain arithmetic, so numba compiles them into the kernels and numpy applies them
to arrays): :func:`pop_interval`, :func:`next_pop`, :func:`issue_cycle`,
:func:`pop_tail`, :func:`entry_tail`; under streamed weights (SPEC §5.2)
:func:`fetch_bytes` and :func:`transfer_cycles`.

Rules a timing profile chooses (SPEC §5.1): see :class:`TimingRules`. A profile is a
named bundle of choices (``PROFILES``); :class:`~eiesim.config.ArchConfig` picks one with
``timing`` and may override the individual rules listed in ``OVERRIDABLE``.
"""

from __future__ import annotations

from dataclasses import dataclass, make_dataclass
from typing import Literal

# --- latencies ---------------------------------------------------------------------------

ISSUE_LANES = 1  # entries one PE issues per cycle (EIE §IV: one; the schedule quantities below assume one)
ISSUE_OFFSET = 1  # column popped (pointers read) in cycle s: its first entry is issued in s + 1
ISSUE_STAGE = 1  # an issued address spends one cycle in the address register
SPMAT_READ_LATENCY = 1  # an entry issued in cycle i leaves the sparse-matrix SRAM in i + 1
ARITH_STAGES = 4  # decode/address-accumulate, multiply/accumulator read, shift-add, write
PIPELINE_DRAIN = ISSUE_STAGE + SPMAT_READ_LATENCY + ARITH_STAGES  # 6: T_block = max(s + c) + 6

# The authors' simulator (eie-cpp) ends a layer when its pipelines have drained, with
# per-event tails measured from its source (SPEC §5.1 "End"):
POP_TAIL = 2  # a popped column (even an empty one) keeps its PE busy until s + 2
REAL_TAIL = PIPELINE_DRAIN  # a real entry issued in i leaves the write stage: i + 6
FILLER_TAIL = ISSUE_STAGE + SPMAT_READ_LATENCY + 1  # a filler issued in i leaves after its decode: i + 3


# --- schedule quantities ---------------------------------------------------------------------


# ``pointer_cycles``: the cycles a pop reads pointers in (TimingRules.pointer_cycles:
# ISSUE_OFFSET with two pointer banks).


def pop_interval(n, pointer_cycles):
    """c = max(1, n) (+ 1 with one pointer bank): cycles between a PE's pop of a column of n
    entries and its next pop (an empty column still takes its pointer-read cycle)."""
    return max(1, n) + pointer_cycles - ISSUE_OFFSET


def next_pop(s, n, pointer_cycles):
    """The first cycle a PE that popped a column of n entries in cycle s may pop again: s + c."""
    return s + pop_interval(n, pointer_cycles)


def issue_cycle(s, i, pointer_cycles):
    """The cycle entry i (0-based) of a column popped in cycle s is issued: s + ISSUE_OFFSET + i
    (one later with one pointer bank)."""
    return s + pointer_cycles + i


def pop_tail(s, pointer_cycles):
    """Under the ``drained`` end: the last cycle (exclusive) a column popped in s keeps its PE busy."""
    return s + POP_TAIL + pointer_cycles - ISSUE_OFFSET


def entry_tail(i, real):
    """Under the ``drained`` end: when an entry issued in cycle i has left the pipeline."""
    return i + (REAL_TAIL if real else FILLER_TAIL)


# Streamed weights (SPEC §5.2): a broadcast column's fetch and its transfer.


def fetch_bytes(entries, n_pe, entry_bits, ptr_bits, burst_bytes):
    """F: bytes fetched for one broadcast column: its entries (real + filler) of all N PEs and
    each PE's two pointers, stored together, rounded up to whole bursts."""
    bits = entries * entry_bits + 2 * n_pe * ptr_bits
    burst_bits = 8 * burst_bytes
    return (bits + burst_bits - 1) // burst_bits * burst_bytes


def transfer_cycles(nbytes, bytes_per_cycle):
    """d = ceil(F / B): cycles a fetch of F bytes holds the shared DRAM channel."""
    return (nbytes + bytes_per_cycle - 1) // bytes_per_cycle


def lnzd_tree_latency(n_pe: int) -> int:
    """L: depth of the 4-ary LNZD tree over N leaves, the smallest L >= 1 with 4^L >= N."""
    levels = 1
    while 4**levels < n_pe:
        levels += 1
    return levels


# --- rule choices --------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One timing rule, declared once: everything else (TimingRules, the profiles, the
    ArchConfig override fields, the --set and --grid values, the docs table) derives from it.

    ``choices[0]`` is SPEC §5's; ``profiles`` gives each profile's choice; ``overridable``
    rules become ArchConfig fields of their own (None: the profile's). The others change
    what is computed, not only when, and come only with a profile.
    """

    name: str
    choices: tuple[str, ...]
    profiles: dict[str, str]
    description: str
    section: str
    overridable: bool = True


PROFILE_NAMES: tuple[str, ...] = ("spec", "eie-cpp")
Profile = Literal["spec", "eie-cpp"]

RULES: tuple[Rule, ...] = (
    Rule("row_blocks", ("accumulators", "one-pass"), {"spec": "accumulators", "eie-cpp": "one-pass"},
         "row blocks of N x R rows with write-back, or the whole layer in one pass", "§5.1 One pass",
         overridable=False),
    Rule("broadcast", ("nonzero", "positive"), {"spec": "nonzero", "eie-cpp": "positive"},
         "broadcast every a_j != 0, or only a_j > 0 (a negative activation counts as zero)",
         "§5.1 What is broadcast", overridable=False),
    Rule("bias", ("input", "own-pack"), {"spec": "input", "eie-cpp": "own-pack"},
         "the bias column is an ordinary last input, or always broadcast last in its own LNZD pack",
         "§5.1 What is broadcast", overridable=False),
    Rule("lnzd", ("tree", "pack-scan"), {"spec": "tree", "eie-cpp": "pack-scan"},
         "LNZD timing: the 4-ary tree (L cycles, then one per cycle) or the authors' pack scanner",
         "§5.1 LNZD timing"),
    Rule("queue_slots", ("all", "ring"), {"spec": "all", "eie-cpp": "ring"},
         "all queue_depth slots usable, or a ring of queue_depth slots of which queue_depth - 1 are usable",
         "§5.1 Queue"),
    Rule("queue_refill", ("same-cycle", "next-cycle"), {"spec": "same-cycle", "eie-cpp": "next-cycle"},
         "a queue slot freed by a pop in cycle t takes a broadcast in t, or only in t + 1", "§5.1 Queue"),
    Rule("block_end", ("pipeline", "drained"), {"spec": "pipeline", "eie-cpp": "drained"},
         "a block ends PIPELINE_DRAIN cycles after the last issue slot, or when every event has drained",
         "§5.1 End"),
    Rule("pointer_banks", ("two", "one"), {"spec": "two", "eie-cpp": "two"},
         "the pointer SRAM's banks: two read p[j] and p[j+1] in the pop cycle, one reads them in two cycles",
         "§5.1 Pointer banks"),
)
RULE_NAMES: tuple[str, ...] = tuple(r.name for r in RULES)
OVERRIDABLE: tuple[str, ...] = tuple(r.name for r in RULES if r.overridable)
if any(set(r.profiles) != set(PROFILE_NAMES) or not set(r.profiles.values()) <= set(r.choices) for r in RULES):
    raise ImportError("every timing rule must give one of its choices for every profile")


class _RuleMethods:
    """What the rules in force answer beyond their choices."""

    def usable_slots(self, queue_depth: int) -> int:
        """U: queue slots a broadcast may occupy."""
        return queue_depth - 1 if self.queue_slots == "ring" else queue_depth

    @property
    def refill_delay(self) -> int:
        """Cycles between a pop freeing a slot and a broadcast that may fill it."""
        return 1 if self.queue_refill == "next-cycle" else 0

    @property
    def pointer_cycles(self) -> int:
        """Cycles a pop spends reading the column's two pointers: ISSUE_OFFSET, one more with one bank."""
        return ISSUE_OFFSET + (self.pointer_banks == "one")


TimingRules = make_dataclass(
    "TimingRules", [(r.name, Literal[r.choices], r.choices[0]) for r in RULES], bases=(_RuleMethods,),
    frozen=True)
TimingRules.__module__ = __name__  # importable by name, so a config that computed its rules pickles
TimingRules.__doc__ = """One choice per timing rule (:data:`RULES`); the defaults are SPEC §5's.

    row_blocks
        ``accumulators``: a layer runs in ceil(M / (N R)) row blocks, each a pass of its
        own followed by write-back. ``one-pass``: the whole layer is one block (local row
        i div N), unlimited accumulators, nothing written back.
    broadcast
        ``nonzero``: every a_j != 0 is broadcast. ``positive``: only a_j > 0 (after
        conversion to the layer's number format); a negative activation counts as zero,
        in the timing and in the output.
    bias
        ``input``: the bias column is an ordinary last input (a = 1). ``own-pack``: a bias
        column is always broadcast last, in its own LNZD pack; a layer without a bias gets
        an empty one (column index K, no entries).
    lnzd
        ``tree``: the 4-ary tree yields the first non-zero after L cycles and one per
        cycle after that: b_1 = L, b_k >= b_{k-1} + 1. ``pack-scan``: the inputs are
        scanned in packs of N slots (K padded with zeros to whole packs, then the bias
        pack under ``own-pack``). pending starts at 1; in each pack every broadcast slot,
        in slot order, gets gap = pending and sets pending to 0; after the pack, pending
        grows by 1 when its last slot (N - 1) is not broadcast; the bias gets gap =
        pending. b_1 = gap_1, b_k >= b_{k-1} + 1 + gap_k. ``lnzd_scan_cycles`` = sum of
        the gaps (0 under ``tree``).
    queue_slots
        ``all``: D = ``queue_depth`` usable slots. ``ring``: ``queue_depth`` = B ring
        slots of which B - 1 are usable (B = 1 is rejected).
    queue_refill
        ``same-cycle``: a slot freed by a pop in cycle t takes a broadcast in cycle t.
        ``next-cycle``: only in t + 1. With U usable slots, broadcast k > U waits for
        max_p s_p(k - U) + (0 or 1).
    block_end
        ``pipeline``: T_block = max_p (s_p(K') + c_p(K')) + PIPELINE_DRAIN (L + 6 with
        K' = 0). ``drained``: the largest of s_p(k) + POP_TAIL over every PE and column,
        i + REAL_TAIL over every real entry issued in i, i + FILLER_TAIL over every
        filler. With K' = 0 (only possible without an ``own-pack`` bias) both rules
        count from the cycle a first broadcast would have had: L under ``tree``, the
        scan's final pending under ``pack-scan``.
    pointer_banks
        ``two``: p[j] and p[j + 1] sit in different banks and are read in the pop cycle s;
        the first entry issues in s + 1. ``one``: they are read in s and s + 1, the first
        entry issues in s + 2 and the PE pops again no earlier than s + max(1, n) + 1 (the
        cycle after the pop, neither busy nor starved). Every schedule quantity takes the
        pop's pointer cycles (``pointer_cycles``).
    """

PROFILES: dict[str, TimingRules] = {
    profile: TimingRules(**{r.name: r.profiles[profile] for r in RULES}) for profile in PROFILE_NAMES}
