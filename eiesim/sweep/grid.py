"""Sweep grids: which layers and configurations a sweep runs, parsed and validated up front.

A grid is a list of layers, a base configuration and axes ``field -> values`` over any
:class:`~eiesim.config.ArchConfig` field plus ``seed``. Values come from the command line
(``n_pe=1,2,4``, ``queue_depth=1..256:pow2``, ``clock_mhz=500..1000:250``) or a TOML file.
Everything is validated before a point runs: an unknown field, a value of the wrong type,
an empty range or a configuration the array rejects is an :class:`EieError` naming it.

A layer is a registered name (the nine benchmarks, once :mod:`workloads.benchmarks` is
imported), a group (``all``), or a synthetic layer ``synth:MxK:W:A`` (M outputs, K inputs,
weight density W, activation density A); see :mod:`eiesim.sweep.sources`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from eiecore.errors import EieError
from eiecore.validate import check_seed

from compressor.csc import check_encodable
from eiesim.config import ArchConfig
from eiesim.engines import ENGINES
from eiesim.sweep import fingerprint, sources

SEED_AXIS = "seed"
# Limits that keep a sweep's plan bounded in memory before anything expands.
MAX_AXIS_VALUES = 65536
MAX_POINTS = 100_000
_RANGE = re.compile(r"^(-?[0-9.eE+]+)\.\.(-?[0-9.eE+]+)(?::(pow2|[0-9.eE+]+))?$")


def parse_layers(spec: str | list[str]) -> list[str]:
    """``all``, a comma-separated string or a list of layer specs -> canonical names."""
    return sources.expand(spec)


def _field_type(name: str) -> Any:
    """The Python type of a sweepable field (``seed`` is an int)."""
    if name == SEED_AXIS:
        return int
    fields = ArchConfig.model_fields
    if name not in fields:
        raise EieError(f"unknown field {name!r}; choose an ArchConfig field ({', '.join(fields)}) or seed")
    kind = fields[name].annotation
    options = [arg for arg in typing.get_args(kind) if arg is not type(None)]
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and len(options) == 1:
        return options[0]  # an optional rule override (None: the profile's) takes the rule's values
    return kind


def _convert(name: str, raw: Any) -> Any:
    """One value of field ``name`` from text or TOML, with a message naming both on failure."""
    kind = _field_type(name)
    try:
        if typing.get_origin(kind) is typing.Literal:
            choices = typing.get_args(kind)
            if raw not in choices:
                raise ValueError(f"choose one of {', '.join(map(str, choices))}")
            return raw
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("true", "1", "yes"):
                return True
            if str(raw).lower() in ("false", "0", "no"):
                return False
            raise ValueError("expected true or false")
        if kind is int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError("expected an integer")
            value = int(raw) if not isinstance(raw, str) else int(raw.strip())
            return check_seed(value, f"field {name}") if name == SEED_AXIS else value
        value = float(raw)
        if not math.isfinite(value):
            raise ValueError("expected a finite number")
        return value
    except EieError:
        raise
    except (TypeError, ValueError) as exc:
        detail = str(exc) if "expected" in str(exc) or "choose" in str(exc) else f"expected {getattr(kind, '__name__', kind)}"
        raise EieError(f"bad value {raw!r} for field {name}: {detail}") from None


def parse_values(name: str, text: str) -> list[Any]:
    """Values of one axis: ``a,b,c``, ``lo..hi`` (step 1), ``lo..hi:step`` or ``lo..hi:pow2``."""
    text = text.strip()
    match = _RANGE.match(text)
    if match is None:
        values = [_convert(name, part) for part in text.split(",") if part.strip()]
    else:
        lo, hi = _convert(name, match[1]), _convert(name, match[2])
        step = match[3]
        if hi < lo:
            raise EieError(f"empty range {text!r} for field {name}")
        if step == "pow2":
            if lo < 1 or not isinstance(lo, int):
                raise EieError(f"range {text!r} for {name}: pow2 needs integers >= 1")
            values = [2**e for e in range(hi.bit_length()) if lo <= 2**e <= hi]
        else:
            inc = _convert(name, step) if step else 1
            if inc <= 0:
                raise EieError(f"range {text!r} for {name}: step must be positive")
            # in decimal, as written: 1.1..1.7:0.2 is 1.1, 1.3, 1.5, 1.7 (binary floats would
            # count 3 steps as 2.9999999999999996 and print 1.7000000000000002)
            first, last, each = (Decimal(str(v)) for v in (lo, hi, inc))
            count = int((last - first) / each) + 1
            if count > MAX_AXIS_VALUES:
                raise EieError(f"range {text!r} for {name} has {count} values, more than {MAX_AXIS_VALUES}")
            values = [type(lo + inc)(first + i * each) for i in range(count)]
    if not values:
        raise EieError(f"no values for field {name} in {text!r}")
    return list(dict.fromkeys(values))


def parse_axis(text: str) -> tuple[str, list[Any]]:
    """``field=values`` from the command line."""
    name, sep, values = text.partition("=")
    if not sep or not name.strip():
        raise EieError(f"bad grid axis {text!r}: expected FIELD=VALUES, e.g. n_pe=1,2,4")
    name = name.strip()
    _field_type(name)
    return name, parse_values(name, values)


@dataclass(frozen=True)
class Point:
    """One simulation: a layer, a seed, an engine and a fully resolved configuration."""

    layer: str
    seed: int
    engine: str
    config: ArchConfig
    code: str = ""  # fingerprint of the simulator's versions (eiesim.sweep.fingerprint)
    # Where the layer comes from, resolved here and pickled with the point, so a worker
    # process needs no registry. Not part of the point's identity.
    source: sources.LayerSource | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.source is None:
            object.__setattr__(self, "source", sources.resolve(self.layer))

    @property
    def config_hash(self) -> str:
        """Of the configuration's non-default fields only: a new field with a default leaves it as it was."""
        return _digest(self.config.settings())

    @property
    def point_hash(self) -> str:
        """Identity of the point in a store: same inputs and code, same hash, on every machine."""
        return _digest({"layer": self.layer, "layer_version": self.source.version, "seed": self.seed,
                        "engine": self.engine, "config": self.config.settings(), "code": self.code})

    @property
    def encoding_key(self) -> tuple:
        """What the encoded layer depends on; points sharing it share one encoding."""
        c = self.config
        return (self.layer, self.seed, c.n_pe, c.accumulators_per_pe, c.index_bits, c.weight_bits)


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:20]


