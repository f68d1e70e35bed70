"""The sweep's layer sources: the registry, group expansion, and every check and message of
``synth:MxK:W:A``, by hand."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from eiecore.errors import EieError
from eiesim.sweep import sources
from eiesim.sweep.sources import MAX_SYNTH_NONZEROS, MAX_SYNTH_SIDE, SyntheticLayer, expand, resolve


@pytest.fixture
def registry(monkeypatch):
    """An empty registry for the test (the real families come back afterwards)."""
    monkeypatch.setattr(sources, "_REGISTRY", {})
    return sources._REGISTRY


@dataclass(frozen=True)
class _Named:
    name: str


def _find_fruit(name: str):
    return _Named(name.lower()) if name.lower() in ("apple", "pear") else None


def _find_tree(name: str):
    return _Named("oak") if name.lower() == "oak" else None


def _exact(text: str) -> str:
    return "^" + re.escape(text) + "$"


def test_size_hint_is_the_expected_number_of_kept_weights():
    # 10 x 20 weights at density 0.25: 50 kept (not 10 * 20 / 0.25 = 800, nor 10 / 20 * 0.25)
    assert SyntheticLayer(10, 20, 0.25, 1.0).size_hint() == 50.0


def test_a_family_registered_without_a_group_joins_all(registry):
    sources.register(_find_fruit, lambda: ["apple", "pear"])
    assert expand("all") == ["apple", "pear"]
    assert expand("ALL") == ["apple", "pear"]
    assert resolve(" Pear ") == _Named("pear")


def test_group_names_match_in_any_case_and_families_keep_their_order(registry):
    sources.register(_find_fruit, lambda: ["apple", "pear"], group="Food")
    sources.register(_find_tree, lambda: ["oak"], group="Food")
    assert expand("food") == expand("FOOD") == ["apple", "pear", "oak"]
    assert expand(["Oak", "food", "synth:2x3:0.50:1"]) == ["oak", "apple", "pear", "synth:2x3:0.5:1"]
    # registering a family again replaces it (same find function), it is not listed twice
    sources.register(_find_fruit, lambda: ["pear"], group="food")
    assert expand("food") == ["pear", "oak"]


def test_an_unknown_name_lists_every_registered_name(registry):
    with pytest.raises(EieError, match=_exact("unknown benchmark 'plum'; choose one of none registered "
                                              "(import workloads.benchmarks), or synth:MxK:W:A")):
        resolve("plum")
    sources.register(_find_fruit, lambda: ["apple", "pear"], group="fruit")
    sources.register(_find_tree, lambda: ["oak"], group="tree")
    with pytest.raises(EieError, match=_exact("unknown benchmark 'plum'; choose one of apple, pear, oak, "
                                              "or synth:MxK:W:A")):
        resolve(" plum ")


def test_no_layers_message():
    with pytest.raises(EieError, match=_exact("no layers given")):
        expand(" , ")


@pytest.mark.parametrize("text", ["synth:4x4:0.5", "SYNTH:4x4:0.5:0.5", "Synthetic", "synth:4x4:.5:.5:1"])
def test_a_malformed_synthetic_name_says_what_is_expected(text, registry):
    # Any case of "synth" is a synthetic layer spelled wrong, never looked up as a benchmark.
    sources.register(_find_fruit, lambda: ["apple", "pear"])
    with pytest.raises(EieError, match=_exact(f"bad synthetic layer {text!r}: expected synth:MxK:W:A (M outputs, "
                                              "K inputs, weight and activation densities), e.g. "
                                              "synth:4096x9216:0.09:0.35")):
        resolve(text)


@pytest.mark.parametrize("text", ["synth:4x4:1e:0.5", "synth:4x4:0.5:1..2", "synth:4x4:-:0.5"])
def test_densities_that_are_not_numbers(text):
    with pytest.raises(EieError, match=_exact(f"bad synthetic layer {text!r}: densities must be numbers")):
        resolve(text)


@pytest.mark.parametrize("text, layer", [
    ("synth:1x1:1:1", SyntheticLayer(1, 1, 1.0, 1.0)),  # the smallest sides, both densities at 1
    ("synth:1x3:0.5:0", SyntheticLayer(1, 3, 0.5, 0.0)),  # no activation at all is allowed
    ("synth:3x1:1e-1:2.5e-1", SyntheticLayer(3, 1, 0.1, 0.25)),
    # sides at the limit, 2^26, with few weights
    (f"synth:{MAX_SYNTH_SIDE}x1:1e-3:1", SyntheticLayer(MAX_SYNTH_SIDE, 1, 1e-3, 1.0)),
    (f"synth:1x{MAX_SYNTH_SIDE}:1e-3:1", SyntheticLayer(1, MAX_SYNTH_SIDE, 1e-3, 1.0)),
    # exactly 2^28 non-zeros: 2^14 x 2^14 dense
    ("synth:16384x16384:1:1", SyntheticLayer(16384, 16384, 1.0, 1.0)),
])
def test_synthetic_layers_at_the_limits_are_accepted(text, layer):
    assert resolve(text) == layer


@pytest.mark.parametrize("text", ["synth:0x4:0.5:0.5", "synth:4x0:0.5:0.5", "synth:4x4:0:0.5",
                                  "synth:4x4:1.5:0.5", "synth:4x4:0.5:1.5", "synth:4x4:1.0001:1"])
def test_synthetic_layers_out_of_range(text):
    with pytest.raises(EieError, match=_exact(f"bad synthetic layer {text!r}: need M, K >= 1, 0 < W <= 1, "
                                              "0 <= A <= 1")):
        resolve(text)


@pytest.mark.parametrize("text", [
    f"synth:{MAX_SYNTH_SIDE + 1}x1:1e-3:1",  # one output too many
    f"synth:1x{MAX_SYNTH_SIDE + 1}:1e-3:1",  # one input too many
    "synth:16384x16385:1:1",  # 2^28 + 2^14 non-zeros
    "synth:16385x16384:1:1",
])
def test_synthetic_layers_too_big(text):
    assert (MAX_SYNTH_SIDE, MAX_SYNTH_NONZEROS) == (2**26, 2**28)
    with pytest.raises(EieError, match=_exact(f"bad synthetic layer {text!r}: M and K are at most 67108864 (2^26) "
                                              "and M x K x W at most 268435456 (2^28) non-zeros, so memory stays "
                                              "bounded")):
        resolve(text)
