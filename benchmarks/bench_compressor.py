"""Speed and memory of the compressor (SPEC §10), and the storage of the nine benchmark layers.

* VGG-6 (25088 inputs x 4096 outputs at 4 %: 4.1M kept of 103M weights), in a fresh
  process: generate it sparse (a dense matrix is never built), share weights (k-means on
  the non-zeros, SPEC §3) and encode the interleaved CSC for 64 PEs. Wall and CPU time per
  stage, and the process's peak RSS, against the targets of 10 s and 3 GB. Library imports
  (numpy, scipy, scikit-learn) are timed apart. The load average is recorded beside the
  figures, because wall time on a shared 2-core machine depends on it.
* The storage report of the nine layers at 64 PEs (the paper's chip): per layer, fillers,
  compressed size before and after Huffman coding, and compression ratio against float32.

    .venv/bin/python benchmarks/bench_compressor.py [--seed 0] [--json FILE]
    .venv/bin/python -m pytest -m benchmark benchmarks/bench_compressor.py -s
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import pytest

TARGET_WALL_S = 10.0
TARGET_RSS_GB = 3.0


def vgg6_stages(seed: int = 0) -> dict:
    """Time generate / quantize / encode of VGG-6 in this process (call it in a fresh one)."""
    started = time.perf_counter()
    from compressor.csc import as_coo, interleave
    from compressor.quantize import share_weights
    from eiesim.config import ArchConfig
    from workloads.benchmarks import benchmark_weights

    imports_s = time.perf_counter() - started
    rss_after_imports = _peak_rss_bytes()
    config = ArchConfig()
    stages: dict[str, dict] = {}

    def stage(name, run):
        wall, cpu = time.perf_counter(), time.process_time()
        value = run()
        stages[name] = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
        return value

    load_before = os.getloadavg()[0]
    weights = stage("generate", lambda: as_coo(benchmark_weights("VGG-6", seed)))
    shared = stage("quantize", lambda: share_weights(weights.data, config.weight_bits))
    layer = stage("encode", lambda: interleave(weights.row, weights.col, shared.codes, weights.shape,
                                               shared.codebook, config, name="VGG-6"))
    return {
        "layer": "VGG-6", "shape": list(layer.shape), "kept": layer.n_real, "fillers": layer.n_fillers,
        "n_pe": config.n_pe, "seed": seed, "imports_s": imports_s, "stages": stages,
        "total_wall_s": sum(s["wall_s"] for s in stages.values()),
        "total_cpu_s": sum(s["cpu_s"] for s in stages.values()),
        "peak_rss_mb": _peak_rss_bytes() / 2**20, "rss_after_imports_mb": rss_after_imports / 2**20,
        "load_average_before": load_before, "load_average_after": os.getloadavg()[0],
        "cpus": os.cpu_count(), "target_wall_s": TARGET_WALL_S, "target_rss_gb": TARGET_RSS_GB,
    }


def vgg6_fresh_process(seed: int = 0) -> dict:
    """:func:`vgg6_stages` in a new interpreter, so peak RSS is this job's alone."""
    child = subprocess.run([sys.executable, __file__, "--vgg6-child", "--seed", str(seed)],
                           capture_output=True, text=True, check=True)
    return json.loads(child.stdout)


def nine_layer_storage(seed: int = 0):
    """The storage report of the nine benchmark layers encoded for the paper's chip."""
    from eiesim.modelfile import CompressedModel
    from compressor.report import storage_report
    from eiesim.config import ArchConfig
    from workloads.benchmarks import BENCHMARKS, benchmark_layer

    config = ArchConfig()
    layers = [benchmark_layer(name, config, seed)[0] for name in BENCHMARKS]
    return storage_report(CompressedModel(layers, config, source=f"benchmarks seed {seed}"))


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _show_vgg6(result: dict) -> None:
    print(f"VGG-6 {result['shape'][0]} x {result['shape'][1]}, {result['kept']} kept weights, "
          f"{result['fillers']} fillers, N = {result['n_pe']} (load average {result['load_average_before']:.1f} "
          f"before, {result['load_average_after']:.1f} after, {result['cpus']} CPUs)")
    print(f"  imports          {result['imports_s']:6.2f} s (not counted)")
    for name, s in result["stages"].items():
        print(f"  {name:<16} {s['wall_s']:6.2f} s wall  {s['cpu_s']:6.2f} s CPU")
    print(f"  total            {result['total_wall_s']:6.2f} s wall  {result['total_cpu_s']:6.2f} s CPU "
          f"(target {TARGET_WALL_S:.0f} s)")
    print(f"  peak RSS         {result['peak_rss_mb']:6.0f} MB (after imports {result['rss_after_imports_mb']:.0f} MB; "
          f"target {TARGET_RSS_GB:.0f} GB)")


@pytest.mark.benchmark
def test_vgg6_compresses_within_time_and_memory():
    result = vgg6_fresh_process()
    _show_vgg6(result)
    assert result["total_wall_s"] <= TARGET_WALL_S
    assert result["peak_rss_mb"] <= TARGET_RSS_GB * 1024


@pytest.mark.benchmark
def test_nine_layer_storage_report():
    report = nine_layer_storage()
    print(report.format_table())
    for layer in report.layers:
        assert layer.ratio > 1 and layer.total_huffman_bits <= layer.total_bits + layer.huffman_table_bits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the benchmark weights")
    parser.add_argument("--json", help="also write the figures as JSON to this file")
    parser.add_argument("--vgg6-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.vgg6_child:
        print(json.dumps(vgg6_stages(args.seed)))
        return
    vgg6 = vgg6_fresh_process(args.seed)
    _show_vgg6(vgg6)
    print()
    report = nine_layer_storage(args.seed)
    print(report.format_table())
    if args.json:
        from eiecore.atomic import write_text

        write_text(args.json, json.dumps({"vgg6": vgg6, "storage": report.to_dict()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