@dataclass
class SweepSpec:
    """Layers x (base config with the axes varied); ``points()`` is the validated product."""

    layers: list[str]
    axes: dict[str, list[Any]] = field(default_factory=dict)
    base: dict[str, Any] = field(default_factory=dict)
    engine: str = "fast"

    @classmethod
    def build(cls, layers, axes: list[str] | dict[str, Any] = (), base: dict[str, Any] | None = None,
              engine: str = "fast") -> "SweepSpec":
        """Parse layers and axes (``["n_pe=1,2"]`` or ``{"n_pe": [1, 2] | "1..4:pow2"}``)."""
        parsed: dict[str, list[Any]] = {}
        items = axes.items() if isinstance(axes, dict) else (parse_axis(a) for a in axes)
        for name, values in items:
            if name in parsed:
                raise EieError(f"field {name} given twice")
            if isinstance(values, str):
                values = parse_values(name, values)
            elif isinstance(values, list):
                values = list(dict.fromkeys(_convert(name, v) for v in values))
            else:
                values = [_convert(name, values)]
            if not values:
                raise EieError(f"no values for field {name}")
            parsed[name] = values
        base = {k: _convert(k, v) for k, v in (base or {}).items()}
        if engine not in ENGINES:
            raise EieError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
        spec = cls(parse_layers(layers), parsed, base, engine)
        spec.points()  # validate every configuration before anything runs
        return spec

    @classmethod
    def from_toml(cls, path: str | Path, layers=None, axes: list[str] = (), engine: str | None = None) -> "SweepSpec":
        """A spec from TOML (``layers``, ``engine``, ``[grid]``, ``[base]``); CLI values extend it."""
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise EieError(f"bad sweep file {path}: {exc}") from None
        unknown = set(data) - {"layers", "engine", "grid", "base"}
        if unknown:
            raise EieError(f"bad sweep file {path}: unknown key {sorted(unknown)[0]!r} (use layers, engine, grid, base)")
        for key, kind, what in (("layers", (str, list), "a string or a list of strings"),
                                ("engine", str, "a string"), ("grid", dict, "a table"), ("base", dict, "a table")):
            if key in data and not isinstance(data[key], kind):
                raise EieError(f"bad sweep file {path}: {key} must be {what}, got {data[key]!r}")
        grid = dict(data.get("grid", {}))
        for name, values in (parse_axis(a) for a in axes):
            grid[name] = values  # the command line overrides the file
        return cls.build(layers if layers is not None else data.get("layers", "all"), grid, data.get("base", {}),
                         engine or data.get("engine", "fast"))

    @property
    def n_points(self) -> int:
        n = len(self.layers)
        for values in self.axes.values():
            n *= len(values)
        return n

    def points(self) -> list[Point]:
        """Every point of the grid, layer-major, each config validated (sizes before anything expands)."""
        if self.n_points > MAX_POINTS:
            raise EieError(f"the grid has {self.n_points} points, more than {MAX_POINTS}; split the sweep")
        names = list(self.axes)
        base_seed = self.base.get(SEED_AXIS, 0)
        base_cfg = {k: v for k, v in self.base.items() if k != SEED_AXIS}
        configs: dict[tuple, tuple[int, ArchConfig]] = {}
        for combo in itertools.product(*(self.axes[n] for n in names)):
            fields = dict(zip(names, combo))
            seed = fields.pop(SEED_AXIS, base_seed)
            try:
                cfg = ArchConfig.make(**{**base_cfg, **fields})
            except EieError as exc:
                where = " ".join(f"{k}={v}" for k, v in zip(names, combo))
                raise EieError(f"grid point {where}: {exc}") from None
            configs[combo] = (seed, cfg)
        shapes = {layer: (source.outputs, source.inputs) for layer in self.layers
                  if hasattr(source := sources.resolve(layer), "outputs")}
        for seed, cfg in configs.values():
            for layer, shape in shapes.items():
                check_encodable(shape, cfg, layer)
        code = fingerprint.simulator()
        return [Point(layer, seed, self.engine, cfg, code) for layer in self.layers for seed, cfg in configs.values()]
