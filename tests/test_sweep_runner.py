"""What a sweep run reports besides its rows, by hand: the summary line, the progress bars,
the worker and wall times, when weight sharing runs as a stage of its own, the order of
its layers, and lists of points instead of a grid."""

from __future__ import annotations

import types

import pyarrow as pa
import pytest

from eiesim.sweep import ResultStore, SweepSpec, run_sweep, runner, sweep_frame
from eiesim.sweep.runner import SweepSummary
from eiesim.sweep.sources import resolve

from tests.sweep_helpers import SMALL, TINY

# Fixed worker times the fake executor below reports: each layer's weight sharing, and per
# row the share of its chunk's load and encode time and its own simulation time.
LAYER_SECONDS = [0.5, 0.75]
ROW_SECONDS = {"load_s": 0.25, "encode_s": 0.5, "simulate_s": 1.0}


def test_summary_line():
    summary = SweepSummary(total=10, skipped=3, computed=7, chunks=2, prepare_wall_s=1.3, simulate_wall_s=3.5,
                           busy={"layers": 0.5, "simulate_s": 2.4})
    assert summary.line() == ("7 points computed, 3 already done, 10 in grid; 2 chunks; wall: layers 1.3s, "
                              "simulation 3.5s; worker time: layers 0.5s, simulate_s 2.4s")
    assert SweepSummary(total=0, skipped=0, computed=0, chunks=0).line() == (
        "0 points computed, 0 already done, 0 in grid; 0 chunks; wall: layers 0.0s, simulation 0.0s; "
        "worker time: none")


class _Executor:
    """Runs each task here, in order, as the serial executor does, but claims ``n_workers``
    and reports the fixed times above instead of the measured ones."""

    def __init__(self, n_workers: int):
        self.n_workers = n_workers
        self.maps: list[tuple[str, list[tuple]]] = []

    def map_unordered(self, fn, tasks):
        tasks = list(tasks)
        self.maps.append((fn.__name__, tasks))
        for i, args in enumerate(tasks):
            result = fn(*args)
            if fn.__name__ == "prepare":
                yield LAYER_SECONDS[i]
            else:
                for name, seconds in ROW_SECONDS.items():
                    result = result.set_column(result.schema.get_field_index(name), name,
                                               pa.array([seconds] * result.num_rows))
                yield result


class _Bar:
    def __init__(self, **kwargs):
        self.kwargs, self.updates = kwargs, []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n):
        self.updates.append(n)


@pytest.fixture
def bars(monkeypatch):
    """The progress bars a run opens, in order."""
    made: list[_Bar] = []

    def bar(**kwargs):
        made.append(_Bar(**kwargs))
        return made[-1]

    monkeypatch.setattr("eiesim.progress.progress_bar", bar)
    return made


def test_a_two_stage_run_reports_bars_times_and_chunks(tmp_path, monkeypatch, bars):
    # the run's clock: layers from 10 to 11.5, simulation from 20 to 24.25
    ticks = iter([10.0, 11.5, 20.0, 24.25])
    monkeypatch.setattr(runner, "time", types.SimpleNamespace(perf_counter=lambda: next(ticks)))
    spec = SweepSpec.build([TINY, SMALL], ["n_pe=2", "queue_depth=1,2,4"], engine="fast")
    executor = _Executor(2)
    summary = run_sweep(spec, tmp_path / "store", executor, cache_dir=tmp_path / "cache", chunk_size=2)
    # 2 layers, 3 points each (one encoding key per layer): chunks of 2 and 1 per layer
    assert (summary.total, summary.skipped, summary.computed, summary.chunks) == (6, 0, 6, 4)
    assert (summary.prepare_wall_s, summary.simulate_wall_s) == (1.5, 4.25)
    assert summary.busy == {"layers": 1.25, "load_s": 1.5, "encode_s": 3.0, "simulate_s": 6.0}  # 6 rows each
    (stage1, layers), (stage2, chunks) = executor.maps
    cache = str(runner.cache_folder(tmp_path / "cache"))
    # the bigger layer's weight sharing first: SMALL keeps 160 x 64 x 0.15 = 1536, TINY 96 x 40 x 0.2 = 768
    assert (stage1, layers) == ("prepare", [(resolve(SMALL), 0, 4, cache), (resolve(TINY), 0, 4, cache)])
    assert stage2 == "run_chunk" and sorted(len(chunk) for chunk, _ in chunks) == [1, 1, 2, 2]
    assert {where for _, where in chunks} == {cache}
    assert [bar.kwargs for bar in bars] == [
        {"total": 2, "desc": "sweep: layers", "unit": "layer", "disable": False},
        {"total": 6, "desc": "sweep", "unit": "pt", "disable": False, "smoothing": 0.1}]
    assert bars[0].updates == [1, 1]
    assert bars[1].updates == [len(chunk) for chunk, _ in chunks]
    assert next(ticks, None) is None


@pytest.mark.parametrize(("cached", "layers", "workers"), [
    (False, [TINY, SMALL], 2),  # no cache folder: each worker makes its layer itself
    (True, [TINY], 2),  # one layer: its one chunk makes it
    (True, [TINY, SMALL], 1),  # one worker: no parallel stage to gain
])
def test_weight_sharing_is_a_stage_of_its_own_only_with_a_cache_several_layers_and_workers(
        tmp_path, bars, cached, layers, workers):
    executor = _Executor(workers)
    summary = run_sweep(SweepSpec.build(layers, ["n_pe=2"], engine="fast"), tmp_path / "store", executor,
                        cache_dir=tmp_path / "cache" if cached else None, progress=False, desc="mine")
    assert [name for name, _ in executor.maps] == ["run_chunk"]
    assert "layers" not in summary.busy and summary.computed == len(layers)
    assert [bar.kwargs for bar in bars] == [
        {"total": len(layers), "desc": "mine", "unit": "pt", "disable": True, "smoothing": 0.1}]


def test_a_list_of_points_runs_and_reads_back_exactly_those_points(tmp_path, bars):
    points = SweepSpec.build([TINY], ["n_pe=1,2,4"], engine="fast").points()
    store = ResultStore(tmp_path / "store")
    first = run_sweep(points[:2], store, progress=False)
    assert (first.total, first.computed) == (2, 2)
    summary = run_sweep(points, store, progress=False)
    assert (summary.total, summary.skipped, summary.computed) == (3, 2, 1)
    assert sorted(sweep_frame(points[1:], store)["n_pe"]) == [2, 4]
    assert sorted(sweep_frame(points[:1], tmp_path / "store")["n_pe"]) == [1]
