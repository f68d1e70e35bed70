"""Speed of the reference engine on the nine EIE benchmark layers (SPEC §10: <= 60 s).

64 PEs, queue depth 8, seed 0. Prints cycles, time, load efficiency, real work fraction,
imbalance and the engine's wall time per layer; when the fast engine is built, checks
that it reports the same cycles, counters and output on every layer.

    .venv/bin/python -m pytest benchmarks/bench_reference.py -m benchmark -s
    .venv/bin/python benchmarks/bench_reference.py
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from eiesim.config import ArchConfig
from eiesim.simulate import simulate
from workloads.benchmarks import BENCHMARKS, benchmark_layer

TARGET_S = 60.0


def measure(config: ArchConfig = ArchConfig(n_pe=64, queue_depth=8), seed: int = 0) -> float:
    """Simulate the nine layers, print the table, return the engine's total wall time."""
    compare = importlib.util.find_spec("eiesim.engines.fast") is not None
    print(f"\n{'layer':<9}{'cycles':>8}{'time_us':>9}{'load_eff':>10}{'real_work':>11}{'imbalance':>11}{'wall_s':>8}")
    total = 0.0
    for name in BENCHMARKS:
        layer, acts = benchmark_layer(name, config, seed)
        result = simulate(layer, acts, config, engine="reference")
        m = result.metrics
        print(f"{name:<9}{result.cycles:>8}{result.time_us:>9.2f}{m['load_efficiency']:>10.3f}"
              f"{m['real_work_fraction']:>11.3f}{m['imbalance']:>11.3f}{result.sim_wall_s:>8.2f}", flush=True)
        total += result.sim_wall_s
        if compare:
            fast = simulate(layer, acts, config, engine="fast")
            assert (fast.cycles, fast.counters, fast.block_cycles) == (result.cycles, result.counters, result.block_cycles), name
            assert np.array_equal(fast.output, result.output), name
    print(f"reference engine total wall time: {total:.1f} s (target <= {TARGET_S:.0f} s)"
          + ("; fast engine agrees on every layer" if compare else ""))
    return total


@pytest.mark.benchmark
def test_reference_engine_nine_layers_under_a_minute():
    assert measure() <= TARGET_S


if __name__ == "__main__":
    measure()
