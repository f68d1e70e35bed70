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
