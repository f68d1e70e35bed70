"""Arithmetic unit: four stage registers (decode, multiply, shift-add, write) and a bypass.

``ArithmeticUnit`` ports
    spmat.out      the entries leaving the SRAM, one per lane: (code v, relative index z,
                   first of its column?, the column's broadcast (j, a_j))
    accumulators   the destination register file of the activation read/write unit
    counters       real_entries, filler_entries, codebook_reads, macs, bypass_hits,
                   accumulator_writes; ``real`` of this PE

An entry issued in cycle i leaves the SRAM in i + 1 and then moves one stage per cycle:
i + 2 decode: the 4-bit code goes through the codebook (the bias codebook, whose entries
follow the weights' 2^b in the table, for the bias column of a layer that has one) and
the relative index
accumulates into the accumulator address (local row = previous + z + 1, from -1 in each
column); a filler (code 0) advances the address and leaves the pipeline here.
i + 3 multiply: weight x a_j, and the accumulator is read.
i + 4 shift-add: the product, rounded and shifted, is added to the value read.
i + 5 write: the sum goes to the accumulator.
The stages are clocked last to first, so each reads the register its upstream stage
wrote in the previous cycle. A real entry whose multiply stage finds the entry one stage
ahead (issued the cycle before) bound for the same accumulator would read a value that
entry has not written yet: the sum is forwarded from the write stage instead (a bypass
hit). Every stage register is a list, one entry per lane (EIE: one lane), so a unit fed
several entries per cycle needs no other change. Arithmetic follows ``eiesim.numerics``
(SPEC §6), bit for bit.

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

    The add runs once per real entry; the general function re-derives the range on
    every call, which made the engine four times slower.
    """
    if config.precision == "fixed":
        lo, hi = value_range(config)
        return lambda acc, product: min(max(acc + product, lo), hi)
    return partial(accumulate, config=config)


class ArithmeticUnit:
    STAGES = ("decode", "multiply", "shift-add", "write")  # one register each
    if len(STAGES) != ARITH_STAGES:
        raise ImportError("eiesim.timing.ARITH_STAGES must count the ArithmeticUnit's stage registers")

    def __init__(self, multiplier: Multiplier, accumulators: list, counters: Counters, config: ArchConfig,
                 bias_column: int = -1):
        self.multiplier = multiplier
        self.bias_column, self.bias_offset = bias_column, 1 << config.weight_bits
        self.accumulators = accumulators
        self.add = accumulator(config)
        self.counters = counters
        self.address = -1  # accumulator address of the last decoded entry
        self.decoded: list | tuple = ()  # per lane: (row, code, a_j) of a real entry
        self.multiplied: list | tuple = ()  # per lane: (row, product, value read, bypass?)
        self.summed: list | tuple = ()  # per lane: (row, sum)
        self.written: list | tuple = ()  # rows written in this cycle, for traces
        self.decoded_filler = False  # a filler was decoded (and dropped) in this cycle
        self.real = 0

    @property
    def empty(self) -> bool:
        return not (self.decoded or self.multiplied or self.summed)

    def tick(self, entries: list) -> None:
        """One cycle; ``entries``: the sparse-matrix read unit's output of the previous cycle, one per lane."""
        counters = self.counters
        acc = self.accumulators
        # write
        summed = self.summed
        if summed:
            self.written = [row for row, _ in summed]
            for row, value in summed:
                acc[row] = value
            counters.accumulator_writes += len(summed)
        else:
            self.written = ()
        # shift-add (a bypassed add takes the sum being written, of the same row)
        sums: list | tuple = ()
        if self.multiplied:
            sums = []
            for row, product, value, bypass in self.multiplied:
                if bypass:
                    for written, total in summed:
                        if written == row:
                            value = total
                sums.append((row, self.add(value, product)))
        self.summed = sums
        # multiply
        multiplied: list | tuple = ()
        if self.decoded:
            multiplied, products = [], self.multiplier.products
            for row, code, activation in self.decoded:
                bypass = False
                for ahead, _ in sums:
                    bypass = bypass or ahead == row
                counters.bypass_hits += bypass
                counters.macs += 1
                multiplied.append((row, products(activation)[code], acc[row], bypass))
        self.multiplied = multiplied
        # decode, lane by lane (the address accumulates in issue order)
        self.decoded_filler = False
        if not entries:
            self.decoded = ()
            return
        decoded = []
        for code, rel, first, broadcast in entries:
            self.address = (-1 if first else self.address) + rel + 1
            counters.codebook_reads += 1
            if code:
                table_entry = code + self.bias_offset if broadcast.index == self.bias_column else code
                decoded.append((self.address, table_entry, broadcast.value))
                self.real += 1
                counters.real_entries += 1
            else:
                self.decoded_filler = True
                counters.filler_entries += 1
        self.decoded = decoded

    def line_trace(self) -> str:
        parts = ["dec fill"] if self.decoded_filler and not self.decoded else []
        parts += [f"dec r{row}" for row, _, _ in self.decoded]
        parts += [f"mul r{row}" + (" byp" if bypass else "") for row, _, _, bypass in self.multiplied]
        parts += [f"add r{row}" for row, _ in self.summed]
        parts += [f"wr r{row}" for row in self.written]
        return " ".join(parts)
