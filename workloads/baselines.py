"""CPU/GPU baselines (SPEC §8): PyTorch dense and CSR layers against simulated EIE.

For each layer, PyTorch computes ``W @ a`` with W dense and with W in CSR, at batch 1
(matrix-vector) and at larger batches (matrix-matrix, reported per frame), on the CPU and
on CUDA when present, with one torch thread unless asked otherwise (a shared machine's
other work then disturbs a timing least). A single-threaded CPU timing is measured in the
calling thread's CPU time (``time.thread_time_ns``, CLOCK_THREAD_CPUTIME_ID), which counts
only the time the thread ran, so other processes competing for the CPU do not inflate it;
its wall time is kept beside it. Multi-threaded and GPU timings use wall time. On the CPU
each call reads the next of several copies of the weights that together exceed the
last-level cache (:data:`COLD_BYTES`), so the weights come from DRAM on a quiet machine as
on a busy one. Each timing
has warm-up calls, then timed
samples, each of enough calls to last at least :data:`MIN_SAMPLE_S`; sampling continues
past ``repeats`` (up to :data:`MAX_REPEATS_FACTOR` x ``repeats`` or :data:`BUDGET_S`
seconds) until the spread, interquartile range / median, is at most ``max_spread``. The
report keeps median, quartiles, min and max per call; a timing whose spread stays above
``max_spread`` is marked unstable and left out of every geometric mean. The machine's
load average before and after is recorded with the thread count. Energy comes from
RAPL/NVML counters when readable (``workloads.power``), else it is reported as
unavailable with the reason.

The comparison puts simulated EIE (64 PEs by default, time from the simulator's cycles,
energy from its energy model) beside the measured columns, with speedup and
energy-efficiency ratios over the reference column (CPU dense at batch 1, as EIE Figs 6-7)
and their geometric means over the layers whose timings are stable. One statistic, the
median, serves the table, the figures and the headline: the geometric mean over the stable
layers of (median CPU dense batch-1 time per frame / simulated EIE time). torch is
imported only inside functions.
"""

from __future__ import annotations

import itertools
import math
import os
import platform
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp

from eiecore.errors import EieError
from eiesim.config import ArchConfig
from eiesim.simulation import simulate
from workloads.benchmarks import (
    Benchmark,
    benchmark_activation_batch,
    benchmark_layer,
    benchmark_names,
    benchmark_weights,
    get_benchmark,
)
from workloads.power import EnergyMeasurement, measure_energy, meter_for
from workloads.sampling import BUDGET_S, MAX_REPEATS_FACTOR, MAX_SPREAD, MIN_SAMPLE_S
from workloads.torch_import import require_torch

REFERENCE = "cpu-dense-b1"
KINDS = ("dense", "sparse")
THREAD_CPU, WALL = "thread CPU time", "wall time"  # the clocks a timing can be measured with
# CPU timings cycle through copies of the weights that together hold this many bytes, more
# than a server's last-level cache (hundreds of MB): every call reads its weights from DRAM,
# as a layer of a real network does once the other layers have run. Without it a layer
# small enough to stay cached runs from the cache on a quiet machine and from DRAM on a
# busy one (other processes evict it), and its time follows the load.
COLD_BYTES = 1 << 30
MAX_COPIES = 256


def _thread_cpu_s() -> float:
    return time.thread_time_ns() * 1e-9


@dataclass(frozen=True)
class Stats:
    """Summary of timed samples, in seconds per call (``repeats`` samples of
    ``calls_per_sample`` calls each)."""

    median: float
    q1: float
    q3: float
    min: float
    max: float
    repeats: int
    calls_per_sample: int = 1

    @classmethod
    def of(cls, samples: Sequence[float], calls_per_sample: int = 1) -> "Stats":
        s = np.asarray(samples, np.float64)
        q1, med, q3 = np.percentile(s, [25, 50, 75])
        return cls(float(med), float(q1), float(q3), float(s.min()), float(s.max()), int(s.size),
                   int(calls_per_sample))

    @property
    def spread(self) -> float:
        """Interquartile range / median (0 for a single sample)."""
        return (self.q3 - self.q1) / self.median if self.median > 0 else float("inf")

    def to_dict(self) -> dict[str, float]:
        return {**asdict(self), "spread": self.spread}


