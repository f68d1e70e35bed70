"""Activation read/write unit: source and destination register files of one PE.

Ports
    source            the input activations this PE holds (a_j for j = p mod N), read by
                      its LNZD leaf
    destination       R accumulators, written by the arithmetic unit; zero at the start
                      of each row block
    write_back()      process: after a row block of a multi-block layer, write this PE's
                      accumulators to the activation SRAM, one per cycle
    outputs()         this PE's output rows of the block as real values, ReLU applied
                      unless the layer's activation is "none"
    counters          act_sram_writes

One cycle of write-back moves one accumulator; all PEs write in parallel, so a block of
``rows_in_block`` rows needs ceil(rows_in_block / N) cycles (PE 0 owns the most rows).
"""

from __future__ import annotations

import numpy as np
import simpy

from eiesim.config import ArchConfig
from eiesim.counters import Counters
from eiesim.numerics import to_real


class ActRW:
    def __init__(
        self, env: simpy.Environment, source: np.ndarray, n_rows: int, activation: str,
        config: ArchConfig, counters: Counters,
    ):
        self.env = env
        self.source = source
        self.n_rows = n_rows  # rows of this PE in this block: local rows 0 .. n_rows - 1
        self.relu = activation == "relu"
        self.config = config
        self.counters = counters
        zero = 0 if config.precision == "fixed" else np.float32(0.0)
        self.destination = [zero] * config.accumulators_per_pe

    def write_back(self):
        yield self.env.timeout(self.n_rows)
        self.counters.act_sram_writes += self.n_rows

    def outputs(self) -> np.ndarray:
        dtype = np.int64 if self.config.precision == "fixed" else np.float32
        values = to_real(np.array(self.destination[: self.n_rows], dtype), self.config)
        return np.maximum(values, 0.0) if self.relu else values
