"""The code in README.md and docs/*.md is true to the code: every fenced block is run or checked.

- ```python blocks run as written, each in a fresh interpreter in an empty folder, after the
  commands of the ``<!-- docs-test: setup: CMD -->`` lines just above the block (if any);
- ```bash blocks: every ``eiesim`` command is parsed by the command line itself (commands,
  options, choices and values, nothing run), every ``make`` target exists in the Makefile,
  every ``python -m MODULE`` names a module that exists; the commands in :data:`RUN` are
  also run for real on small inputs;
- ```text blocks are not code (diagrams, printed output; a ``$ eiesim ...`` line in one is
  parsed like a bash command); ```yaml blocks are parsed as YAML;
- a block after ``<!-- docs-test: skip: REASON -->`` is not run, and says why.

A fence without a language fails the test: every block says which of these it is.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\S*)\n(.*?)^```", re.M | re.S)
MARK = re.compile(r"<!-- docs-test: (setup|skip): (.+?) -->")
LANGUAGES = {"python", "bash", "text", "yaml"}

# Documented commands that also run for real here (cheap ones, on the small W.npy / a.npy
# that the test writes); each must appear verbatim in a bash block.
RUN = [
    "eiesim compress --weights W.npy --density 0.1 --pes 64 --out w.eie --json storage.json",
    "eiesim simulate --weights W.npy --acts a.npy --pes 4",
    "eiesim simulate --weights W.npy --acts a.npy --pes 4 --trace",
    "eiesim energy --explain",
    "eiesim lab list",
]


def blocks() -> list[tuple[str, int, str, str, dict[str, list[str]]]]:
    """(file, line, language, code, marks) for every fenced block of the docs."""
    out = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            before = text[: match.start()].rstrip("\n").splitlines()
            marks: dict[str, list[str]] = {}
            while before and MARK.fullmatch(before[-1].strip()):
                kind, value = MARK.fullmatch(before.pop().strip()).groups()
                marks.setdefault(kind, []).insert(0, value)
            line = text[: match.start()].count("\n") + 1
            out.append((path.relative_to(ROOT).as_posix(), line, match.group(1), match.group(2), marks))
    return out


BLOCKS = blocks()


def ids(selected) -> list[str]:
    return [f"{file}:{line}" for file, line, *_ in selected]


def commands(code: str, prompted_only: bool = False) -> list[list[str]]:
    """Shell commands of a block (with ``prompted_only``, only the lines after a ``$ ``
    prompt): continuation lines joined, comments dropped, split at ``&&`` and ``;``; each
    as its words."""
    out = []
    for line in code.replace("\\\n", " ").splitlines():
        line = line.strip()
        if line.startswith("$ "):
            line = line[2:]
        elif prompted_only:
            continue
        for part in re.split(r"&&|;", line):
            words = shlex.split(part, comments=True)
            if words:
                out.append(words)
    return out


def parse_eiesim(args: list[str]) -> click.Context:
    """Parse ``eiesim ARGS`` the way the command line does, down to the last subcommand,
    without running anything."""
    from eiesim.cli import cli

    cmd, name, rest, parent = cli, "eiesim", list(args), None
    while True:
        ctx = cmd.make_context(name, rest, parent=parent)
        if not isinstance(cmd, click.Group):
            return ctx
        remaining = [*getattr(ctx, "_protected_args", []), *ctx.args]
        assert remaining, f"'{' '.join(args)}' names no command"
        name, cmd, rest = cmd.resolve_command(ctx, remaining)
        parent = ctx


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([\w.-]+):", (ROOT / "Makefile").read_text(), re.M))


def test_every_block_says_what_it_is():
    assert len(BLOCKS) >= 15
    unlabelled = [f"{file}:{line}" for file, line, language, *_ in BLOCKS if language not in LANGUAGES]
    assert unlabelled == []
    for file, line, _, _, marks in BLOCKS:
        for reason in marks.get("skip", []):
            assert len(reason.split()) >= 3, f"{file}:{line}: a skipped block needs a reason"


def test_the_run_list_is_in_the_docs():
    documented = {" ".join(words) for _, _, language, code, _ in BLOCKS if language == "bash"
                  for words in commands(code)}
    assert [c for c in RUN if c not in documented] == []


SHELL = [b for b in BLOCKS if b[2] in ("bash", "text") and "skip" not in b[4]]


@pytest.mark.parametrize("block", SHELL, ids=ids(SHELL))
def test_shell_commands_parse(block):
    file, line, language, code, _ = block
    checked = 0
    for words in commands(code, prompted_only=language == "text"):
        if words[0] == "eiesim":
            parse_eiesim(words[1:])
        elif words[0] == "make":
            targets = [w for w in words[1:] if "=" not in w] or ["run"]
            assert set(targets) <= makefile_targets() | {".venv/.installed"}, words
        elif words[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(words[2]) is not None, words
        else:
            continue
        checked += 1
    assert checked or language == "text", f"{file}:{line}: no command checked"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b[2] == "yaml"], ids=ids([b for b in BLOCKS if b[2] == "yaml"]))
def test_yaml_blocks_parse(block):
    yaml = pytest.importorskip("yaml")
    assert isinstance(yaml.safe_load(block[3]), dict)


def small_inputs(folder: Path) -> None:
    """W.npy (16 x 12, about a third kept) and a.npy (12 ReLU-like inputs)."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((16, 12)) * (rng.random((16, 12)) < 0.35)
    np.save(folder / "W.npy", w)
    np.save(folder / "a.npy", np.maximum(rng.standard_normal(12), 0.0))


