"""Caches are explicit objects that clear_caches() empties; encoded arrays are read-only."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from compressor.csc import ARRAY_FIELDS, compress_layer
from eiecore.caches import Cache, cache_sizes
from eiesim import ArchConfig, clear_caches, simulate
from eiesim.energy.tables import load_table


def test_cache_drops_the_least_recently_used_entry():
    cache = Cache("test lru", maxsize=2)
    cache["a"], cache["b"] = 1, 2
    assert cache["a"] == 1  # "a" is now the most recently used
    cache["c"] = 3
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3 and len(cache) == 2
    with pytest.raises(KeyError):
        cache["b"]
    assert cache.get("b", "missing") == "missing"


def test_weak_cache_forgets_a_dropped_key():
    class Key:
        pass

    cache, key = Cache("test weak", weak_keys=True), Key()
    cache[key] = "tables"
    assert len(cache) == 1
    del key
    gc.collect()
    assert len(cache) == 0
    with pytest.raises(ValueError, match="no size limit"):
        Cache("test weak sized", maxsize=1, weak_keys=True)


def test_clear_caches_empties_every_registered_cache():
    config = ArchConfig(n_pe=2)
    layer = compress_layer(np.array([[1.0, 0.0], [0.5, 2.0]]), config)
    simulate(layer, np.array([1.0, 1.0]), config, engine="fast")
    load_table(None, "events")
    sizes = cache_sizes()
    assert sizes["fast engine layer tables"] >= 1 and sizes["built-in energy tables"] >= 1
    clear_caches()
    assert all(size in (0, None) for size in cache_sizes().values()), cache_sizes()


def test_encoded_arrays_are_read_only():
    w = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]])
    layer = compress_layer(np.hstack([w, [[0.5], [0.25]]]), ArchConfig(n_pe=2), has_bias=True)
    assert layer.bias_codebook is not None  # the bias column has its own table: it is frozen too
    for name in ARRAY_FIELDS:
        with pytest.raises(ValueError, match="read-only"):
            getattr(layer, name)[0] = 1
    # A caller's writable array is copied, not frozen, so the caller's array stays writable.
    code = np.array([1, 2], np.uint8)
    again = type(layer)(**{**layer.__dict__, "code": code[:2]})
    assert code.flags.writeable and not again.code.flags.writeable
    code[0] = 9
    assert again.code[0] == 1


def test_fingerprints_come_from_versions_not_source_text(monkeypatch):
    from eiesim.sweep import fingerprint
    from eiesim.sweep.grid import SweepSpec

    before = (fingerprint.generator(), fingerprint.simulator())
    point = SweepSpec.build(["synth:8x8:0.5:1"], ["n_pe=2"]).points()[0]
    first_hash = point.point_hash  # computed now: a hash reads the source's version when asked
    # Bumping a version changes what it covers and the stored points' identity.
    monkeypatch.setattr(fingerprint, "ENGINE_VERSION", fingerprint.ENGINE_VERSION + 1)
    assert fingerprint.generator() == before[0] and fingerprint.simulator() != before[1]
    monkeypatch.setattr(fingerprint, "ENCODING_VERSION", fingerprint.ENCODING_VERSION + 1)
    assert fingerprint.generator() != before[0]
    again = SweepSpec.build(["synth:8x8:0.5:1"], ["n_pe=2"]).points()[0]
    assert again.point_hash != first_hash and again.code != point.code
    monkeypatch.undo()
    # A source's own version is part of the point's identity too.
    from eiesim.sweep import sources

    monkeypatch.setattr(sources.SyntheticLayer, "version", sources.SyntheticLayer.version + 1)
    assert SweepSpec.build(["synth:8x8:0.5:1"], ["n_pe=2"]).points()[0].point_hash != first_hash


# --- the disk cache owns only what it made ---------------------------------------------------

def _user_files(root):
    """Files and folders a user keeps beside and inside a cache root: none may ever go."""
    files = {
        root / "notes.txt": b"mine",
        root / "code-review" / "notes.txt": b"review",  # looks like an old cache folder name
        root / "_eiesim-cache-code-0000" / "draft.npz": b"unmarked folder with a cache-like name",
        root / "layers.eiesim-cache.npz": b"an entry-like name outside any marked folder",
    }
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def test_the_disk_cache_never_touches_user_files_beside_or_inside_it(tmp_path, monkeypatch, run_cli):
    from eiecore import caches
    from eiesim.sweep import fingerprint, layers

    root = tmp_path / "cache"
    files = _user_files(root)
    version_a = fingerprint.generator()
    folder_a = layers.cache_folder(root)
    inside = {folder_a / "my-notes.txt": b"inside", folder_a / "plot.npz": b"inside, cache suffix .npz"}
    for path, data in inside.items():
        path.write_bytes(data)
    files.update(inside)
    # A sweep and a simulate with this cache, a second code version sharing it, then a budget
    # so small that every operation evicts: the user's files survive all of it.
    sweep = ("sweep", "--layers", "synth:40x30:0.3:0.5", "--grid", "n_pe=2,4", "--engine", "fast")
    assert run_cli(*sweep, "--out", tmp_path / "s1", "--cache-dir", root)[0] == 0
    monkeypatch.setattr(fingerprint, "generator", lambda: "other-version")
    layers._MEMO.clear()
    assert run_cli(*sweep, "--out", tmp_path / "s2", "--cache-dir", root)[0] == 0
    assert (root / "_eiesim-cache-code-other-version" / caches.DISK_MARKER).exists()
    assert (root / f"_eiesim-cache-code-{version_a}").is_dir()  # the other version's folder stays
    monkeypatch.setenv(caches.BUDGET_ENV, "1")
    layers._MEMO.clear()
    assert run_cli(*sweep, "--out", tmp_path / "s3", "--cache-dir", root)[0] == 0  # hits: nothing written
    assert len(caches.disk_entries(root)) == 2
    other_layer = ("sweep", "--layers", "synth:40x30:0.3:0.7", "--grid", "n_pe=2", "--engine", "fast")
    assert run_cli(*other_layer, "--out", tmp_path / "s4", "--cache-dir", root)[0] == 0
    for path, data in files.items():
        assert path.read_bytes() == data, path
    # Only the last entry written survives a 1-byte budget; every marked folder stays.
    assert len(caches.disk_entries(root)) == 1
    assert sorted(p.name for p in root.iterdir()) == sorted(
        ["notes.txt", "code-review", "_eiesim-cache-code-0000", "layers.eiesim-cache.npz",
         f"_eiesim-cache-code-{version_a}", "_eiesim-cache-code-other-version"])


def test_eviction_is_least_recently_used_within_the_budget_across_versions(tmp_path):
    import os

    from eiecore import caches

    root = tmp_path / "cache"
    old, new = caches.disk_folder(root, "v1"), caches.disk_folder(root, "v2")
    entries = [caches.disk_entry(old, "a"), caches.disk_entry(new, "b"), caches.disk_entry(old, "c")]
    for age, entry in enumerate(entries):
        entry.write_bytes(b"x" * 100)
        os.utime(entry, ns=(10**18 + age * 10**9,) * 2)  # a oldest, c newest
    caches.disk_used(entries[0])  # a hit: a becomes the most recent
    latest = caches.disk_entry(new, "d")
    latest.write_bytes(b"x" * 100)
    removed = caches.disk_evict(latest, budget=250)  # 400 bytes held: two must go, oldest first
    assert removed == [entries[1], entries[2]]
    assert entries[0].exists() and latest.exists()
    assert caches.disk_evict(latest, budget=0) == [entries[0]] and latest.exists()  # never the new entry


def test_a_cache_folder_name_taken_by_a_user_folder_is_refused_not_used(tmp_path):
    from eiecore import caches

    (tmp_path / "_eiesim-cache-v1").mkdir()
    (tmp_path / "_eiesim-cache-v1" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not made by the eiesim cache"):
        caches.disk_folder(tmp_path, "v1")
    assert caches.disk_entries(tmp_path) == [] and (tmp_path / "_eiesim-cache-v1" / "keep.txt").exists()


def test_a_bad_cache_budget_is_named(monkeypatch):
    from eiecore import caches
    from eiecore.errors import EieError

    monkeypatch.setenv(caches.BUDGET_ENV, "lots")
    with pytest.raises(EieError, match="EIESIM_CACHE_BYTES must be a whole number"):
        caches.disk_budget()
    monkeypatch.setenv(caches.BUDGET_ENV, "123")
    assert caches.disk_budget() == 123
