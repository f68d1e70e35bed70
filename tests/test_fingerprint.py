"""The fingerprints that decide whether a stored point or cached layer is reused.

A fingerprint that forgets an ingredient silently reuses results computed under other
rules; one whose formula drifts recomputes every store for nothing. Both are pinned here.
"""

import hashlib
import json
from importlib import resources

import pytest

from eiesim.energy.tables import BUILTIN_FILES
from eiesim.sweep import fingerprint as fp

INGREDIENTS = ("ENCODING_VERSION", "ENGINE_VERSION", "ENERGY_VERSION", "ROW_VERSION")


def _by_hand(obj) -> str:
    # sha256 of the JSON with sorted keys, its first 12 hex digits
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


def test_the_generator_fingerprint_is_the_digest_of_the_encoding_version():
    assert fp.generator() == _by_hand({"encoding": fp.ENCODING_VERSION})
    assert len(fp.generator()) == 12


def test_the_simulator_fingerprint_is_the_digest_of_every_version_and_table():
    tables = resources.files("eiesim.energy").joinpath("tables")
    files = sorted(BUILTIN_FILES.values())
    assert len(files) >= 2  # the Horowitz table and EIE Table II at least
    data = {name: hashlib.sha256(tables.joinpath(name).read_bytes()).hexdigest() for name in files}
    want = {"encoding": fp.ENCODING_VERSION, "engine": fp.ENGINE_VERSION, "energy": fp.ENERGY_VERSION,
            "tables": data, "row": fp.ROW_VERSION}
    assert fp.simulator() == _by_hand(want)


@pytest.mark.parametrize("name", INGREDIENTS)
def test_each_version_changes_the_simulator_fingerprint(monkeypatch, name):
    before = fp.simulator(), fp.generator()
    monkeypatch.setattr(fp, name, getattr(fp, name) + 1)
    assert fp.simulator() != before[0]
    # Only the encoding version reaches the generator's fingerprint.
    assert (fp.generator() != before[1]) == (name == "ENCODING_VERSION")


def test_each_energy_table_changes_the_simulator_fingerprint(monkeypatch):
    before = fp.simulator()
    for dropped in BUILTIN_FILES:
        monkeypatch.setattr(fp, "BUILTIN_FILES", {k: v for k, v in BUILTIN_FILES.items() if k != dropped})
        assert fp.simulator() != before, dropped
