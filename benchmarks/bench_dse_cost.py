"""What one point of a large design-space exploration costs (docs/scaling.md sizes it from this).

A random sample of points of the DSE in docs/scaling.md (nine layers, N in 1..1024, D in
1..64, SpMat SRAM width, index bits, timing profile), run as a sweep worker runs them
(``eiesim.sweep.tasks``: timing only, one encoding shared by the points of one
(layer, seed, N, index bits)). Measured per sampled point, wall and CPU time: the encoding
(interleave plus the engine's tables) and the simulation; and the Parquet bytes of a row at several N (rows
hold three per-PE arrays, so they grow with N). The load average is printed beside them.

    .venv/bin/python benchmarks/bench_dse_cost.py [--samples 40] [--seed 0] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

N_VALUES = range(1, 1025)
D_VALUES = range(1, 65)  # 2..64 under eie-cpp
WIDTHS = (32, 64, 128, 256)
INDEX_BITS = (3, 4, 5, 6)
TIMINGS = ("spec", "eie-cpp")
SEEDS = (0, 1, 2)


def measure(samples: int, seed: int = 0) -> dict:
    from eiesim.config import ArchConfig
    from eiesim.engines import fast
    from eiesim.simulation import one_pass, simulate
    from eiesim.sweep.grid import Point
    from eiesim.sweep.layers import encode, shared_layer
    from eiesim.sweep.store import ResultStore
    from eiesim.sweep.tasks import result_row, warm_engine
    from workloads.benchmarks import BENCHMARKS

    warm_engine("fast")
    rng = np.random.default_rng(seed)
    load_before = os.getloadavg()
    encode_s, simulate_s, encode_cpu_s, simulate_cpu_s, rows_cpu_s, cases = [], [], [], [], [], []
    for _ in range(samples):
        name = str(rng.choice(list(BENCHMARKS)))
        timing = str(rng.choice(TIMINGS))
        depths = D_VALUES[1:] if timing == "eie-cpp" else D_VALUES  # ring slots need D >= 2
        config = ArchConfig(n_pe=int(rng.choice(N_VALUES)), queue_depth=int(rng.choice(depths)),
                            spmat_width_bits=int(rng.choice(WIDTHS)), index_bits=int(rng.choice(INDEX_BITS)),
                            timing=timing)
        shared = shared_layer(name, 0, config.weight_bits)
        began, cpu = time.perf_counter(), time.process_time()
        layer = encode(shared, config)
        run_layer, _ = one_pass(layer, config)
        fast.layer_tables(run_layer)
        encode_s.append(time.perf_counter() - began)
        encode_cpu_s.append(time.process_time() - cpu)
        cpu = time.process_time()
        fast.row_table(run_layer, config.entries_per_row)  # once per (encoding, SRAM width)
        rows_cpu_s.append(time.process_time() - cpu)
        began, cpu = time.perf_counter(), time.process_time()
        simulate(layer, shared.acts, config, outputs=False)
        simulate_s.append(time.perf_counter() - began)
        simulate_cpu_s.append(time.process_time() - cpu)
        cases.append({"layer": name, **{k: getattr(config, k) for k in
                                        ("n_pe", "queue_depth", "spmat_width_bits", "index_bits", "timing")}})
    row_bytes = {}
    with tempfile.TemporaryDirectory() as tmp:
        shared = shared_layer("Alex-8", 0, 4)
        for n in (1, 64, 256, 1024):
            config = ArchConfig(n_pe=n)
            result = simulate(encode(shared, config), shared.acts, config, outputs=False)
            rows = [result_row(Point("Alex-8", s, "fast", config.replace(queue_depth=d)), result, shared)
                    for s in range(4) for d in range(1, 65)]
            for r in rows:
                r.update(load_s=0.0, encode_s=0.0, simulate_s=0.0)
            store = ResultStore(Path(tmp) / f"n{n}")
            part = store.write(rows)
            row_bytes[n] = part.stat().st_size / len(rows)
    return {
        "samples": samples, "seed": seed, "cases": cases,
        "encode_s": encode_s, "simulate_s": simulate_s,
        "encode_mean_s": float(np.mean(encode_s)), "simulate_mean_s": float(np.mean(simulate_s)),
        "encode_cpu_mean_s": float(np.mean(encode_cpu_s)), "simulate_cpu_mean_s": float(np.mean(simulate_cpu_s)),
        "row_table_cpu_mean_s": float(np.mean(rows_cpu_s)),
        "simulate_median_s": float(np.median(simulate_s)),
        "row_bytes_by_n": row_bytes,
        "load_average_before": load_before, "load_average_after": os.getloadavg(), "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=40, help="sampled points (default 40)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    parser.add_argument("--json", help="also write the figures as JSON to this file")
    args = parser.parse_args()
    result = measure(args.samples, args.seed)
    print(f"{result['samples']} sampled points (load average {result['load_average_before'][0]:.1f} before, "
          f"{result['load_average_after'][0]:.1f} after, {result['cpus']} CPUs)")
    print(f"  encoding + tables: mean {result['encode_mean_s'] * 1e3:.1f} ms wall, "
          f"{result['encode_cpu_mean_s'] * 1e3:.1f} ms CPU per (layer, seed, N, index bits)")
    print(f"  SRAM row table: mean {result['row_table_cpu_mean_s'] * 1e3:.1f} ms CPU per encoding and SRAM width")
    print(f"  simulation (timing only): mean {result['simulate_mean_s'] * 1e3:.2f} ms wall "
          f"(median {result['simulate_median_s'] * 1e3:.2f}), {result['simulate_cpu_mean_s'] * 1e3:.2f} ms CPU per point")
    for n, size in result["row_bytes_by_n"].items():
        print(f"  Parquet row at N = {n}: {size:.0f} bytes")
    if args.json:
        from eiecore.atomic import write_text

        write_text(args.json, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
