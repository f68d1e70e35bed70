"""CPU/GPU baselines (SPEC §8): PyTorch dense and CSR layers against simulated EIE.

For each layer, PyTorch computes ``W @ a`` with W dense and with W in CSR, at batch 1
(matrix-vector) and at larger batches (matrix-matrix, reported per frame), on the CPU and
on CUDA when present. Each timing has warm-up calls, then ``repeats`` timed calls; the
report keeps the median, quartiles, min and max. Energy comes from RAPL/NVML counters when
readable (``workloads.power``), else it is reported as unavailable with the reason.

The comparison puts simulated EIE (64 PEs by default, time from the simulator's cycles,
energy from its energy model) beside the measured columns, with speedup and
energy-efficiency ratios over the reference column (CPU dense at batch 1, as EIE Figs 6-7)
and their geometric means over layers. torch is imported only inside functions.
"""

from __future__ import annotations

import math
import os
import platform
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp

from eiesim.config import ArchConfig
from eiesim.errors import EieError
from workloads.benchmarks import (
    BENCHMARKS,
    Benchmark,
    benchmark_activation_batch,
    benchmark_layer,
    benchmark_weights,
    get_benchmark,
)
from workloads.power import EnergyMeasurement, measure_energy, meter_for
from workloads.torch_import import require_torch

REFERENCE = "cpu-dense-b1"
KINDS = ("dense", "sparse")


