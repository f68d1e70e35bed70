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
    # A caller's writable view is copied, not frozen, so the caller's array stays writable.
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
