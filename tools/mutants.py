"""Mutation testing of the modules that hold normative arithmetic (``make mutants``).

For each module, a copy of the tracked source tree goes to ``build/mutants/<module>/`` and
mutmut mutates that one module there and runs the module's own tests against every mutant
(for the modules with numba kernels with ``NUMBA_DISABLE_JIT=1``, so the kernels run as
Python and can be mutated). The
result per module, killed / total, the time taken and the surviving mutants, is printed and
written to ``build/mutants/<module>.json``; ``docs/testing.md`` records the latest run.

    python tools/mutants.py                       # every module, one after another
    python tools/mutants.py eiesim/fit.py         # one module
    python tools/mutants.py --jobs 1 eiesim/timing.py   # one mutant at a time
    python tools/mutants.py --resume eiesim/timing.py   # go on after a stop
    python tools/mutants.py --list                # the modules and their tests

Runs are CPU heavy: one module at a time, each with its tests only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "mutants"

SWEEP_TESTS = ["tests/test_sweep_differential.py", "tests/test_sweep_values.py", "tests/test_sweep_grid.py",
               "tests/test_layer_cache.py", "tests/test_sweep_store_schema.py"]
# Module -> the tests that pin its numbers (run against every mutant of the module).
MODULES: dict[str, list[str]] = {
    "eiesim/result.py": ["tests/test_metrics_values.py"],
    "eiesim/fit.py": ["tests/test_fit_values.py"],
    "compressor/csc.py": ["tests/test_csc_golden.py", "tests/test_csc_roundtrip.py", "tests/test_csc_layer.py",
                          "tests/test_modelfile.py"],
    "compressor/quantize.py": ["tests/test_quantize.py"],
    "eiesim/energy/rules.py": ["tests/test_energy_rules.py"],
    "eiesim/energy/events.py": ["tests/test_energy_model.py", "tests/test_energy_rules.py"],
    "eiesim/timing.py": ["tests/test_metrics_values.py", "tests/test_engines.py"],
    "eiesim/engines/_kernels.py": ["tests/test_metrics_values.py", "tests/test_fast_engine.py", "tests/test_engines.py"],
    "eiesim/numerics.py": ["tests/test_number_formats.py", "tests/test_inference.py::test_frac_bits_for"],
    "eiesim/energy/table2.py": ["tests/test_table2_values.py", "tests/test_energy_model.py",
                                "tests/test_energy_tables.py"],
    "eiesim/engines/fast.py": ["tests/test_fast_driver.py", "tests/test_wide_tables.py", "tests/test_fast_engine.py",
                               "tests/test_metrics_values.py", "tests/test_engines.py",
                               "tests/test_streamed_weights.py::test_worked_example_cycle_by_cycle"],
    **{f"eiesim/sweep/{name}.py": [*SWEEP_TESTS, *{
        "store": ["tests/test_sweep_run.py"],
        "sources": ["tests/test_sweep_sources.py"],
        "tasks": ["tests/test_sweep_tasks.py"],
        "runner": ["tests/test_sweep_run.py", "tests/test_sweep_resume.py", "tests/test_sweep_runner.py"],
        "fingerprint": ["tests/test_caches.py", "tests/test_fingerprint.py"]}.get(name, [])]
       for name in ("fingerprint", "sources", "grid", "layers", "tasks", "runner", "store")},
    "eiesim/inference.py": ["tests/test_number_formats.py", "tests/test_inference.py", "tests/test_torch_graph.py",
                            "tests/test_inference_values.py"],
    "workloads/torch_import.py": ["tests/test_torch_import.py", "tests/test_torch_import_edges.py"],
}
# Modules with numba kernels: mutated and tested with NUMBA_DISABLE_JIT=1, so the kernels
# run (mutated) as Python. The others keep the JIT: their tests then run at full speed.
KERNEL_MODULES = {"compressor/csc.py", "compressor/quantize.py", "eiesim/engines/_kernels.py"}


def undecorate(path: Path) -> None:
    """mutmut never mutates a decorated function. In the copy, each ``@njit(**JIT)`` kernel
    and each ``@property`` becomes a plain function, decorated again after the module's
    last line (``name = njit(**JIT)(name)``, ``Class.name = property(Class.name)``). The
    same code then runs (with the JIT disabled, ``njit`` returns the function itself), and
    its lines are mutated too."""
    lines = path.read_text().splitlines()
    kept, after, owner = [], [], None
    for line, following in zip(lines, [*lines[1:], ""]):
        if line.startswith("class "):
            owner = re.match(r"class (\w+)", line).group(1)
        name = re.match(r"\s*def (\w+)\(", following)
        if line == "@njit(**JIT)" and name:
            after.append(f"{name.group(1)} = njit(**JIT)({name.group(1)})")
        elif line == "    @property" and name:
            after.append(f"{owner}.{name.group(1)} = property({owner}.{name.group(1)})")
        else:
            kept.append(line)
    if after:
        path.write_text("\n".join([*kept, "", "", "# make mutants: decorated again (see tools/mutants.py)", *after, ""]))


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line and (ROOT / line).is_file()]


def copy_tree(dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    for name in tracked_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target, follow_symlinks=False)


def mutmut_config(module: str, tests: list[str]) -> str:
    top = module.split("/")[0]
    others = sorted({"eiecore", "compressor", "eiesim", "workloads"} - {top})
    return "\n".join([
        "", "[tool.mutmut]",
        f"source_paths = [{json.dumps(top)}]",
        f"only_mutate = [{json.dumps(module)}]",
        f"also_copy = {json.dumps([*others, '.importlinter'])}",
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}",
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "tests.fresh_caches", "-x", "-q"]',
        # A mutant that loops forever (a loop counter reset) is stopped after 4 x (its tests'
        # usual time + 20 s) of wall-clock time (mutmut stops a test run at half its CPU
        # limit, in wall time), and counts as caught. The 20 s keep a slow run on a loaded
        # machine (a 1 s test set takes 5 s at a load of 10 on 2 cores) from passing for an
        # endless loop; mutmut's 15 x with 1 s would spend minutes on each endless loop.
        "timeout_multiplier = 4.0",
        "timeout_constant = 20.0",
        "",
    ])


def run_module(module: str, jobs: int | None, resume: bool = False) -> dict:
    tests = MODULES[module]
    work = OUT / module.replace("/", "_").removesuffix(".py")
    if not (resume and work.is_dir()):
        copy_tree(work)
        undecorate(work / module)
    # (Re)written on --resume too: mutmut then tests again the mutants that timed out under
    # other limits, and keeps every other verdict.
    project = (ROOT / "pyproject.toml").read_text()
    (work / "pyproject.toml").write_text(project + mutmut_config(module, tests))
    env = {**os.environ, "PYTHONPATH": str(work), "HYPOTHESIS_PROFILE": "mutants"}
    if module in KERNEL_MODULES:
        env["NUMBA_DISABLE_JIT"] = "1"
    mutmut = [sys.executable, "-m", "mutmut"]
    began = time.perf_counter()
    children = [] if jobs is None else ["--max-children", str(jobs)]
    subprocess.run([*mutmut, "run", *children], cwd=work, env=env, check=False, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - began
    subprocess.run([*mutmut, "export-cicd-stats"], cwd=work, env=env, check=True, capture_output=True)
    stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
    listing = subprocess.run([*mutmut, "results"], cwd=work, env=env, check=True,
                             capture_output=True, text=True).stdout
    survivors = [line.split(":")[0].strip() for line in listing.splitlines() if line.strip().endswith("survived")]
    summary = {"module": module, "tests": tests, "seconds": round(seconds, 1), **stats, "survivors": survivors}
    (OUT / f"{work.name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="modules to mutate (default: all)")
    parser.add_argument("--list", action="store_true", help="print the modules and their tests")
    parser.add_argument("--jobs", type=int, help="mutants tested at once (default: one per CPU)")
    parser.add_argument("--resume", action="store_true",
                        help="go on with a stopped run's copy (its mutants already tested are kept)")
    args = parser.parse_args(argv)
    if args.list:
        for module, tests in MODULES.items():
            print(f"{module}: {' '.join(tests)}")
        return 0
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        print(f"mutants: unknown module {unknown[0]}; choose from {', '.join(MODULES)}", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    for module in args.modules or MODULES:
        s = run_module(module, args.jobs, args.resume)
        caught = s["killed"] + s["timeout"]  # a mutant that never finishes is caught too
        total = s["total"] - s["skipped"] - s["no_tests"]
        share = f"{100 * caught / total:.1f} %" if total else "n/a"
        print(f"{module}: {caught}/{total} caught ({share}; {s['killed']} failed a test, {s['timeout']} timed out), "
              f"{s['survived']} survived, {s['no_tests']} without tests, {s['seconds']:.0f} s")
        for name in s["survivors"]:
            print(f"  survived: {name}")
        if s["timeout"]:
            print(f"  {s['timeout']} timed out: on a loaded machine a slow test run can time out too; "
                  f"rerun `--resume {module}` (the limits are reread) on a quieter machine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
