"""``eiesim lab``: list the labs, open one as a notebook, never overwrite, clear errors."""

from __future__ import annotations

import jupytext
import nbformat
import pytest

from eiesim.labs import QUICK_ENV, list_labs


def test_lab_list_shows_every_lab_with_its_number(run_cli):
    code, out, err = run_cli("lab", "list")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == len(list_labs()) >= 7
    for lab, line in zip(list_labs(), lines):
        assert line.split(maxsplit=1) == [str(lab.number), lab.title]
        assert lab.title.startswith(f"Lab {lab.number}: ")


def test_lab_open_writes_a_clean_notebook(run_cli, tmp_path):
    code, out, err = run_cli("lab", "open", "3", "--dest", tmp_path)
    assert code == 0, err
    target = tmp_path / "lab3_activation_queues.ipynb"
    assert f"wrote {target}" in out
    nb = nbformat.read(target, as_version=4)
    nbformat.validate(nb)
    source = jupytext.read(list_labs()[2].path)
    assert [c.source for c in nb.cells] == [c.source for c in source.cells]
    assert nb.metadata.kernelspec.name == "python3"
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temporary left


def test_lab_open_by_file_stem(run_cli, tmp_path):
    code, _, err = run_cli("lab", "open", "lab2_pe_array", "--dest", tmp_path)
    assert code == 0, err
    assert (tmp_path / "lab2_pe_array.ipynb").is_file()


def test_lab_open_defaults_to_the_working_directory(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("lab", "open", "1")
    assert code == 0, err
    assert (tmp_path / "lab1_deep_compression.ipynb").is_file()


def test_lab_open_refuses_to_overwrite(run_cli, tmp_path):
    target = tmp_path / "lab4_scaling_pes.ipynb"
    target.write_text("my work")
    code, out, err = run_cli("lab", "open", "4", "--dest", tmp_path)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "already exists" in err and "Traceback" not in err
    assert target.read_text() == "my work"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


@pytest.mark.parametrize("args, message", [
    (("lab", "open", "99"), "no lab '99'; choose one of 1, 2"),
    (("lab", "open", "0"), "no lab '0'"),
    (("lab", "open", "3", "--dest", "{tmp}/missing"), "is not an existing folder"),
])
def test_lab_open_bad_input_is_one_line(run_cli, tmp_path, args, message):
    code, out, err = run_cli(*(a.format(tmp=tmp_path) for a in args))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and message in err


def test_lab_open_dest_that_is_a_file(run_cli, tmp_path):
    path = tmp_path / "file"
    path.write_text("")
    code, _, err = run_cli("lab", "open", "3", "--dest", path)
    assert code != 0 and err.count("\n") == 1 and "is a file" in err


def test_lab_open_needs_a_number(run_cli):
    code, _, err = run_cli("lab", "open")
    assert code == 2 and "Missing argument" in err


def test_opened_notebook_runs_in_a_kernel(run_cli, tmp_path, monkeypatch):
    """The .ipynb that `lab open` writes executes top to bottom in a Jupyter kernel."""
    from nbclient import NotebookClient

    monkeypatch.setenv(QUICK_ENV, "1")
    code, _, err = run_cli("lab", "open", "2", "--dest", tmp_path)
    assert code == 0, err
    nb = nbformat.read(tmp_path / "lab2_pe_array.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert printed.count("not yet: no answer yet") == 4
    assert (tmp_path / "lab2_files" / "fig2_d1.perfetto.json").is_file()  # the lab's files stay in its folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab2_files", "lab2_pe_array.ipynb"]
    # A cell ending in a check shows its verdict only: no stray True/False after the hint.
    echoed = [o["data"].get("text/plain") for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "execute_result"]
    assert "False" not in echoed and "True" not in echoed
