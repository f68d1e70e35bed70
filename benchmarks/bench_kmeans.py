"""Weight sharing's k-means, side by side: our one-dimensional Lloyd against scikit-learn.

Same data in one run: the kept weights of the VGG-6-sized layer (4.1 M non-zeros, seed 0).
"ours" is what weight sharing now runs (sort + ``kmeans_1d``, numba kernels already
compiled); "scikit-learn" is the call it replaced: ``KMeans`` with the same linear
initialisation, one run, default tol and max_iter, on two OpenMP threads from 2^19 values.
Reported: wall time of each (best of ``repeats``), iterations, the largest relative
difference between the two codebooks, how many codes differ, the load average. Targets:
>= 10x faster, codebooks within 1e-9 relative.

    .venv/bin/python benchmarks/bench_kmeans.py [--repeats 3] [--json FILE]
    .venv/bin/python -m pytest -m benchmark benchmarks/bench_kmeans.py -s
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import numpy as np
import pytest

TARGET_SPEEDUP = 10.0
TARGET_RELATIVE = 1e-9


def scikit_learn_kmeans(values: np.ndarray, n_clusters: int) -> tuple[np.ndarray, int]:
    """The call weight sharing made before: sorted centroids and iterations."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    init = np.linspace(values.min(), values.max(), n_clusters).reshape(-1, 1)
    km = KMeans(n_clusters=n_clusters, init=init, n_init=1, random_state=0)
    with threadpool_limits(limits=1 if values.size < 2**19 else 2, user_api="openmp"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        km.fit(values.reshape(-1, 1))
    return np.sort(km.cluster_centers_.ravel()), int(km.n_iter_)


def ours(values: np.ndarray, n_clusters: int) -> tuple[np.ndarray, int]:
    from compressor.quantize import kmeans_1d

    return kmeans_1d(np.sort(values), n_clusters)


def measure(repeats: int = 3, seed: int = 0, layer: str = "VGG-6", weight_bits: int = 4) -> dict:
    from compressor.quantize import _nearest, share_weights
    from workloads.benchmarks import benchmark_weights

    values = benchmark_weights(layer, seed).data
    n_clusters = 2**weight_bits - 1
    ours(values[:1000], n_clusters)  # compile or load the numba kernels first
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {"ours": [], "scikit-learn": [], "share_weights": []}
    for _ in range(repeats):
        for name, run in (("ours", ours), ("scikit-learn", scikit_learn_kmeans)):
            began = time.perf_counter()
            centroids, iterations = run(values, n_clusters)
            times[name].append(time.perf_counter() - began)
            if name == "ours":
                mine, my_iterations = centroids, iterations
            else:
                theirs, their_iterations = centroids, iterations
        began = time.perf_counter()
        share_weights(values, weight_bits)
        times["share_weights"].append(time.perf_counter() - began)
    ordered = np.sort(values)
    codes_differ = int(np.count_nonzero(_nearest(values, ordered, mine) != _nearest(values, ordered, theirs)))
    best = {k: min(v) for k, v in times.items()}
    return {
        "layer": layer, "seed": seed, "kept": int(values.size), "clusters": n_clusters, "repeats": repeats,
        "best_s": best, "all_s": times, "speedup": best["scikit-learn"] / best["ours"],
        "iterations": {"ours": my_iterations, "scikit-learn": their_iterations},
        "max_relative_difference": float(np.max(np.abs(mine - theirs) / np.abs(theirs))),
        "codes_differ": codes_differ,
        "load_average_before": load_before, "load_average_after": os.getloadavg(), "cpus": os.cpu_count(),
    }


def show(result: dict) -> None:
    print(f"{result['layer']}: {result['kept']} kept weights, {result['clusters']} clusters, best of "
          f"{result['repeats']} (load average {result['load_average_before'][0]:.1f} before, "
          f"{result['load_average_after'][0]:.1f} after, {result['cpus']} CPUs)")
    for name in ("ours", "scikit-learn"):
        print(f"  {name:<13} {result['best_s'][name]:7.3f} s  {result['iterations'][name]:3d} iterations")
    print(f"  speedup       {result['speedup']:7.1f} x (target {TARGET_SPEEDUP:.0f} x)")
    print(f"  codebooks     {result['max_relative_difference']:.2e} max relative difference "
          f"(target {TARGET_RELATIVE:g}); {result['codes_differ']} codes differ")
    print(f"  share_weights {result['best_s']['share_weights']:7.3f} s (sort, k-means, codes)")


@pytest.mark.benchmark
def test_kmeans_side_by_side():
    result = measure()
    show(result)
    assert result["iterations"]["ours"] == result["iterations"]["scikit-learn"]
    assert result["max_relative_difference"] <= TARGET_RELATIVE
    assert result["speedup"] >= TARGET_SPEEDUP


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, best reported (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the layer's weights (default 0)")
    parser.add_argument("--json", help="also write the figures as JSON to this file")
    args = parser.parse_args()
    result = measure(args.repeats, args.seed)
    show(result)
    if args.json:
        from eiecore.atomic import write_text

        write_text(args.json, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