@dataclass
class Measurement:
    """One (layer, device, dense|sparse, batch) timing, with energy where measurable."""

    layer: str
    device: str
    kind: str
    batch: int
    call: Stats
    energy: EnergyMeasurement | None = None
    energy_note: str = ""
    max_spread: float = MAX_SPREAD
    clock: str = WALL  # what ``call`` measures
    wall: Stats | None = None  # wall time of the same samples when ``call`` is thread CPU time

    @property
    def label(self) -> str:
        return column_label(self.device, self.kind, self.batch)

    @property
    def stable(self) -> bool:
        return self.call.spread <= self.max_spread

    @property
    def seconds_per_frame(self) -> float:
        return self.call.median / self.batch

    @property
    def joules_per_frame(self) -> float | None:
        return None if self.energy is None else self.energy.joules_per_call / self.batch

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer, "device": self.device, "kind": self.kind, "batch": self.batch,
            "label": self.label, "clock": self.clock, "seconds_per_call": self.call.to_dict(),
            "wall_seconds_per_call": (self.wall or self.call).to_dict(), "stable": self.stable,
            "seconds_per_frame": self.seconds_per_frame, "joules_per_frame": self.joules_per_frame,
            "energy": None if self.energy is None else self.energy.to_dict(),
            "energy_note": self.energy_note,
        }


@dataclass
class EieRow:
    """Simulated EIE on one layer (batch 1): time from cycles, energy from the model."""

    layer: str
    n_pe: int
    engine: str
    cycles: int
    seconds: float
    joules: float | None
    energy_note: str

    @property
    def label(self) -> str:
        return f"eie-{self.n_pe}pe"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label}