@dataclass(frozen=True)
class Stats:
    """Summary of timed repeats, in seconds per call."""

    median: float
    q1: float
    q3: float
    min: float
    max: float
    repeats: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> "Stats":
        s = np.asarray(samples, np.float64)
        q1, med, q3 = np.percentile(s, [25, 50, 75])
        return cls(float(med), float(q1), float(q3), float(s.min()), float(s.max()), int(s.size))

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


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

    @property
    def label(self) -> str:
        return column_label(self.device, self.kind, self.batch)

    @property
    def seconds_per_frame(self) -> float:
        return self.call.median / self.batch

    @property
    def joules_per_frame(self) -> float | None:
        return None if self.energy is None else self.energy.joules_per_call / self.batch

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer, "device": self.device, "kind": self.kind, "batch": self.batch,
            "label": self.label, "seconds_per_call": self.call.to_dict(),
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

    def _cells(self) -> dict[tuple[str, str], tuple[float, float | None]]:
        cells = {(m.layer, m.label): (m.seconds_per_frame, m.joules_per_frame) for m in self.measurements}
        cells.update({(r.layer, r.label): (r.seconds, r.joules) for r in self.eie})
        return cells

    def comparison(self) -> dict[str, Any]:
        """Per layer and column: seconds and joules per frame, speedup and energy
        efficiency over the reference column; geometric means over layers."""
        cells, ref = self._cells(), self.reference()
        rows = []
        for layer in self.layers():
            ref_s, ref_j = cells[(layer, ref)]
            row = {"layer": layer, "seconds": {}, "joules": {}, "speedup": {}, "energy_efficiency": {}}
            for col in self.columns():
                if (layer, col) not in cells:
                    continue
                s, j = cells[(layer, col)]
                row["seconds"][col], row["joules"][col] = s, j
                row["speedup"][col] = ref_s / s if s > 0 else None
                row["energy_efficiency"][col] = ref_j / j if ref_j is not None and j else None
            rows.append(row)
        geomean = {
            metric: {col: _geomean([r[metric].get(col) for r in rows]) for col in self.columns()}
            for metric in ("speedup", "energy_efficiency")
        }
        return {"reference": ref, "columns": self.columns(), "rows": rows, "geomean": geomean}

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings, "environment": self.environment,
            "measurements": [m.to_dict() for m in self.measurements],
            "eie": [r.to_dict() for r in self.eie], "eie_note": self.eie_note,
            "comparison": self.comparison(),
        }

    def to_markdown(self) -> str:
        """Time per frame (us) with speedup, and energy per frame (uJ) where known, per
        layer and column; then the geometric means."""
        comp, cols = self.comparison(), self.columns()
        header = "| layer | " + " | ".join(cols) + " |"
        rule = "|---" * (len(cols) + 1) + "|"

        def table(metric: str, cell) -> list[str]:
            out = [header, rule]
            for row in comp["rows"]:
                cells = [cell(row, c) if c in row["seconds"] else "-" for c in cols]
                out.append(f"| {row['layer']} | " + " | ".join(cells) + " |")
            out.append(f"| geomean {metric} | " + " | ".join(_fmt(comp["geomean"][metric][c]) for c in cols) + " |")
            return out

        env = self.environment
        lines = [f"Reference: {comp['reference']}. torch {env['torch_version']}, {env['threads']} threads, "
                 f"{env['cpu']}.", "", "Time per frame, us (speedup over the reference):", ""]
        lines += table("speedup", lambda row, c: f"{row['seconds'][c] * 1e6:.1f} ({_fmt(row['speedup'][c])})")
        if any(j is not None for row in comp["rows"] for j in row["joules"].values()):
            lines += ["", "Energy per frame, uJ (energy efficiency over the reference):", ""]
            lines += table("energy_efficiency", lambda row, c: "n/a" if row["joules"][c] is None else
                           f"{row['joules'][c] * 1e6:.3f} ({_fmt(row['energy_efficiency'][c])})")
        notes = sorted({m.energy_note for m in self.measurements if m.energy is None and m.energy_note})
        if notes:
            lines += ["", "Measured energy: " + "; ".join(notes) + "."]
        if self.eie_note:
            lines += ["", self.eie_note]
        return "\n".join(lines)


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
    return {
        "torch_version": torch.__version__, "threads": torch.get_num_threads(),
        "cpu": _cpu_name(), "cpu_count": os.cpu_count(), "devices": names,
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


def time_call(op: Callable[[], Any], repeats: int, warmup: int, sync: Callable[[], None]) -> Stats:
    """Median and spread of ``repeats`` timed calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        op()
    sync()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        op()
        sync()
        samples.append(time.perf_counter() - t0)
    return Stats.of(samples)


def measure_layer(
    name: str,
    weights: sp.spmatrix,
    frames: np.ndarray,
    devices: Sequence[str] = ("cpu",),
    batches: Sequence[int] = (1, 64),
    repeats: int = 10,
    warmup: int = 3,
    energy_seconds: float = 0.5,
) -> list[Measurement]:
    """Dense and CSR ``W @ a`` timings of one layer.

    ``weights`` is M x K (bias column included), ``frames`` K x max(batches) inputs (the
    bias input 1.0 included). Batch 1 is a matrix-vector product, larger batches a
    matrix-matrix product over the first ``batch`` frames.
    """
    torch = require_torch()
    csr = sp.csr_matrix(weights, dtype=np.float32)
    if frames.shape[0] != csr.shape[1] or frames.shape[1] < max(batches):
        raise EieError(f"layer {name}: frames of shape {frames.shape} do not fit W {csr.shape} and batches")
    out = []
    for device in devices:
        sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
        meter, note = meter_for(device)
        matrices = _torch_matrices(csr, device)
        for batch in batches:
            x = torch.from_numpy(np.ascontiguousarray(frames[:, :batch], np.float32)).to(device)
            if batch == 1:
                x = x[:, 0].contiguous()
            for kind in KINDS:
                w = matrices[kind]

                def op(w=w, x=x):
                    return w @ x

                stats = time_call(op, repeats, warmup, sync)
                energy, energy_note = None, note
                if meter is not None:
                    try:
                        energy = measure_energy(meter, op, sync, energy_seconds)
                    except EieError as exc:
                        energy_note = str(exc)
                out.append(Measurement(name, device, kind, batch, stats, energy, energy_note))
    return out


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


def simulate_eie(bench: Benchmark, seed: int, n_pe: int, engine: str) -> EieRow:
    """Simulated EIE time and energy of one benchmark layer for one frame (batch 1): the
    same weights and first frame as the measured columns, weight-shared (layer cache)."""
    from eiesim.simulation import simulate

    config = ArchConfig.make(n_pe=n_pe)
    layer, acts = benchmark_layer(bench.name, config, seed)
    result = simulate(layer, acts, config, engine=engine)
    return EieRow(bench.name, n_pe, engine, int(result.cycles), result.time_us * 1e-6,
                  float(result.energy.total) * 1e-12, "modelled (eiesim energy model, pJ tables)")


def run_baselines(
    names: Sequence[str] | None = None,
    devices: Sequence[str] | None = None,
    batches: Sequence[int] = (1, 64),
    repeats: int = 10,
    warmup: int = 3,
    threads: int | None = None,
    seed: int = 0,
    eie_pes: int | None = 64,
    engine: str = "fast",
    energy_seconds: float = 0.5,
    progress: Callable[[str], None] = lambda _: None,
) -> BaselineReport:
    """Baselines of the benchmark layers (all nine by default) and simulated EIE."""
    torch = require_torch()
    names = [get_benchmark(n).name for n in (names or BENCHMARKS)]
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
    previous_threads = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        return _run(names, devices, batches, repeats, warmup, seed, eie_pes, engine, energy_seconds, progress)
    finally:
        torch.set_num_threads(previous_threads)


def _run(names, devices, batches, repeats, warmup, seed, eie_pes, engine, energy_seconds, progress):
    """Each layer generated once, measured on every device, then simulated on EIE."""
    engine = engine if eie_pes else None
    settings = {
        "benchmarks": names, "devices": devices, "batches": batches, "repeats": repeats,
        "warmup": warmup, "seed": seed, "eie_pes": eie_pes, "engine": engine,
        "energy_seconds": energy_seconds,
    }
    report = BaselineReport(settings, environment(devices), [])
    for name in names:
        progress(f"{name}: PyTorch dense/CSR on {', '.join(devices)}")
        bench, weights = get_benchmark(name), benchmark_weights(name, seed)
        frames = benchmark_activation_batch(name, batches[-1], seed)
        inputs = np.vstack([frames, np.ones((1, frames.shape[1]))]) if bench.has_bias else frames
        report.measurements += measure_layer(
            name, weights, inputs, devices, batches, repeats, warmup, energy_seconds)
        if engine is not None:
            progress(f"{name}: EIE at {eie_pes} PEs ({engine} engine)")
            report.eie.append(simulate_eie(bench, seed, eie_pes, engine))
    if not eie_pes:
        report.eie_note = "EIE not simulated (disabled)."
    else:
        notes = "; ".join(sorted({r.energy_note for r in report.eie}))
        report.eie_note = f"EIE: simulated at {eie_pes} PEs, {ArchConfig().clock_mhz:g} MHz; energy {notes}."
    return report
