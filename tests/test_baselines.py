"""Baselines (SPEC §8): timings, energy meters, the comparison table and ``eiesim baseline``."""

import json
import sys
import types
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

torch = pytest.importorskip("torch")

from eiecore.errors import EieError  # noqa: E402
from workloads import baselines, power  # noqa: E402
from workloads.baselines import (  # noqa: E402
    BaselineReport,
    EieRow,
    Measurement,
    Stats,
    check_devices,
    measure_layer,
    run_baselines,
)
from workloads.power import EnergyMeasurement, measure_energy, meter_for, nvml_meter, rapl_meter  # noqa: E402


def tiny_layer(seed=0, shape=(30, 20)):
    rng = np.random.default_rng(seed)
    w = sp.random(*shape, density=0.2, random_state=seed, format="coo")
    return w, rng.random((shape[1], 4))


def test_stats_are_median_quartiles_and_range():
    s = Stats.of([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (s.median, s.q1, s.q3, s.min, s.max, s.repeats) == (3.0, 2.0, 4.0, 1.0, 5.0, 5)


def test_torch_matrices_compute_the_layer():
    w, x = tiny_layer()
    mats = baselines._torch_matrices(sp.csr_matrix(w, dtype=np.float32), "cpu")
    expect = w.toarray() @ x
    xt = torch.from_numpy(x.astype(np.float32))
    for kind in ("dense", "sparse"):
        np.testing.assert_allclose((mats[kind] @ xt).numpy(), expect, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose((mats[kind] @ xt[:, 0]).numpy(), expect[:, 0], rtol=1e-5, atol=1e-6)


def test_measure_layer_times_dense_and_sparse_per_batch(monkeypatch):
    monkeypatch.setattr(baselines, "meter_for", lambda device: (None, "no meter in this test"))
    w, x = tiny_layer()
    got = measure_layer("tiny", w, x, batches=(1, 4), repeats=2, warmup=1)
    assert [m.label for m in got] == ["cpu-dense-b1", "cpu-sparse-b1", "cpu-dense-b4", "cpu-sparse-b4"]
    for m in got:
        # At least 2 samples, more (up to 5 x 2) only while the spread is above the threshold.
        assert 2 <= m.call.repeats <= 10
        assert m.call.min <= m.call.q1 <= m.call.median <= m.call.q3 <= m.call.max
        assert m.call.calls_per_sample >= 1
        assert m.seconds_per_frame == pytest.approx(m.call.median / m.batch)
        assert m.energy is None and m.joules_per_frame is None and m.energy_note == "no meter in this test"
    with pytest.raises(EieError, match="do not fit"):
        measure_layer("tiny", w, x[:5], batches=(1,), repeats=1, warmup=0)


class CountingMeter:
    """A fake cumulative counter that gains 3 J per reading after the first."""

    source = "fake"

    def __init__(self):
        self.value = 0

    def read(self):
        self.value += 3
        return self.value

    def joules(self, before, after):
        return float(after - before)


def test_measure_layer_attaches_energy_per_frame(monkeypatch):
    monkeypatch.setattr(baselines, "meter_for", lambda device: (CountingMeter(), "fake"))
    w, x = tiny_layer()
    got = measure_layer("tiny", w, x, batches=(4,), repeats=1, warmup=0, energy_seconds=0.001)
    for m in got:
        assert m.energy.source == "fake" and m.energy.calls >= 1
        assert m.joules_per_frame == pytest.approx(3.0 / m.energy.calls / 4)


def test_measure_energy_divides_by_calls_and_gives_up_on_a_stuck_counter():
    calls = []
    result = measure_energy(CountingMeter(), lambda: calls.append(1), min_seconds=0.001)
    assert result.calls == len(calls) and result.joules_per_call == pytest.approx(3.0 / len(calls))
    assert result.average_watts == pytest.approx(3.0 / result.seconds)

    class Stuck(CountingMeter):
        def read(self):
            return 7

    with pytest.raises(EieError, match="fake energy counter did not advance"):
        measure_energy(Stuck(), lambda: None, min_seconds=0.001)


def make_rapl(root, packages):
    for name, (energy, top) in packages.items():
        d = root / name
        d.mkdir()
        (d / "energy_uj").write_text(f"{energy}\n")
        (d / "max_energy_range_uj").write_text(f"{top}\n")
        (d / "name").write_text("package\n")


def test_rapl_reads_package_domains_and_handles_wraparound(tmp_path):
    make_rapl(tmp_path, {"intel-rapl:0": (900, 1000), "intel-rapl:1": (10, 1000), "intel-rapl:0:0": (5, 1000)})
    meter, note = rapl_meter(tmp_path)
    assert note == "rapl: intel-rapl:0, intel-rapl:1"  # the core sub-domain is not summed twice
    before = meter.read()
    assert before == [900, 10]
    (tmp_path / "intel-rapl:0" / "energy_uj").write_text("100\n")  # wrapped past 1000
    (tmp_path / "intel-rapl:1" / "energy_uj").write_text("60\n")
    assert meter.joules(before, meter.read()) == pytest.approx((200 + 50) * 1e-6)


def test_rapl_unavailable_reasons(tmp_path, monkeypatch):
    absent = tmp_path / "absent"
    assert rapl_meter(absent) == (None, f"RAPL unavailable: {absent} does not exist on this machine")
    assert rapl_meter(tmp_path)[1] == f"RAPL unavailable: no package domain under {tmp_path}"
    make_rapl(tmp_path, {"intel-rapl:0": (1, 10)})

    def denied(self):
        raise PermissionError("denied")

    monkeypatch.setattr(power.RaplMeter, "read", denied)
    meter, note = rapl_meter(tmp_path)
    assert meter is None and "energy_uj is not readable (needs root)" in note
    assert meter_for("tpu") == (None, "no energy meter for device 'tpu'")


def test_nvml_without_pynvml_and_with_a_fake_driver(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    assert nvml_meter(0) == (None, "NVML unavailable: the pynvml package is not installed")
    fake = types.SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlDeviceGetHandleByIndex=lambda i: f"gpu{i}",
        nvmlDeviceGetTotalEnergyConsumption=lambda h: 5000,
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    meter, note = meter_for("cuda:1")
    assert note == "nvml: GPU 1" and meter.handle == "gpu1"
    assert meter.joules(5000, 7500) == pytest.approx(2.5)

    def unsupported(handle):
        raise RuntimeError("Not Supported")

    fake.nvmlDeviceGetTotalEnergyConsumption = unsupported
    assert nvml_meter(0) == (None, "NVML unavailable: Not Supported")


def test_devices_are_checked():
    assert check_devices(["cpu"]) == ["cpu"]
    with pytest.raises(EieError, match="unknown device 'tpu'"):
        check_devices(["tpu"])
    if not torch.cuda.is_available():
        with pytest.raises(EieError, match="'cuda' requested but torch.cuda.is_available\\(\\) is False"):
            check_devices(["cuda"])


def fake_measurement(layer, label_kind, batch, seconds, joules=None, spread=0.0):
    """A timing with median ``seconds`` per frame and IQR / median = ``spread``."""
    energy = None if joules is None else EnergyMeasurement(joules * batch, 1, 1.0, 1.0, "fake")
    call = seconds * batch
    # Five samples: quartiles at the 2nd and 4th, so IQR = spread x median.
    samples = [call * (1 - spread), call * (1 - spread / 2), call, call * (1 + spread / 2), call * (1 + spread)]
    return Measurement(layer, "cpu", label_kind, batch, Stats.of(samples), energy, "")


def test_comparison_ratios_and_geometric_means():
    report = BaselineReport(
        settings={}, environment={"torch_version": "t", "threads": 1, "cpu": "c"},
        measurements=[
            fake_measurement("A", "dense", 1, 8.0, joules=4.0),
            fake_measurement("A", "sparse", 1, 2.0),
            fake_measurement("B", "dense", 1, 1.0, joules=1.0),
            fake_measurement("B", "sparse", 1, 2.0),
            fake_measurement("B", "dense", 64, 0.25, joules=0.5),
        ],
        eie=[EieRow("A", 64, "fast", 800, 1.0, 0.5, "m"), EieRow("B", 64, "fast", 800, 0.5, None, "m")],
    )
    comp = report.comparison()
    assert comp["reference"] == "cpu-dense-b1"
    assert comp["columns"] == ["cpu-dense-b1", "cpu-sparse-b1", "cpu-dense-b64", "eie-64pe"]
    a, b = comp["rows"]
    assert a["speedup"] == {"cpu-dense-b1": 1.0, "cpu-sparse-b1": 4.0, "eie-64pe": 8.0}
    assert a["energy_efficiency"]["eie-64pe"] == 8.0 and a["energy_efficiency"]["cpu-sparse-b1"] is None
    assert b["speedup"]["cpu-dense-b64"] == 4.0 and b["energy_efficiency"]["cpu-dense-b64"] == 2.0
    assert b["energy_efficiency"]["eie-64pe"] is None
    assert comp["geomean"]["speedup"]["cpu-sparse-b1"] == pytest.approx(np.sqrt(4.0 * 0.5))
    assert comp["geomean"]["speedup"]["eie-64pe"] == pytest.approx(np.sqrt(8.0 * 2.0))
    assert comp["geomean"]["energy_efficiency"]["eie-64pe"] == pytest.approx(8.0)  # B has none
    assert comp["geomean"]["energy_efficiency"]["cpu-sparse-b1"] is None
    md = report.to_markdown()
    assert "| A | 8000000.0 (1.00x) | 2000000.0 (4.00x) | - | 1000000.0 (8.00x) |" in md
    # Energy columns: only those with a measured or modelled energy (no column of n/a).
    assert "| A | 4000000.000 (1.00x) | - | 500000.000 (8.00x) |" in md
    assert "| geomean energy_efficiency (stable layers) | 1.00x | 2.00x | 8.00x |" in md
    json.dumps(report.to_dict(), allow_nan=False)


def test_unstable_timings_are_marked_and_left_out_of_the_headline():
    report = BaselineReport(
        settings={"max_spread": 0.25, "repeats": 5, "warmup": 1},
        environment={"torch_version": "t", "threads": 1, "cpu": "c", "cpu_count": 2, "load_before": 1.5,
                     "load_after": 2.25, "gpu": "No GPU found (torch.cuda.is_available() is False): no GPU columns."},
        measurements=[
            fake_measurement("A", "dense", 1, 8.0, spread=0.1),
            fake_measurement("B", "dense", 1, 1.0, spread=0.5),  # unstable reference: B leaves the mean
            fake_measurement("C", "dense", 1, 2.0, spread=0.25),  # exactly at the threshold: kept
        ],
        eie=[EieRow(n, 64, "fast", 800, 1.0, None, "m") for n in "ABC"],
    )
    assert [m.call.spread for m in report.measurements] == pytest.approx([0.1, 0.5, 0.25])
    comp = report.comparison()
    assert comp["geomean_layers"]["eie-64pe"] == ["A", "C"]
    assert comp["geomean"]["speedup"]["eie-64pe"] == pytest.approx(np.sqrt(8.0 * 2.0))  # not B's 1.0
    # One statistic everywhere: the medians, A 8.0 and C 2.0 (EIE 1.0 s each); not the fastest samples.
    assert report.headline_speedup() == pytest.approx(4.0)
    headline = report.headline()
    assert "4.00x faster than cpu-dense-b1" in headline and "over 2 of 3 layers" in headline
    assert "median cpu-dense-b1 wall time per frame" in headline and "left out: B" in headline
    assert "benchmark layers" in headline and "batch 1" in headline
    assert "torch 1 thread(s); load average (1 min) 1.50 before and 2.25 after the timings, on 2 CPUs" in headline
    md = report.to_markdown()
    # B's reference timing is unstable: marked, and the layer starred as left out; the
    # simulated column is never marked unstable.
    assert "| B * | 1000000.0 (1.00x) unstable | 1000000.0 (1.00x) |" in md
    assert "left out of every geometric mean: the cpu-dense-b1 timing is unstable" in md
    assert "| A | 8000000.0 (1.00x) | 1000000.0 (8.00x) |" in md
    assert "No GPU found" in md and headline in md


def test_time_call_samples_until_the_spread_is_small_or_the_cap(monkeypatch):
    clock = iter(range(10**6))
    monkeypatch.setattr(baselines.time, "perf_counter", lambda: next(clock) * 1.0)  # every read 1 s later
    calls = []
    stats, wall = baselines.time_call(lambda: calls.append(1), repeats=3, warmup=2, sync=lambda: None)
    # A constant per-sample time has no spread: stop at the minimum of 3 samples, one call each
    # (2 warm-up calls + 1 call to size the sample, then 3 samples).
    assert (stats.repeats, stats.calls_per_sample, stats.spread, len(calls)) == (3, 1, 0.0, 6)
    assert wall.repeats == 3

    durations = iter([0.0, 1e-4] + [0.0, 1e-4, 0.0, 9e-4] * 1000)  # samples alternate 1 and 9 ms
    monkeypatch.setattr(baselines, "_thread_cpu_s", lambda: next(durations))
    monkeypatch.setattr(baselines.time, "perf_counter", lambda: 0.0)
    monkeypatch.setattr(baselines, "BUDGET_S", 1e9)
    stats, _ = baselines.time_call(lambda: None, repeats=4, warmup=0, sync=lambda: None, clock=baselines.THREAD_CPU)
    # 1e-4 s per call -> 10 calls make a 1 ms sample; the spread stays ~1.6 > 0.25, so
    # sampling goes on to the cap of 5 x 4 samples.
    assert stats.calls_per_sample == 10 and stats.repeats == 20 and stats.spread > 0.25
    with pytest.raises(EieError, match="unknown clock 'cycles'"):
        baselines.time_call(lambda: None, 1, 0, lambda: None, clock="cycles")


def test_thread_cpu_time_ignores_time_spent_waiting():
    """A call that sleeps 20 ms uses almost no CPU: thread CPU time sees the work, the wall
    time the wait (as another process holding the CPU would add)."""
    import time

    stats, wall = baselines.time_call(lambda: time.sleep(0.02), repeats=2, warmup=0, sync=lambda: None,
                                      clock=baselines.THREAD_CPU)
    assert wall.median >= 0.02 and stats.median < 0.005


def test_run_baselines_small_benchmark_end_to_end(monkeypatch):
    monkeypatch.setattr(baselines, "meter_for", lambda device: (None, "RAPL unavailable: test"))
    threads = torch.get_num_threads()
    report = run_baselines(["nt-we"], ["cpu"], batches=(2, 1), repeats=2, warmup=0, seed=1)  # 1 thread by default
    assert torch.get_num_threads() == threads  # restored
    assert report.settings["batches"] == [1, 2] and report.settings["benchmarks"] == ["NT-We"]
    assert report.environment["threads"] == 1 and report.environment["torch_version"] == torch.__version__
    assert len(report.measurements) == 4
    # One CPU thread: timed in thread CPU time, the wall time of the same samples beside it.
    assert all(m.clock == baselines.THREAD_CPU and m.wall.repeats == m.call.repeats for m in report.measurements)
    assert "median cpu-dense-b1 thread CPU time per frame" in report.headline()
    assert "Wall time per frame, us" in report.to_markdown()
    comp = report.comparison()
    (row,) = report.eie
    assert row.cycles > 0 and row.seconds == pytest.approx(row.cycles / 800e6)  # 800 MHz clock
    # Speedup over the reference column = its seconds per frame / EIE's.
    (ref,) = [m for m in report.measurements if m.label == comp["reference"]]
    assert comp["rows"][0]["speedup"]["eie-64pe"] == pytest.approx(ref.seconds_per_frame / row.seconds)
    md = report.to_markdown()
    assert "Measured energy: RAPL unavailable: test. No energy-efficiency table" in md
    assert "Energy per frame, uJ" not in md  # EIE's modelled energy alone is no comparison
    assert 0 <= report.environment["load_before"] and 0 <= report.environment["load_after"]
    if not torch.cuda.is_available():
        assert "No GPU found (torch.cuda.is_available() is False)" in md
    assert report.headline() in md


def test_run_baselines_rejects_bad_settings():
    for kwargs, message in [
        ({"batches": (0,)}, "batch sizes must be at least 1"),
        ({"repeats": 0}, "need repeats >= 1"),
        ({"threads": 0}, "threads must be at least 1"),
        ({"energy_seconds": 0}, "energy seconds must be positive"),
        ({"names": ["Alex-9"]}, "unknown benchmark 'Alex-9'"),
    ]:
        with pytest.raises(EieError, match=message):
            run_baselines(**{"names": ["NT-We"], "devices": ["cpu"], **kwargs})


def test_cli_baseline_writes_json(run_cli, tmp_path):
    out = tmp_path / "base.json"
    code, stdout, err = run_cli(
        "baseline", "--benchmark", "NT-LSTM", "--batch", "1", "--batch", "2", "--repeats", "2",
        "--warmup", "0", "--pes", "0", "--energy-seconds", "0.01", "--json", out)
    assert code == 0, err
    assert "| NT-LSTM |" in stdout and "EIE not simulated (disabled)." in stdout
    data = json.loads(out.read_text())
    assert data["settings"]["repeats"] == 2 and data["settings"]["batches"] == [1, 2]
    assert {m["label"] for m in data["measurements"]} == {
        "cpu-dense-b1", "cpu-sparse-b1", "cpu-dense-b2", "cpu-sparse-b2"}
    assert list(tmp_path.iterdir()) == [out]


def test_cli_baseline_simulates_the_machine_set(run_cli, tmp_path):
    """--set reaches the simulated EIE column: its cycles are simulate()'s on that machine."""
    from eiesim.config import ArchConfig
    from eiesim.simulation import simulate
    from workloads.benchmarks import benchmark_layer

    out = tmp_path / "base.json"
    code, stdout, err = run_cli(
        "baseline", "--benchmark", "NT-We", "--device", "cpu", "--batch", "1", "--repeats", "1", "--warmup", "0",
        "--pes", "4", "--set", "queue_depth=2", "--set", "timing=eie-cpp", "--energy-seconds", "0.01",
        "--json", out)
    assert code == 0, err
    data = json.loads(out.read_text())
    assert data["settings"]["eie_pes"] == 4
    assert data["settings"]["eie_settings"] == {"n_pe": 4, "queue_depth": 2, "timing": "eie-cpp"}
    config = ArchConfig(n_pe=4, queue_depth=2, timing="eie-cpp")
    layer, acts = benchmark_layer("NT-We", config, 0)
    (row,) = data["eie"]
    assert row["cycles"] == simulate(layer, acts, config).cycles
    assert "EIE: simulated on N = 4, D = 2, R = 64, fixed, timing eie-cpp," in stdout
    code, _, err = run_cli("baseline", "--pes", "0", "--set", "queue_depth=2")
    assert code == 1 and err == "eiesim: error: --set configures the simulated EIE, which --pes 0 turns off\n"


def test_cli_baseline_bad_input_is_one_line(run_cli):
    code, _, err = run_cli("baseline", "--benchmark", "VGG-9", "--pes", "0")
    assert code == 1 and err.strip().startswith("eiesim: error: unknown benchmark 'VGG-9'")
    assert len(err.strip().splitlines()) == 1
    code, _, err = run_cli("baseline", "--repeats", "0")
    assert code == 2 and "Invalid value for '--repeats'" in err
    if not torch.cuda.is_available():
        code, _, err = run_cli("baseline", "--benchmark", "NT-We", "--device", "cuda")
        assert code == 1 and "torch.cuda.is_available() is False" in err


def test_cold_copies_fill_the_cold_bytes(monkeypatch):
    monkeypatch.setattr(baselines, "COLD_BYTES", 1000)
    dense = torch.ones(10, 10)  # 400 bytes: itself and two copies make 1,200 >= 1,000
    ring = baselines.cold_copies(dense)
    assert len(ring) == 3 and ring[0] is dense and len({t.data_ptr() for t in ring}) == 3
    assert all(torch.equal(t, dense) for t in ring)
    # CSR: 10 values (40 bytes) + 10 column indices + 11 row pointers (int64: 168 bytes) = 208.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: sparse CSR support is in beta
        sparse = torch.eye(10).to_sparse_csr()
    assert baselines._nbytes(sparse) == 208 and len(baselines.cold_copies(sparse)) == 5
    monkeypatch.setattr(baselines, "MAX_COPIES", 2)
    assert len(baselines.cold_copies(dense)) == 2
