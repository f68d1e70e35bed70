"""Lab 3 (activation queues and load balance): the lab's two-PE layer and answer checks.

Each check recomputes its answer with the simulator and prints ``correct`` or a hint.
"""

from __future__ import annotations

import numpy as np

from compressor.csc import EncodedLayer, interleave
from eiesim.config import ArchConfig
from eiesim.labs.checking import Verdict, check_number
from eiesim.labs.sweeps import measured
from eiesim.simulation import simulate
from eiesim.timing import PIPELINE_DRAIN

# (row, column) of the non-zeros of the 12 x 5 two-PE layer: PE0 (even rows) has six
# entries in column 0, PE1 (odd rows) six in column 3, one entry each elsewhere.
TWO_PE_NONZEROS = (
    [(r, 0) for r in range(0, 12, 2)] + [(1, 0), (0, 1), (1, 1), (0, 2), (1, 2), (0, 3)]
    + [(r, 3) for r in range(1, 12, 2)] + [(0, 4), (1, 4)]
)


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


def tiny_cycles(answer, queue_depth: int) -> Verdict:
    """Exercise 1: cycles of the two-PE layer at ``queue_depth``."""
    return check_number(
        answer, two_pe_cycles(queue_depth),
        "write c_p(k) for both PEs, then apply b_k and s_p(k) of the timing contract column by "
        "column; remember b_k waits for s_p(k - D) only when k > D, and the "
        f"+{PIPELINE_DRAIN} drain (eiesim.timing.PIPELINE_DRAIN)",
        name="cycle count")


def refill_delay_cost(answer, queue_depth: int) -> Verdict:
    """Exercise 3: extra cycles of the two-PE layer when a freed queue slot can take a
    broadcast only in the cycle after the pop (``queue_refill="next-cycle"``)."""
    return check_number(
        answer, two_pe_cycles(queue_depth, "next-cycle") - two_pe_cycles(queue_depth),
        "only broadcasts that waited for a pop move: with next-cycle refill such a broadcast "
        "goes out the cycle after the pop; redo b_k and s_p(k) from the first one", name="extra cycles")


def smallest_full_speed_depth(answer) -> Verdict:
    """Exercise 2: the smallest D at which the two-PE layer is as fast as with D = 256."""
    best = two_pe_cycles(256)
    depth = next(d for d in range(1, 257) if two_pe_cycles(d) == best)
    return check_number(
        answer, depth,
        "a broadcast waits for s_p(k - D); find how far the lightly loaded PE runs ahead of the "
        "busy one while the six-entry column is processed", name="queue depth")


def knee_depth(answer, layers, depths, n_pe: int, store, within: float = 0.05) -> Verdict:
    """Exercise 3: the smallest depth whose load efficiency is within ``within`` (relative)
    of the deepest queue's, for every layer."""
    df = measured(layers, {"queue_depth": list(depths)}, {"n_pe": n_pe}, store)
    deepest = df[df.queue_depth == max(depths)].set_index("layer")["load_efficiency"]
    ratio = df.load_efficiency / df.layer.map(deepest)
    ok_depths = df.assign(ok=ratio >= 1 - within).groupby("queue_depth")["ok"].all()
    depth = int(min(d for d, ok in ok_depths.items() if ok))
    return check_number(
        answer, depth,
        "divide each layer's load efficiency by its value at the deepest queue and look for the "
        "first depth where every layer reaches 1 - within", name="queue depth")
