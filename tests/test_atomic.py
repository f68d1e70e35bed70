"""The atomic file writer: whole file or nothing, the usual mode, never a stray temporary."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from eiecore.atomic import TMP_PREFIX, write_atomic, write_json, write_text


@pytest.fixture
def umask():
    """Set the process umask for one test; the old one comes back afterwards."""
    old = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_the_content(tmp_path):
    path = tmp_path / "a.txt"
    assert write_text(path, "héllo\n") == path
    assert path.read_text(encoding="utf-8") == "héllo\n"
    write_text(path, "replaced")
    assert path.read_text() == "replaced"
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077, 0o002])
def test_mode_follows_the_umask(tmp_path, umask, mask):
    umask(mask)
    path = write_text(tmp_path / "a.txt", "x")
    assert _mode(path) == 0o666 & ~mask


def test_a_umask_without_owner_write_still_writes(tmp_path, umask):
    umask(0o277)
    path = write_text(tmp_path / "a.txt", "x")
    assert path.read_text() == "x" and _mode(path) == 0o400


def test_the_temporary_keeps_the_suffix_and_folder(tmp_path):
    seen = []

    def write(tmp):
        seen.append(tmp)
        np.save(tmp, np.arange(3))  # np.save appends .npy unless the name already ends so

    path = write_atomic(tmp_path / "w.npy", write)
    tmp = seen[0]
    assert tmp.parent == tmp_path and tmp.name.startswith(TMP_PREFIX) and tmp.suffix == ".npy"
    assert np.load(path).tolist() == [0, 1, 2]
    assert list(tmp_path.iterdir()) == [path]


def _fail(tmp):
    tmp.write_text("half written")
    raise RuntimeError("disk on fire")


def test_failure_leaves_neither_target_nor_temporary(tmp_path):
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_atomic(tmp_path / "a.txt", _fail)
    assert list(tmp_path.iterdir()) == []


def test_failure_leaves_an_existing_target_untouched(tmp_path, umask):
    path = tmp_path / "a.txt"
    path.write_text("old")
    path.chmod(0o640)
    with pytest.raises(RuntimeError):
        write_atomic(path, _fail)
    assert path.read_text() == "old" and _mode(path) == 0o640
    assert list(tmp_path.iterdir()) == [path]


def test_interrupt_also_cleans_up(tmp_path):
    def interrupted(tmp):
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "a.txt", interrupted)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_folder_is_an_error_and_leaves_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_text(tmp_path / "nope" / "a.txt", "x")
    assert list(tmp_path.iterdir()) == []


def test_no_overwrite_refuses_an_existing_file(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("mine")
    with pytest.raises(FileExistsError):
        write_atomic(path, lambda tmp: tmp.write_text("theirs"), overwrite=False)
    assert path.read_text() == "mine" and list(tmp_path.iterdir()) == [path]
    fresh = write_atomic(tmp_path / "b.txt", lambda tmp: tmp.write_text("new"), overwrite=False)
    assert fresh.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_no_overwrite_without_hard_links_still_refuses(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "a.txt"
    assert write_atomic(path, lambda tmp: tmp.write_text("new"), overwrite=False).read_text() == "new"
    with pytest.raises(FileExistsError):
        write_atomic(path, lambda tmp: tmp.write_text("again"), overwrite=False)
    assert path.read_text() == "new" and list(tmp_path.iterdir()) == [path]


def test_write_json(tmp_path):
    path = tmp_path / "r.json"
    write_json(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1} and path.read_text().endswith("}\n")
    with pytest.raises(ValueError):
        write_json(path, {"a": float("nan")})
    assert json.loads(path.read_text()) == {"a": 1}  # the old file survives a failed write
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o444 | 0o200, 0o755])
def test_a_replaced_file_keeps_its_permissions(tmp_path, mode):
    from eiecore.atomic import check_outputs, text_writer

    for how in ("write_atomic", "publish"):
        path = tmp_path / f"{how}.json"
        path.write_text("old")
        os.chmod(path, mode)
        if how == "write_atomic":
            write_text(path, "new")
        else:
            check_outputs({"--json": path}).publish({"--json": text_writer("new")})
        assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == mode, how


def test_a_new_file_gets_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        write_text(tmp_path / "new.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o640


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="only root may give a file to another owner")
def test_a_replaced_file_keeps_its_owner_where_allowed(tmp_path):
    path = tmp_path / "owned.txt"
    path.write_text("old")
    os.chown(path, 12345, 23456)
    write_text(path, "new")
    st = path.stat()
    assert (st.st_uid, st.st_gid) == (12345, 23456) and path.read_text() == "new"
