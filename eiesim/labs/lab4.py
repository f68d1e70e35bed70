"""Lab 4 (scaling the PE count): answer checks.

Each check recomputes its answer with the compressor or the simulator (through the lab's
sweep store) and prints ``correct`` or a hint.
"""

from __future__ import annotations

import numpy as np

from compressor.csc import interleave
from eiesim.config import ArchConfig
from eiesim.labs.checking import Verdict, check_choice, check_number
from eiesim.labs.sweeps import measured

LOSSES = ("filler", "empty", "idle")


def column_fillers(rows, n_pe: int, m: int = 128) -> int:
    """Filler entries of one column with non-zeros at ``rows`` of an m-row layer on N PEs
    (enough accumulators for a single row block)."""
    config = ArchConfig.make(n_pe=n_pe, accumulators_per_pe=max(1, -(-m // n_pe)))
    rows = np.asarray(rows, np.int64)
    layer = interleave(rows, np.zeros_like(rows), np.ones(rows.size, np.uint8), (m, 1),
                       np.linspace(0.0, 1.0, 16), config)
    return layer.n_fillers


def fillers(answer, rows, n_pe: int, m: int = 128) -> Verdict:
    """Exercise 1: fillers of a column on N PEs."""
    return check_number(
        answer, column_fillers(rows, n_pe, m),
        "split the rows by PE (row mod N), turn them into local rows (row div N), then count "
        "floor(gap / 16) fillers for each gap of zero rows before a non-zero", name="filler count")


def scaling_frame(layers, pe_counts, store):
    df = measured(layers, {"n_pe": list(pe_counts)}, {}, store)
    first = df[df.n_pe == min(pe_counts)].set_index("layer")["cycles"]
    df["speedup"] = df.layer.map(first) / df.cycles
    df["parallel_efficiency"] = df.speedup / (df.n_pe / min(pe_counts))
    return df


def last_efficient_n(answer, layer: str, pe_counts, store, threshold: float = 0.75) -> Verdict:
    """Exercise 2: the largest N whose parallel efficiency (speedup / N) is >= threshold."""
    df = scaling_frame([layer], pe_counts, store)
    good = df[df.parallel_efficiency >= threshold].n_pe
    return check_number(
        answer, int(good.max()),
        "speedup(N) = cycles(1) / cycles(N); parallel efficiency = speedup / N", name="N")


def lost_cycles(row) -> dict[str, int]:
    """N x cycles = real + filler + empty + idle PE-cycles: the three losses of one point."""
    total = int(row.n_pe * row.cycles)
    return {"filler": int(row.filler_entries), "empty": int(row.empty_columns),
            "idle": total - int(row.busy_pe_cycles)}


def dominant_loss(answer, layer: str, n_pe: int, pe_counts, store) -> Verdict:
    """Exercise 3: which of filler / empty / idle PE-cycles is largest at ``n_pe``."""
    df = scaling_frame([layer], pe_counts, store)
    losses = lost_cycles(df[df.n_pe == n_pe].iloc[0])
    return check_choice(
        answer, max(losses, key=losses.get), LOSSES,
        "busy PE-cycles = real + filler + empty; idle = N x cycles - busy", name="loss")
