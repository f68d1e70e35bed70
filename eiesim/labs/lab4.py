"""Lab 4 (scaling the PE count): answer checks.

The ``*_of`` functions recompute an exercise's answer with the compressor or the simulator
(through the lab's sweep store), for the student's parameters (:func:`params`).
"""

from __future__ import annotations

import numpy as np

from compressor.csc import interleave
from eiesim.config import ArchConfig
from eiesim.labs.checking import student_params
from eiesim.labs.sweeps import measured

LOSSES = ("filler", "empty", "idle")
# What each student's exercises draw from (64 and 256 PEs are in the full and quick grids).
CHOICES = {"fillers_pes": (2, 3, 4), "threshold": (0.5, 0.6, 0.75, 0.9), "loss_pes": (64, 256)}


def params(student_id: str | None):
    """This student's PE counts and efficiency threshold."""
    return student_params(student_id, 4, CHOICES)


def column_fillers(rows, n_pe: int, m: int = 128) -> int:
    """Filler entries of one column with non-zeros at ``rows`` of an m-row layer on N PEs
    (enough accumulators for a single row block)."""
    config = ArchConfig.make(n_pe=n_pe, accumulators_per_pe=max(1, -(-m // n_pe)))
    rows = np.asarray(rows, np.int64)
    layer = interleave(rows, np.zeros_like(rows), np.ones(rows.size, np.uint8), (m, 1),
                       np.linspace(0.0, 1.0, 16), config)
    return layer.n_fillers


def scaling_frame(layers, pe_counts, store):
    df = measured(layers, {"n_pe": list(pe_counts)}, {}, store)
    first = df[df.n_pe == min(pe_counts)].set_index("layer")["cycles"]
    df["speedup"] = df.layer.map(first) / df.cycles
    df["parallel_efficiency"] = df.speedup / (df.n_pe / min(pe_counts))
    return df


def last_efficient_n_of(layer: str, pe_counts, store, threshold: float = 0.75) -> int:
    """Exercise 2: the largest N whose parallel efficiency (speedup / N) is >= threshold."""
    df = scaling_frame([layer], pe_counts, store)
    return int(df[df.parallel_efficiency >= threshold].n_pe.max())


def lost_cycles(row) -> dict[str, int]:
    """N x cycles = real + filler + empty + idle PE-cycles: the three losses of one point."""
    total = int(row.n_pe * row.cycles)
    return {"filler": int(row.filler_entries), "empty": int(row.empty_columns),
            "idle": total - int(row.busy_pe_cycles)}


def dominant_loss_of(layer: str, n_pe: int, pe_counts, store) -> str:
    """Exercise 3: which of filler / empty / idle PE-cycles is largest at ``n_pe``."""
    df = scaling_frame([layer], pe_counts, store)
    losses = lost_cycles(df[df.n_pe == n_pe].iloc[0])
    return max(losses, key=losses.get)
