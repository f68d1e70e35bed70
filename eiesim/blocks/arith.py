"""Arithmetic unit: codebook decode, multiply, shift-add and write, with a bypass.

``ArithmeticUnit`` ports
    execute(codes, rels, a, first_issue, j) column j's entries from the sparse-matrix
                                           read unit and the broadcast activation a_j
    accumulators                           the destination register file (``ActRW``)
    counters                               macs, accumulator_writes, codebook_reads,
                                           bypass_hits

An entry issued in cycle i leaves the SRAM in cycle i + 1 and then takes four stages:
i + 2 decodes the 4-bit code through the codebook (the bias codebook, for a layer that has
one, when j is the bias column) and accumulates the relative index
into the accumulator address (local row = previous + z + 1, from -1 in each column);
i + 3 multiplies the weight by a_j and reads the accumulator; i + 4 shifts and adds;
i + 5 writes the accumulator. A filler (code 0) is decoded and advances the address but
writes nothing. When a real entry is issued the cycle right after the previous real
entry and targets the same accumulator, its read in i + 3 would miss that entry's write
in i + 4, so the sum is forwarded: a bypass hit. Arithmetic follows ``eiesim.numerics``
(SPEC §6), so results equal the functional model bit for bit.

``Multiplier``: every PE multiplies the same broadcast activation by the same codebook,
so the model computes the 2^b products once per activation value and shares them.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np

from eiesim.config import ArchConfig
from eiesim.counters import Counters
from eiesim.numerics import accumulate, scaled_product, value_range
from eiesim.timing import ARITH_STAGES


class Multiplier:
    def __init__(self, codebook: np.ndarray, config: ArchConfig):
        self.codebook = codebook.tolist()  # already in the layer's number format
        self.config = config
        self._products: dict = {}

    def products(self, activation) -> list:
        """scaled_product(codebook[v], a) for every code v."""
        table = self._products.get(activation)
        if table is None:
            table = [scaled_product(w, activation, self.config) for w in self.codebook]
            self._products[activation] = table
        return table


def accumulator(config: ArchConfig) -> Callable:
    """``numerics.accumulate`` with its saturation range looked up once per engine run.

    The add runs once per real entry, the reference engine's hottest line; the general
    function re-derives the range on every call, which made it four times slower.
    """
    if config.precision == "fixed":
        lo, hi = value_range(config)
        return lambda acc, product: min(max(acc + product, lo), hi)
    return partial(accumulate, config=config)


class ArithmeticUnit:
    STAGES = ARITH_STAGES  # decode, multiply, shift-add, write

    def __init__(self, multiplier: Multiplier, accumulators: list, config: ArchConfig, counters: Counters,
                 bias_column: int = -1):
        self.multiplier = multiplier
        # Codes of the bias column decode through the bias codebook, after the 2^b weight entries.
        self.bias_column, self.bias_offset = bias_column, 1 << config.weight_bits
        self.accumulators = accumulators
        self.add = accumulator(config)
        self.counters = counters
        self.last_real = (-1, -2)  # (local row, issue cycle) of the latest real entry

    def execute(self, codes: list[int], rels: list[int], activation, first_issue: int, column: int = -1) -> int:
        """Process column ``column``'s entries issued in cycles first_issue, first_issue + 1, ...;
        returns real ones."""
        products = self.multiplier.products(activation)
        if column == self.bias_column >= 0:
            products = products[self.bias_offset :]
        acc, add = self.accumulators, self.add
        last_row, last_cycle = self.last_real
        row, cycle, real, bypass = -1, first_issue, 0, 0
        for v, z in zip(codes, rels):
            row += z + 1
            if v:
                acc[row] = add(acc[row], products[v])
                if row == last_row and cycle == last_cycle + 1:
                    bypass += 1
                last_row, last_cycle = row, cycle
                real += 1
            cycle += 1
        self.last_real = (last_row, last_cycle)
        counters = self.counters
        counters.codebook_reads += len(codes)
        counters.macs += real
        counters.accumulator_writes += real
        counters.bypass_hits += bypass
        return real