@pytest.mark.parametrize("command", RUN)
def test_documented_command_runs(command, run_cli, tmp_path, monkeypatch):
    small_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(*shlex.split(command)[1:])
    assert code == 0, err
    assert out.strip()


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def shell(command: str, cwd: Path) -> None:
    words = shlex.split(command)
    if words[0] == "eiesim":
        words = [sys.executable, "-m", "eiesim", *words[1:]]
    proc = subprocess.run(words, cwd=cwd, env=env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{command}: {proc.stderr[-2000:]}"


PYTHON = [b for b in BLOCKS if b[2] == "python" and "skip" not in b[4]]


@pytest.mark.parametrize("block", PYTHON, ids=ids(PYTHON))
def test_python_block_runs(block, tmp_path):
    file, line, _, code, marks = block
    for command in marks.get("setup", []):
        shell(command, tmp_path)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env(), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"{file}:{line}: {proc.stderr[-3000:]}"
    assert proc.stdout.strip()  # every documented snippet shows something


def test_docs_name_no_machine_paths_notes_or_issue_numbers():
    """What a fresh clone reads names the project's own files only."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    pattern = re.compile(r"/wor[k]/|notes/|\bissue[ -]#?\d+(?! \+)", re.I)  # not "issue 1 + ..." (a stage)
    hits = []
    for name in tracked:
        if not name.endswith((".py", ".md", ".toml", ".cfg", ".txt")) or name == "tests/test_docs.py":
            continue
        for number, text in enumerate((ROOT / name).read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(text):
                hits.append(f"{name}:{number}: {text.strip()}")
    assert hits == []


def test_the_layout_names_every_module():
    """The README's layout lists every module of the packages it shows, and nothing absent."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):]
    layout = FENCE.search(layout).group(2)
    parent = None
    for text in layout.splitlines():
        folder, _, rest = text.strip().partition(" ")
        folder = (parent / folder) if text.startswith("  ") else Path(folder)
        if not text.startswith("  "):
            parent = folder
        assert (ROOT / folder).is_dir(), folder
        named = set(re.findall(r"[\w/]+\.(?:py|md)|\w+/", rest))
        for name in named:
            assert (ROOT / folder / name).exists() or (ROOT / name).exists(), f"{folder}/{name}"
        if str(folder) in ("eiecore", "compressor", "workloads", "docs") or str(folder).startswith("eiesim/") \
                and str(folder) != "eiesim/cli" or str(folder) == "eiesim":
            present = {p.name for p in (ROOT / folder).iterdir()
                       if p.suffix in (".py", ".md") and not p.name.startswith("__")}
            present |= {f"{p.name}/" for p in (ROOT / folder).iterdir()
                        if p.is_dir() and not p.name.startswith("__") and str(folder) != "eiesim"}
            assert present - named == set(), folder
