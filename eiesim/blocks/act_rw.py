"""Activation read/write unit: source and destination register files of one PE.

Ports
    source         the input activations this PE holds (a_j for j = p mod N), read by its
                   LNZD leaf or scanned by the pack scanner
    destination    the PE's accumulators, written by the arithmetic unit's write stage;
                   zero at the start of each row block
    write_back()   SimPy process: after a row block of a multi-block layer, write this PE's
                   accumulators to the activation SRAM, one per cycle (``act_sram_writes``)
    outputs()      this PE's output rows of the block as real values, ReLU applied unless
                   the layer's activation is "none"

All PEs write back in parallel, so a block of ``rows_in_block`` rows needs
ceil(rows_in_block / N) cycles: PE 0 owns the most rows.
"""

from __future__ import annotations

import numpy as np
import simpy

from eiesim.config import ArchConfig
from eiesim.counters import Counters
from eiesim.numerics import to_real


class ActRW:
    def __init__(self, source: np.ndarray, n_rows: int, activation: str, config: ArchConfig, counters: Counters):
        self.source = source
        self.n_rows = n_rows  # rows of this PE in this block: local rows 0 .. n_rows - 1
        self.relu = activation == "relu"
        self.config = config
        self.counters = counters
        zero = 0 if config.precision == "fixed" else np.float32(0.0)
        self.destination = [zero] * n_rows
        self.written_back = 0

    def write_back(self, env: simpy.Environment):
        for _ in range(self.n_rows):
            yield env.timeout(1)
            self.written_back += 1
            self.counters.act_sram_writes += 1

    def outputs(self) -> np.ndarray:
        dtype = np.int64 if self.config.precision == "fixed" else np.float32
        values = to_real(np.array(self.destination, dtype), self.config)
        return np.maximum(values, 0.0) if self.relu else values
