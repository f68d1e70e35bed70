"""The engines, what they return, and the observer that sees their schedule.

Two engines implement one meaning (SPEC §5, §5.1, §6): ``reference`` (SimPy blocks,
readable) and ``fast`` (numba kernels). Each is a module satisfying :class:`Engine`: a
``name`` and ``run(layer, acts, config, observer=None, outputs=True) -> EngineRun``;
``outputs=False`` asks for the timing alone (every counter and cycle, output None), which
an engine may compute faster by skipping the arithmetic. ``run`` takes a
layer already validated against the config, activations already converted to the
layer's number format (length K, bias included) and, under a ``one-pass`` profile, a
layer encoded as one row block (``eiesim.simulation.simulate`` does all of that, once).

An :class:`Observer` passed to ``run`` receives one :class:`BlockSchedule` per row block:
the broadcast cycles b_k, the pop cycles s_p(k) and the issue cycle of every entry, as
the engine that ran produced them. ``--trace`` and ``--perfetto`` draw from it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, cast

import numpy as np

from eiecore.errors import EieError
from eiesim.counters import Counters, PerPE

if TYPE_CHECKING:
    from compressor.csc import EncodedLayer
    from eiesim.config import ArchConfig

# Version of what both engines compute (SPEC §5 timing and counters, §5.1 profiles, §6
# outputs): bump when a result can change for the same layer, activations and config
# (stored sweep points then recompute; see eiesim.sweep.fingerprint).
ENGINE_VERSION = 1

# Engine name -> module; the registry every --engine choice and sweep axis comes from.
ENGINES: dict[str, str] = {"reference": "eiesim.engines.reference", "fast": "eiesim.engines.fast"}


@dataclass
class EngineRun:
    cycles: int
    block_cycles: list[int]
    counters: Counters
    per_pe: PerPE
    output: np.ndarray | None  # real values after the layer's activation function; None without outputs
    sim_wall_s: float  # engine time, excluding JIT compilation and preparation


@dataclass
class BlockSchedule:
    """What happened in one row block, in the block's own cycles (0 = block start).

    K' broadcast columns (the ``own-pack`` bias column included; index K stands for the
    empty bias column of a layer without a bias), N PEs:

    columns (K',)        column index j_k of broadcast k, in broadcast order
    activations (K',)    the broadcast value a_j (converted; 1 for a bias column)
    broadcast (K',)      b_k, the cycle of broadcast k
    pop (N, K')          s_p(k), the cycle PE p pops column k and reads its pointers
    entries (N, K')      n_p(k), entries (real + filler) of PE p in column k
    first_address (N, K') address of that column's first entry in PE p's list of the block
    issue                per PE, the issue cycle of each entry it issued, in issue order
                         (column by column; the entry of address first_address + i of
                         column k is its sum(n_p(<k)) + i-th)
    end                  T_block (cycles of the block before write-back)
    write_back           write-back cycles after the block (0 for a single-block layer)
    """

    block: int
    columns: np.ndarray
    activations: np.ndarray
    broadcast: np.ndarray
    pop: np.ndarray
    entries: np.ndarray
    first_address: np.ndarray
    issue: list[np.ndarray]
    end: int
    write_back: int

    @property
    def n_pe(self) -> int:
        return self.pop.shape[0]

    def occupancy(self, p: int, cycle: int) -> int:
        """Columns in PE p's queue during ``cycle``: broadcast in or before it, not yet popped."""
        return int(np.count_nonzero(self.broadcast <= cycle) - np.count_nonzero(self.pop[p] <= cycle))


class Observer(Protocol):
    """Receives the schedule of every row block, in block order, as an engine runs."""

    def block(self, schedule: BlockSchedule) -> None: ...


@dataclass
class ScheduleRecorder:
    """An :class:`Observer` that keeps every block's schedule."""

    blocks: list[BlockSchedule] = field(default_factory=list)

    def block(self, schedule: BlockSchedule) -> None:
        self.blocks.append(schedule)


class Engine(Protocol):
    """What every engine module provides."""

    name: str

    def run(self, layer: EncodedLayer, acts: np.ndarray, config: ArchConfig,
            observer: Observer | None = None, outputs: bool = True) -> EngineRun: ...


def engine_names() -> tuple[str, ...]:
    return tuple(ENGINES)


def get_engine(name: str) -> Engine:
    """The engine called ``name``, imported on first use (numba loads slowly)."""
    if name not in ENGINES:
        raise EieError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    return cast("Engine", importlib.import_module(ENGINES[name]))
