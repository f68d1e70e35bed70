"""Lab 2 (the PE array cycle by cycle): EIE's 16 x 8 example and answer checks.

PE0's non-zeros are those of EIE Fig. 2 (checked against Fig. 3 in
``tests/test_csc_golden.py``); the other PEs' non-zeros are chosen here so that the
four PEs carry different loads. The ``*_of`` functions recompute an exercise's answer
with the compressor or the simulator, for the student's parameters (:func:`params`).
"""

from __future__ import annotations

import numpy as np

from compressor.csc import EncodedLayer, compress_layer
from eiesim.config import ArchConfig
from eiesim.labs.checking import student_params
from eiesim.simulation import simulate

N_PE = 4
# (row, column) per PE; PE p owns rows p, p + 4, p + 8, p + 12.
NONZEROS = {
    0: [(0, 0), (8, 0), (12, 0), (4, 1), (0, 2), (12, 2), (0, 4), (4, 4), (0, 5), (12, 5),
        (0, 6), (8, 7), (12, 7)],  # EIE Fig. 2
    1: [(1, 0), (5, 1), (1, 2), (5, 2), (9, 2), (13, 2), (9, 3), (13, 5), (1, 7)],
    2: [(2, 1), (6, 3), (10, 4), (14, 4), (2, 5), (6, 6), (10, 6)],
    3: [(3, 0), (7, 2), (11, 4), (3, 5), (7, 5), (11, 5), (15, 5), (15, 7)],
}
ACTIVE = (2, 4, 5, 7)  # a = (0, 0, a2, 0, a4, a5, 0, a7)
# What each student's exercises draw from (PE1's list is shown in the lab, so not PE1).
# Exercise 2 turns one more column on: its activation becomes 1.
CHOICES = {"z_pe": (0, 2, 3), "extra_column": (0, 1, 3, 6), "shallow_depth": (1, 2)}


def params(student_id: str | None):
    """This student's PE (Exercise 1), extra column (2) and queue depth (3, 4)."""
    return student_params(student_id, 2, CHOICES)


def golden_matrix() -> np.ndarray:
    """W (16 x 8): weight n of the list above is 0.1 x (n + 1) with alternating sign."""
    w = np.zeros((16, 8))
    pairs = [rc for p in range(N_PE) for rc in NONZEROS[p]]
    for n, (r, c) in enumerate(pairs):
        w[r, c] = (-1) ** n * 0.1 * (n + 1)
    return w


def golden_activations(extra_column: int | None = None) -> np.ndarray:
    """a2, a4, a5, a7 non-zero; ``extra_column`` (if given) turned on with value 1."""
    a = np.zeros(8)
    a[list(ACTIVE)] = [0.5, 1.0, 0.25, 0.75]
    if extra_column is not None:
        a[extra_column] = 1.0
    return a


def golden_layer(queue_depth: int = 8, extra_column: int | None = None) -> tuple[EncodedLayer, np.ndarray, ArchConfig]:
    """The example encoded for 4 PEs, its activations and the configuration."""
    config = ArchConfig.make(n_pe=N_PE, queue_depth=queue_depth)
    return compress_layer(golden_matrix(), config, name="EIE Fig. 2"), golden_activations(extra_column), config


def pe_list(layer: EncodedLayer, pe: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes v, relative indices z and column pointers of one PE (single row block)."""
    span = slice(layer.start[pe], layer.start[pe + 1])
    return layer.code[span], layer.rel[span], layer.ptr[0, pe]


def relative_indices_of(pe: int) -> list[int]:
    """Exercise 1: the relative row indices z of PE ``pe``, in storage order."""
    layer, _, _ = golden_layer()
    return [int(v) for v in pe_list(layer, pe)[1]]


def _simulate(queue_depth: int, extra_column: int | None = None):
    return simulate(*golden_layer(queue_depth, extra_column))


def cycles_of(queue_depth: int, extra_column: int | None = None) -> int:
    """Exercises 2 and 3: cycles of the example at ``queue_depth`` (``extra_column`` also on)."""
    return _simulate(queue_depth, extra_column).cycles


def starved_of(queue_depth: int) -> int:
    """Exercise 4: starved PE-cycles of the example at ``queue_depth``."""
    return _simulate(queue_depth).counters.starved_pe_cycles
