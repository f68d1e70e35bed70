"""Shared bits of the sweep and paper tests: tiny layers."""

TINY = "synth:96x40:0.2:0.5"
SMALL = "synth:160x64:0.15:0.6"
