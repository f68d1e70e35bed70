"""The import stack stays one-way: ``.importlinter`` is the contract, lint-imports checks it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]


def test_import_layers_kept():
    # A subprocess, so the check sees the source tree as it is, not this process's imports.
    run = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
         "sys.exit(lint_imports(config_filename='.importlinter', no_cache=True, no_logo=True))"],
        cwd=ROOT, capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_compressor_and_base_import_without_the_simulator():
    # The base and the compressor load without eiesim (no hidden cycle through a lazy import).
    code = ("import sys, compressor, eiecore.atomic, eiecore.encoding; "
            "sys.exit(any(m == 'eiesim' or m.startswith(('eiesim.', 'workloads')) for m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert run.returncode == 0, run.stderr or "compressor imported eiesim or workloads"


def test_cli_help_and_starting_a_sweep_import_no_heavy_library():
    # `eiesim --help` lists every command, and a sweep starts its workers, before anything
    # imports numba, scipy, pandas, pydantic, torch or dask (seconds between them).
    code = ("import sys; from eiesim.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "import eiesim.cli.sweep, eiesim.sweep.executors\n"
            "heavy = ('numba', 'scipy', 'pandas', 'pydantic', 'torch', 'dask', 'distributed')\n"
            "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert run.returncode == 0 and "Commands:" in run.stdout, run.stderr
    assert run.stderr.strip() == "[]"
