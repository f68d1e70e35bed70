"""Peak memory bounded by what the user gave: huge sparse layers, small model files that
claim gigabytes, and unbounded counts.

``synth:1000000x1000000:1e-9`` has 1000 non-zeros in a 10^12-entry matrix. At the paper's
chip (N = R = 64) its pointer table would be 245 x 64 x 10^6 pointers (117 GiB): the sweep
refuses it while planning, before anything is allocated. With R = 65536 the layer is one
row block (64 x 10^6 pointers, 0.5 GiB) and runs. Each case is a separate ``eiesim sweep``
process; its peak resident memory (it and its workers) comes from ``getrusage(RUSAGE_CHILDREN)``
in a wrapper process. 
A correctly signed model file of a few hundred KiB can hold pointer tables of zeros that
inflate 1000-fold: ``eiesim info`` refuses it before decompressing anything (its arrays
may take at most 64 MiB + 64 x the file's size). An ``--inputs`` beyond 4096 is refused by
every command before any layer is made. Run with
``pytest -m benchmark benchmarks/bench_memory.py -s``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

LAYER = "synth:1000000x1000000:1e-9:0.5"
CASES = {
    # name: (extra sweep options, expected exit code, peak-memory limit in MiB)
    "refused at N = R = 64": ((), 1, 512),
    "one row block, R = 65536": (("--set", "accumulators_per_pe=65536"), 0, 4096),
}


# A fresh wrapper process per case: its RUSAGE_CHILDREN peak covers the eiesim process and every
# worker it (or its fork server) reaped, and nothing measured before.
WRAPPER = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)")


def _peak_child_mib(args: list[str], tmp_path) -> tuple[int, float, float, str]:
    """Run ``eiesim ARGS`` in a fresh process; (exit code, peak RSS MiB, wall s, stderr tail)."""
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAPPER, sys.executable, "-m", "eiesim", *args], env=env,
                          capture_output=True, text=True, timeout=1200)
    wall = time.perf_counter() - t0
    *rest, peak_kib = proc.stderr.strip().splitlines()
    return proc.returncode, int(peak_kib) / 1024, wall, "\n".join(rest)


@pytest.mark.benchmark
@pytest.mark.parametrize("case", list(CASES))
def test_peak_memory_of_a_huge_sparse_layer(case, tmp_path):
    options, expected_code, limit_mib = CASES[case]
    code, peak, wall, err = _peak_child_mib(
        ["sweep", "--layers", LAYER, "--jobs", "1", "--no-progress", "--out", str(tmp_path / "store"), *options],
        tmp_path)
    print(f"\n{LAYER} {case}: exit {code}, peak RSS {peak:.0f} MiB (limit {limit_mib}), {wall:.1f} s, "
          f"load {os.getloadavg()[0]:.1f}; {err.splitlines()[-1] if err else ''}")
    assert code == expected_code, err
    assert peak <= limit_mib


# Layers of K = 2^24 columns at N = R = 1 and no weights: a 128 MiB pointer table of zeros
# each, about 128 KiB in the file. name: (layers, peak-memory limit in MiB of `eiesim info`)
MODEL_CASES = {"256 KiB file, 0.25 GiB of arrays": (2, 400), "1 MiB file, 1 GiB": (8, 400),
               "2 MiB file, 2 GiB": (16, 400)}


def _inflating_model(path, n_layers: int) -> None:
    """A valid, correctly signed model file whose arrays are mostly zeros (built without
    allocating more than one pointer table: every layer shares the arrays)."""
    import numpy as np

    from compressor.csc import EncodedLayer
    from eiesim.config import ArchConfig
    from eiesim.modelfile import CompressedModel, save_model

    config = ArchConfig(n_pe=1, accumulators_per_pe=1)
    k = 2**24
    ptr, start = np.zeros((1, 1, k + 1), np.int64), np.zeros(2, np.int64)
    ptr.flags.writeable = start.flags.writeable = False  # the layers share them, uncopied
    codebook = np.zeros(2**config.weight_bits)
    layers = [EncodedLayer((1, k), 1, 1, config.index_bits, config.weight_bits, codebook, np.zeros(0, np.uint8),
                           np.zeros(0, np.uint8), ptr, start, name=f"wide{i}") for i in range(n_layers)]
    save_model(path, CompressedModel(layers, config))


@pytest.mark.benchmark
@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_peak_memory_of_a_small_model_file_claiming_gigabytes(case, tmp_path):
    n_layers, limit_mib = MODEL_CASES[case]
    path = tmp_path / "wide.eie"
    _inflating_model(path, n_layers)
    code, peak, wall, err = _peak_child_mib(["info", str(path)], tmp_path)
    print(f"\ninfo on {path.stat().st_size / 2**10:.0f} KiB, {n_layers * 128} MiB of arrays ({case}): exit {code}, "
          f"peak RSS {peak:.0f} MiB (limit {limit_mib}), {wall:.1f} s; {err.splitlines()[-1] if err else ''}")
    assert code == 1 and "more than the" in err, err
    assert peak <= limit_mib


INPUT_CASES = {
    "simulate": ("simulate", "--benchmark", "VGG-6"), "study table4": ("study", "table4"),
    "study balance": ("study", "balance"), "study ppr": ("study", "ppr", "--no-lenet"),
}


@pytest.mark.benchmark
@pytest.mark.parametrize("case", list(INPUT_CASES))
def test_peak_memory_of_a_huge_inputs_count(case, tmp_path):
    code, peak, wall, err = _peak_child_mib([*INPUT_CASES[case], "--inputs", "100000"], tmp_path)
    print(f"\n{case} --inputs 100000: exit {code}, peak RSS {peak:.0f} MiB, {wall:.1f} s; "
          f"{err.splitlines()[-1] if err else ''}")
    assert code == 1 and "--inputs must be at most 4096" in err, err
    assert peak <= 256
