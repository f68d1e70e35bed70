"""Shared bits of the sweep and paper tests: an available engine and tiny layers."""

from __future__ import annotations

import importlib

import pytest

from eiesim.engines import ENGINE_MODULES

TINY = "synth:96x40:0.2:0.5"
SMALL = "synth:160x64:0.15:0.6"


def available_engine() -> str:
    """The fast engine when built, else the reference one; skip when neither is."""
    for name in ("fast", "reference"):
        try:
            importlib.import_module(ENGINE_MODULES[name])
        except ModuleNotFoundError:
            continue
        return name
    pytest.skip("no simulation engine built yet")