@dataclass
class BaselineReport:
    """Every measurement, the EIE rows, the settings and the machine they ran on."""

    settings: dict[str, Any]
    environment: dict[str, Any]
    measurements: list[Measurement]
    eie: list[EieRow] = field(default_factory=list)
    eie_note: str = ""

    def columns(self) -> list[str]:
        labels = list(dict.fromkeys(m.label for m in self.measurements))
        return labels + list(dict.fromkeys(r.label for r in self.eie))

    def layers(self) -> list[str]:
        return list(dict.fromkeys(m.layer for m in self.measurements))

    def reference(self) -> str:
        """CPU dense at batch 1 when measured, else the first measured column."""
        cols = self.columns()
        return REFERENCE if REFERENCE in cols else cols[0]

    def _cells(self) -> dict[tuple[str, str], tuple[float, float | None, bool]]:
        """(layer, column) -> median seconds and joules per frame, and whether the timing is
        stable (a simulated column always is: it has no timing noise)."""
        cells = {(m.layer, m.label): (m.seconds_per_frame, m.joules_per_frame, m.stable) for m in self.measurements}
        cells.update({(r.layer, r.label): (r.seconds, r.joules, True) for r in self.eie})
        return cells

    def comparison(self) -> dict[str, Any]:
        """Per layer and column: median seconds and joules per frame, speedup and energy
        efficiency over the reference column, whether the cell's own timing is stable
        (``timing_stable``) and whether the layer counts in the column's geometric mean
        (``stable``: the cell's and the reference's timings both stable); the geometric means."""
        cells, ref = self._cells(), self.reference()
        rows = []
        for layer in self.layers():
            ref_s, ref_j, ref_stable = cells[(layer, ref)]
            row = {"layer": layer, "seconds": {}, "joules": {}, "speedup": {}, "energy_efficiency": {},
                   "stable": {}, "timing_stable": {}}
            for col in self.columns():
                if (layer, col) not in cells:
                    continue
                s, j, stable = cells[(layer, col)]
                row["seconds"][col], row["joules"][col] = s, j
                row["timing_stable"][col] = stable
                row["stable"][col] = stable and ref_stable
                row["speedup"][col] = ref_s / s if s > 0 else None
                row["energy_efficiency"][col] = ref_j / j if ref_j is not None and j else None
            rows.append(row)
        geomean, layers_used = {}, {}
        for metric in ("speedup", "energy_efficiency"):
            geomean[metric] = {col: _geomean([r[metric].get(col) for r in rows if r["stable"].get(col)])
                               for col in self.columns()}
        for col in self.columns():
            layers_used[col] = [r["layer"] for r in rows if r["stable"].get(col) and r["speedup"].get(col)]
        return {"reference": ref, "statistic": "median", "clock": self.clock(), "columns": self.columns(),
                "rows": rows, "geomean": geomean, "geomean_layers": layers_used}

    def clock(self) -> str:
        """What the reference column's timings measure (thread CPU time or wall time)."""
        clocks = {m.clock for m in self.measurements if m.label == self.reference()}
        return clocks.pop() if len(clocks) == 1 else WALL

    def headline_speedup(self) -> float | None:
        """EIE's geometric-mean speedup over the reference (median per frame), stable layers."""
        eie = [c for c in self.columns() if c.startswith("eie-")]
        return self.comparison()["geomean"]["speedup"][eie[0]] if eie else None

    def headline(self) -> str:
        """The speedup of simulated EIE over the reference, with the workload, the statistic,
        the layers it covers and the conditions of the measurement."""
        comp, env = self.comparison(), self.environment
        eie = [c for c in comp["columns"] if c.startswith("eie-")]
        conditions = (f"torch {env.get('threads', '?')} thread(s); load average (1 min) "
                      f"{_load(env.get('load_before'))} before and {_load(env.get('load_after'))} after "
                      f"the timings, on {env.get('cpu_count', '?')} CPUs")
        if not eie:
            return f"No headline: EIE was not simulated. {conditions}."
        col, total = eie[0], len(comp["rows"])
        used = comp["geomean_layers"][col]
        left_out = [r["layer"] for r in comp["rows"] if r["layer"] not in used]
        value = self.headline_speedup()
        workload = (f"the benchmark layers (EIE Table III shapes and densities, synthetic, seed "
                    f"{self.settings.get('seed', '?')}, batch 1, one input frame)")
        what = (f"geometric mean over {len(used)} of {total} layers of (median {comp['reference']} "
                f"{comp['clock']} per frame / simulated EIE time)")
        out = (f"Headline: on {workload}, simulated EIE ({col}) is {_fmt(value)} faster than "
               f"{comp['reference']}: {what}" if value is not None
               else f"Headline: none, no layer has a stable {comp['reference']} timing")
        if left_out:
            out += (f"; left out: {', '.join(left_out)} (timing spread, interquartile range / median, above "
                    f"{self.max_spread():g})")
        return f"{out}. {conditions}."

    def max_spread(self) -> float:
        return self.settings.get("max_spread", MAX_SPREAD)

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings, "environment": self.environment,
            "measurements": [m.to_dict() for m in self.measurements],
            "eie": [r.to_dict() for r in self.eie], "eie_note": self.eie_note,
            "comparison": self.comparison(), "headline": self.headline(),
            "headline_x": self.headline_speedup(),
        }

    def to_markdown(self, with_headline: bool = True) -> str:
        """Time per frame (us) with speedup per layer and column, unstable timings marked;
        the wall time beside thread-CPU timings; energy per frame (uJ) for the columns where
        it was measured or modelled; the geometric means and (unless the caller shows it
        elsewhere) the headline."""
        comp, env = self.comparison(), self.environment
        cols = comp["columns"]
        ref = comp["reference"]
        left_out = {r["layer"] for r in comp["rows"] if not r["timing_stable"].get(ref, True)}

        def table(metric: str | None, columns: list[str], cell) -> list[str]:
            out = ["| layer | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
            for row in comp["rows"]:
                cells = [cell(row, c) if c in row["seconds"] else "-" for c in columns]
                mark = " *" if row["layer"] in left_out else ""
                out.append(f"| {row['layer']}{mark} | " + " | ".join(cells) + " |")
            if metric:
                out.append(f"| geomean {metric} (stable layers) | "
                           + " | ".join(_fmt(comp["geomean"][metric][c]) for c in columns) + " |")
            return out

        def time_cell(row, c) -> str:
            mark = "" if row["timing_stable"][c] else " unstable"
            return f"{row['seconds'][c] * 1e6:.1f} ({_fmt(row['speedup'][c])}){mark}"

        threads = env.get("threads", "?")
        lines = [f"Reference: {ref}. torch {env.get('torch_version', '?')}, {threads} "
                 f"thread{'s' if threads != 1 else ''}, {env.get('cpu', '?')}. Statistic: the median of "
                 f"at least {self.settings.get('repeats', '?')} timed samples after "
                 f"{self.settings.get('warmup', '?')} warm-up calls, in {comp['clock']} (single-threaded CPU "
                 f"timings count only the time the thread ran); a timing whose interquartile range / "
                 f"median exceeds {self.max_spread():g} is marked unstable and left out of the geometric means. "
                 f"The simulated EIE column has no timing noise.",
                 "", _gpu_line(env), "", "Time per frame, us (speedup over the reference):", ""]
        lines += table("speedup", cols, time_cell)
        if left_out:
            lines += ["", f"\\* left out of every geometric mean: the {ref} timing is unstable."]
        wall = {(m.layer, m.label): m.wall.median / m.batch for m in self.measurements if m.wall is not None}
        wall_cols = [c for c in cols if any((r["layer"], c) in wall for r in comp["rows"])]
        if wall_cols:
            lines += ["", "Wall time per frame, us (median of the same samples; it also counts the time the "
                          "thread waited for a CPU, so it grows with the machine's load):", ""]
            lines += table(None, wall_cols, lambda row, c: (f"{wall[(row['layer'], c)] * 1e6:.1f}"
                                                            if (row["layer"], c) in wall else "-"))
        energy_cols = [c for c in cols if any(r["joules"].get(c) is not None for r in comp["rows"])]
        measured = [c for c in energy_cols if not c.startswith("eie-")]
        if measured:
            lines += ["", "Energy per frame, uJ (energy efficiency over the reference):", ""]
            lines += table("energy_efficiency", energy_cols, lambda row, c: "n/a" if row["joules"][c] is None else
                           f"{row['joules'][c] * 1e6:.3f} ({_fmt(row['energy_efficiency'][c])})")
        notes = sorted({m.energy_note for m in self.measurements if m.energy is None and m.energy_note})
        if notes:
            lines += ["", "Measured energy: " + "; ".join(notes) + "."
                      + ("" if measured else " No energy-efficiency table: nothing to compare EIE's modelled "
                                             "energy with.")]
        if self.eie_note:
            lines += ["", self.eie_note]
        if with_headline:
            lines += ["", self.headline()]
        return "\n".join(lines)


def _load(value) -> str:
    return "?" if value is None else f"{value:.2f}"


def _gpu_line(env: dict[str, Any]) -> str:
    gpus = [name for device, name in env.get("devices", {}).items() if device.startswith("cuda")]
    if gpus:
        return f"GPU: {', '.join(gpus)}."
    return env.get("gpu", "GPU: none measured.")


def column_label(device: str, kind: str, batch: int) -> str:
    return f"{device.split(':')[0]}-{kind}-b{batch}"


def _geomean(values: list[float | None]) -> float | None:
    """Geometric mean of the available positive ratios (None when there is none)."""
    got = [v for v in values if v is not None and v > 0]
    return math.exp(sum(math.log(v) for v in got) / len(got)) if got else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def environment(devices: Sequence[str]) -> dict[str, Any]:
    """Versions, thread count and device names, recorded with every report."""
    torch = require_torch()
    names = {d: (torch.cuda.get_device_name(torch.device(d)) if d.startswith("cuda") else _cpu_name())
             for d in devices}
    if torch.cuda.is_available():
        gpu = f"GPU found: {torch.cuda.get_device_name(0)}" + ("" if any(d.startswith("cuda") for d in devices)
                                                               else " (not measured: not among --device)")
    else:
        gpu = "No GPU found (torch.cuda.is_available() is False): no GPU columns."
    return {
        "torch_version": torch.__version__, "threads": torch.get_num_threads(),
        "cpu": _cpu_name(), "cpu_count": os.cpu_count(), "devices": names, "gpu": gpu,
        "load_before": os.getloadavg()[0],
        "python": platform.python_version(), "platform": platform.platform(),
        "numpy_version": np.__version__,
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def check_devices(devices: Sequence[str]) -> list[str]:
    """Validated torch device strings; CUDA only where torch sees a GPU."""
    torch = require_torch()
    out = []
    for d in devices:
        if d == "cpu":
            out.append(d)
        elif d == "cuda" or d.startswith("cuda:"):
            if not torch.cuda.is_available():
                raise EieError(f"device {d!r} requested but torch.cuda.is_available() is False here")
            out.append(d)
        else:
            raise EieError(f"unknown device {d!r}; use cpu or cuda")
    return out


def default_devices() -> list[str]:
    """cpu, plus cuda when torch sees a GPU."""
    return ["cpu"] + (["cuda"] if require_torch().cuda.is_available() else [])


def time_call(op: Callable[[], Any], repeats: int, warmup: int, sync: Callable[[], None],
              max_spread: float = MAX_SPREAD, clock: str = WALL) -> tuple[Stats, Stats]:
    """Median and spread per call in ``clock`` (:data:`THREAD_CPU` or :data:`WALL`), and the
    wall time of the same samples: ``warmup`` untimed calls, then at least ``repeats``
    timed samples of enough calls to last :data:`MIN_SAMPLE_S` each, more (see
    :data:`MAX_REPEATS_FACTOR`, :data:`BUDGET_S`) while IQR / median exceeds ``max_spread``."""
    if clock not in (THREAD_CPU, WALL):
        raise EieError(f"unknown clock {clock!r}")
    timer = _thread_cpu_s if clock == THREAD_CPU else time.perf_counter
    for _ in range(warmup):
        op()
    sync()
    t0 = timer()
    op()
    sync()
    calls = max(1, math.ceil(MIN_SAMPLE_S / max(timer() - t0, 1e-9)))
    samples: list[float] = []
    walls: list[float] = []
    start = time.perf_counter()
    while len(samples) < repeats * MAX_REPEATS_FACTOR:
        w0, t0 = time.perf_counter(), timer()
        for _ in range(calls):
            op()
        sync()
        samples.append((timer() - t0) / calls)
        walls.append((time.perf_counter() - w0) / calls)
        if len(samples) >= repeats and (Stats.of(samples).spread <= max_spread
                                        or time.perf_counter() - start > BUDGET_S):
            break
    return Stats.of(samples, calls), Stats.of(walls, calls)


def measure_layer(
    name: str,
    weights: sp.spmatrix,
    frames: np.ndarray,
    devices: Sequence[str] = ("cpu",),
    batches: Sequence[int] = (1, 64),
    repeats: int = 10,
    warmup: int = 3,
    energy_seconds: float = 0.5,
    max_spread: float = MAX_SPREAD,
) -> list[Measurement]:
    """Dense and CSR ``W @ a`` timings of one layer (in thread CPU time on the CPU with one
    torch thread, else in wall time).

    ``weights`` is M x K (bias column included), ``frames`` K x max(batches) inputs (the
    bias input 1.0 included). Batch 1 is a matrix-vector product, larger batches a
    matrix-matrix product over the first ``batch`` frames. On the CPU each call reads the
    next of :func:`cold_copies` of the weights, so the weights come from DRAM, not from a
    cache they happened to stay in (see :data:`COLD_BYTES`).
    """
    torch = require_torch()
    csr = sp.csr_matrix(weights, dtype=np.float32)
    if frames.shape[0] != csr.shape[1] or frames.shape[1] < max(batches):
        raise EieError(f"layer {name}: frames of shape {frames.shape} do not fit W {csr.shape} and batches")
    out = []
    for device in devices:
        sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
        # One torch thread runs the product in this thread: its CPU time is the work alone.
        clock = THREAD_CPU if device == "cpu" and torch.get_num_threads() == 1 else WALL
        meter, note = meter_for(device)
        matrices = _torch_matrices(csr, device)
        for kind in KINDS:
            ring = cold_copies(matrices.pop(kind)) if device == "cpu" else [matrices.pop(kind)]
            for batch in batches:
                x = torch.from_numpy(np.ascontiguousarray(frames[:, :batch], np.float32)).to(device)
                if batch == 1:
                    x = x[:, 0].contiguous()

                def op(following=itertools.cycle(ring).__next__, x=x):
                    return following() @ x

                stats, wall = time_call(op, repeats, warmup, sync, max_spread, clock)
                energy, energy_note = None, note
                if meter is not None:
                    try:
                        energy = measure_energy(meter, op, sync, energy_seconds)
                    except EieError as exc:
                        energy_note = str(exc)
                out.append(Measurement(name, device, kind, batch, stats, energy, energy_note, max_spread, clock,
                                       wall if clock == THREAD_CPU else None))
            del ring
    order = {(d, b, k): i for i, (d, b, k) in enumerate(
        (d, b, k) for d in devices for b in batches for k in KINDS)}
    return sorted(out, key=lambda m: order[(m.device, m.batch, m.kind)])


def _nbytes(tensor) -> int:
    if tensor.layout == require_torch().sparse_csr:
        parts = (tensor.values(), tensor.col_indices(), tensor.crow_indices())
        return sum(p.numel() * p.element_size() for p in parts)
    return tensor.numel() * tensor.element_size()


def cold_copies(tensor) -> list:
    """The tensor and enough copies of it to fill :data:`COLD_BYTES` (at most
    :data:`MAX_COPIES`): read in turn, each is gone from the caches by the time it is read
    again."""
    copies = max(1, min(MAX_COPIES, math.ceil(COLD_BYTES / max(1, _nbytes(tensor)))))
    return [tensor] + [tensor.clone() for _ in range(copies - 1)]


def _torch_matrices(csr: sp.csr_matrix, device: str) -> dict[str, Any]:
    """W as a dense float32 tensor (filled from the sparse entries) and as CSR."""
    torch = require_torch()
    coo = csr.tocoo()
    dense = torch.zeros(csr.shape, dtype=torch.float32)
    dense[torch.from_numpy(coo.row.astype(np.int64)), torch.from_numpy(coo.col.astype(np.int64))] = (
        torch.from_numpy(coo.data))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        sparse = torch.sparse_csr_tensor(
            torch.from_numpy(csr.indptr.astype(np.int64)), torch.from_numpy(csr.indices.astype(np.int64)),
            torch.from_numpy(csr.data), size=csr.shape, check_invariants=False,
        )
    return {"dense": dense.to(device), "sparse": sparse.to(device)}


def simulate_eie(bench: Benchmark, seed: int, config: ArchConfig, engine: str) -> EieRow:
    """Simulated EIE time and energy of one benchmark layer for one frame (batch 1): the
    same weights and first frame as the measured columns, weight-shared (layer cache)."""
    layer, acts = benchmark_layer(bench.name, config, seed)
    result = simulate(layer, acts, config, engine=engine)
    return EieRow(bench.name, config.n_pe, engine, int(result.cycles), result.time_us * 1e-6,
                  float(result.energy.total) * 1e-12, "modelled (eiesim energy model, pJ tables)")


def run_baselines(
    names: str | Sequence[str] | None = None,
    devices: Sequence[str] | None = None,
    batches: Sequence[int] = (1, 64),
    repeats: int = 10,
    warmup: int = 3,
    threads: int | None = 1,
    seed: int = 0,
    eie: ArchConfig | None = ArchConfig(),
    engine: str = "fast",
    energy_seconds: float = 0.5,
    progress: Callable[[str], None] | None = None,
    max_spread: float = MAX_SPREAD,
) -> BaselineReport:
    """Baselines of the benchmark layers (all nine by default) and simulated EIE on the
    machine ``eie`` (None: not simulated), with ``threads`` torch threads (1 by default;
    None leaves torch's choice)."""
    progress = progress or (lambda _: None)
    torch = require_torch()
    names = benchmark_names(names)
    devices = check_devices(devices or default_devices())
    batches = sorted(set(batches))
    if not batches or batches[0] < 1:
        raise EieError(f"batch sizes must be at least 1, got {batches}")
    if repeats < 1 or warmup < 0:
        raise EieError(f"need repeats >= 1 and warmup >= 0, got {repeats} and {warmup}")
    if energy_seconds <= 0:
        raise EieError(f"energy seconds must be positive, got {energy_seconds}")
    if threads is not None and threads < 1:
        raise EieError(f"threads must be at least 1, got {threads}")
    if not max_spread > 0:
        raise EieError(f"the largest accepted spread must be positive, got {max_spread}")
    previous_threads = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        return _run(names, devices, batches, repeats, warmup, seed, eie, engine, energy_seconds, progress,
                    max_spread)
    finally:
        torch.set_num_threads(previous_threads)


def _run(names, devices, batches, repeats, warmup, seed, eie, engine, energy_seconds, progress, max_spread):
    """Each layer generated once, measured on every device, then simulated on EIE."""
    engine = engine if eie is not None else None
    settings = {
        "benchmarks": names, "devices": devices, "batches": batches, "repeats": repeats,
        "warmup": warmup, "seed": seed, "eie_pes": eie.n_pe if eie is not None else None,
        "eie_settings": eie.settings() if eie is not None else None, "engine": engine,
        "energy_seconds": energy_seconds, "max_spread": max_spread,
    }
    report = BaselineReport(settings, environment(devices), [])
    for name in names:
        progress(f"{name}: PyTorch dense/CSR on {', '.join(devices)}")
        bench, weights = get_benchmark(name), benchmark_weights(name, seed)
        frames = benchmark_activation_batch(name, batches[-1], seed)
        inputs = np.vstack([frames, np.ones((1, frames.shape[1]))]) if bench.has_bias else frames
        report.measurements += measure_layer(
            name, weights, inputs, devices, batches, repeats, warmup, energy_seconds, max_spread)
        if eie is not None:
            progress(f"{name}: EIE at {eie.n_pe} PEs ({engine} engine)")
            report.eie.append(simulate_eie(bench, seed, eie, engine))
    report.environment["load_after"] = os.getloadavg()[0]
    if eie is None:
        report.eie_note = "EIE not simulated (disabled)."
    else:
        notes = "; ".join(sorted({r.energy_note for r in report.eie}))
        report.eie_note = f"EIE: simulated on {eie.describe()}, {eie.clock_mhz:g} MHz; energy {notes}."
    return report
