"""Peak memory of huge sparse layers: bounded by the input, not by M x K.

``synth:1000000x1000000:1e-9`` has 1000 non-zeros in a 10^12-entry matrix. At the paper's
chip (N = R = 64) its pointer table would be 245 x 64 x 10^6 pointers (117 GiB): the sweep
refuses it while planning, before anything is allocated. With R = 65536 the layer is one
row block (64 x 10^6 pointers, 0.5 GiB) and runs. Each case is a separate ``eiesim sweep``
process; its peak resident memory (it and its workers) comes from ``getrusage(RUSAGE_CHILDREN)``
in a wrapper process. Run with
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
