"""Lab 3 (activation queues and load balance): the lab's two-PE layer and answer checks.

The ``*_of`` functions and :func:`two_pe_cycles` recompute an exercise's answer with the
simulator, for the student's parameters (:func:`params`).
"""

from __future__ import annotations

import numpy as np

from compressor.csc import EncodedLayer, interleave
from eiesim.config import ArchConfig
from eiesim.labs.checking import student_params
from eiesim.labs.sweeps import measured
from eiesim.simulation import simulate

# (row, column) of the non-zeros of the 12 x 5 two-PE layer: PE0 (even rows) has six
# entries in column 0, PE1 (odd rows) six in column 3, one entry each elsewhere.
TWO_PE_NONZEROS = (
    [(r, 0) for r in range(0, 12, 2)] + [(1, 0), (0, 1), (1, 1), (0, 2), (1, 2), (0, 3)]
    + [(r, 3) for r in range(1, 12, 2)] + [(0, 4), (1, 4)]
)
# What each student's exercises draw from.
CHOICES = {"depth": (1, 2, 8), "slack": (0, 4, 5), "refill_depth": (1, 3), "within": (0.03, 0.05, 0.1)}


def params(student_id: str | None):
    """This student's queue depths, cycle slack and knee tolerance."""
    return student_params(student_id, 3, CHOICES)


def two_pe_layer(queue_depth: int, queue_refill: str | None = None) -> tuple[EncodedLayer, np.ndarray, ArchConfig]:
    """The lab's 12 x 5 layer on two PEs, all five activations non-zero.

    ``queue_refill``: the rule of that name (None: the spec profile's, ``same-cycle``).
    """
    config = ArchConfig.make(n_pe=2, queue_depth=queue_depth, queue_refill=queue_refill)
    rows, cols = (np.array(v) for v in zip(*TWO_PE_NONZEROS))
    codebook = np.linspace(0.0, 1.0, 16)
    layer = interleave(rows, cols, np.ones(rows.size, np.uint8), (12, 5), codebook, config, name="two-PE")
    return layer, np.ones(5), config


def two_pe_cycles(queue_depth: int, queue_refill: str | None = None) -> int:
    layer, acts, config = two_pe_layer(queue_depth, queue_refill)
    return simulate(layer, acts, config, engine="reference").cycles


def refill_cost_of(queue_depth: int) -> int:
    """Exercise 3: extra cycles of the two-PE layer when a freed queue slot can take a
    broadcast only in the cycle after the pop (``queue_refill="next-cycle"``)."""
    return two_pe_cycles(queue_depth, "next-cycle") - two_pe_cycles(queue_depth)


def full_speed_depth_of(slack: int = 0) -> int:
    """Exercise 2: the smallest D at which the two-PE layer takes at most ``slack`` cycles
    more than with D = 256."""
    best = two_pe_cycles(256)
    return next(d for d in range(1, 257) if two_pe_cycles(d) <= best + slack)


def knee_depth_of(layers, depths, n_pe: int, store, within: float = 0.05) -> int:
    """Exercise 4: the smallest depth whose load efficiency is within ``within`` (relative)
    of the deepest queue's, for every layer."""
    df = measured(layers, {"queue_depth": list(depths)}, {"n_pe": n_pe}, store)
    deepest = df[df.queue_depth == max(depths)].set_index("layer")["load_efficiency"]
    ratio = df.load_efficiency / df.layer.map(deepest)
    ok_depths = df.assign(ok=ratio >= 1 - within).groupby("queue_depth")["ok"].all()
    return int(min(d for d, ok in ok_depths.items() if ok))
