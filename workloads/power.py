"""Measured energy for the baselines: RAPL on CPUs, NVML on NVIDIA GPUs, or an honest "no".

A meter reads a cumulative energy counter in joules. ``measure_energy`` runs an operation
repeatedly for at least ``min_seconds`` (energy counters update every millisecond or
slower) and divides the energy used by the number of calls. RAPL counts the whole CPU
package, so other processes running at the same time are charged too; NVML counts the
whole GPU. Where no counter is readable, the meter is ``None`` and the reason says why:
no energy number is ever estimated or invented here.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Protocol

from eiecore.errors import EieError

POWERCAP = Path("/sys/class/powercap")


class EnergyMeter(Protocol):
    """A cumulative energy counter: ``read()`` a reading, ``joules(before, after)`` between two."""

    source: str

    def read(self): ...

    def joules(self, before, after) -> float: ...


@dataclass(frozen=True)
class EnergyMeasurement:
    """Energy of one call of an operation, from a run of ``calls`` calls."""

    joules_per_call: float
    calls: int
    seconds: float
    average_watts: float
    source: str

    def to_dict(self) -> dict:
        return asdict(self)


class RaplMeter:
    """Sum of the package domains of Intel/AMD RAPL under /sys/class/powercap."""

    source = "rapl"

    def __init__(self, domains: list[Path]):
        self.domains = domains
        self.ranges = [int((d / "max_energy_range_uj").read_text()) for d in domains]

    def read(self) -> list[int]:
        """Microjoule counters, one per domain (each wraps on its own)."""
        return [int((d / "energy_uj").read_text()) for d in self.domains]

    def joules(self, before: list[int], after: list[int]) -> float:
        total = 0
        for b, a, top in zip(before, after, self.ranges):
            total += a - b if a >= b else a + top - b
        return total * 1e-6


def rapl_meter(root: Path = POWERCAP) -> tuple[RaplMeter | None, str]:
    """A RAPL meter over every readable package domain, or None and the reason."""
    root = Path(root)
    if not root.is_dir():
        return None, f"RAPL unavailable: {root} does not exist on this machine"
    # intel-rapl:N are the packages (AMD too); intel-rapl:N:M are their sub-domains.
    packages = sorted(d for d in root.glob("intel-rapl:*") if d.name.count(":") == 1)
    if not packages:
        return None, f"RAPL unavailable: no package domain under {root}"
    try:
        meter = RaplMeter(packages)
        meter.read()
    except PermissionError:
        return None, f"RAPL unavailable: {packages[0]}/energy_uj is not readable (needs root)"
    except (OSError, ValueError) as exc:
        return None, f"RAPL unavailable: {exc}"
    return meter, "rapl: " + ", ".join(d.name for d in packages)


class NvmlMeter:
    """Total energy of one NVIDIA GPU since driver load (NVML, Volta or newer)."""

    source = "nvml"

    def __init__(self, nvml, handle):
        self.nvml, self.handle = nvml, handle

    def read(self) -> int:
        """Millijoules since the driver loaded."""
        return int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))

    def joules(self, before: int, after: int) -> float:
        return (after - before) * 1e-3


def nvml_meter(index: int = 0) -> tuple[NvmlMeter | None, str]:
    """An NVML meter for GPU ``index``, or None and the reason."""
    try:
        import pynvml
    except ModuleNotFoundError:
        return None, "NVML unavailable: the pynvml package is not installed"
    try:
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        meter = NvmlMeter(pynvml, handle)
        meter.read()
    except Exception as exc:  # pynvml raises its own NVMLError subclasses
        return None, f"NVML unavailable: {exc}"
    return meter, f"nvml: GPU {index}"


def meter_for(device: str, rapl_root: Path = POWERCAP) -> tuple[EnergyMeter | None, str]:
    """The energy meter of a torch device string ("cpu", "cuda", "cuda:1") and a note."""
    if device == "cpu":
        return rapl_meter(rapl_root)
    if device.startswith("cuda"):
        _, _, index = device.partition(":")
        return nvml_meter(int(index or 0))
    return None, f"no energy meter for device {device!r}"


def measure_energy(
    meter: EnergyMeter,
    op: Callable[[], None],
    sync: Callable[[], None] = lambda: None,
    min_seconds: float = 0.5,
) -> EnergyMeasurement:
    """Run ``op`` until ``min_seconds`` have passed and the counter moved; energy per call.

    Raises EieError when the counter has not moved after 10 x ``min_seconds``.
    """
    sync()
    before, t0, calls = meter.read(), time.perf_counter(), 0
    while True:
        op()
        calls += 1
        sync()
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            joules = meter.joules(before, meter.read())
            if joules > 0:
                return EnergyMeasurement(joules / calls, calls, elapsed, joules / elapsed, meter.source)
            if elapsed >= 10 * min_seconds:
                raise EieError(f"{meter.source} energy counter did not advance in {elapsed:.1f} s")
