"""Speed of the reference engine on the nine EIE benchmark layers (SPEC §10: <= 60 s).

64 PEs, queue depth 8, seed 0. Prints cycles, time, load efficiency, real work fraction,
imbalance, the engine's wall time and the process CPU time per layer (CPU time shows the
engine's own cost when other work shares the cores); checks that the fast engine reports
the same cycles, counters and output on every layer.

    .venv/bin/python -m pytest benchmarks/bench_reference.py -m benchmark -s
    .venv/bin/python benchmarks/bench_reference.py
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from eiesim.config import ArchConfig
from eiesim.simulation import simulate
from workloads.benchmarks import BENCHMARKS, benchmark_layer

TARGET_S = 60.0


def measure(config: ArchConfig = ArchConfig(n_pe=64, queue_depth=8), seed: int = 0) -> float:
    """Simulate the nine layers, print the table, return the engine's total wall time."""
    print(f"\n{'layer':<9}{'cycles':>8}{'time_us':>9}{'load_eff':>10}{'real_work':>11}{'imbalance':>11}"
          f"{'wall_s':>8}{'cpu_s':>7}")
    total = cpu = 0.0
    for name in BENCHMARKS:
        layer, acts = benchmark_layer(name, config, seed)
        started = time.process_time()
        result = simulate(layer, acts, config, engine="reference")
        cpu_s = time.process_time() - started
        m = result.metrics
        print(f"{name:<9}{result.cycles:>8}{result.time_us:>9.2f}{m['load_efficiency']:>10.3f}"
              f"{m['real_work_fraction']:>11.3f}{m['imbalance']:>11.3f}{result.sim_wall_s:>8.2f}{cpu_s:>7.2f}", flush=True)
        total += result.sim_wall_s
        cpu += cpu_s
        fast = simulate(layer, acts, config, engine="fast")
        assert (fast.cycles, fast.counters, fast.block_cycles) == (result.cycles, result.counters, result.block_cycles), name
        assert np.array_equal(fast.output, result.output), name
        assert fast.per_pe.to_dict() == result.per_pe.to_dict(), name
    print(f"reference engine total wall time: {total:.1f} s (target <= {TARGET_S:.0f} s), CPU time {cpu:.1f} s; "
          "fast engine agrees on every layer")
    return total


@pytest.mark.benchmark
def test_reference_engine_nine_layers_under_a_minute():
    assert measure() <= TARGET_S


if __name__ == "__main__":
    measure()
