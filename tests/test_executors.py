"""Every executor keeps one contract: each task's result once (in any order), nothing for no
tasks, and a task's exception raised to the caller."""

from __future__ import annotations

import operator

import pytest

from eiesim.sweep import DaskExecutor, ProcessExecutor, SerialExecutor


@pytest.fixture(params=["serial", "processes", "dask"])
def executor(request):
    if request.param == "serial":
        yield SerialExecutor()
    else:
        with (ProcessExecutor(2) if request.param == "processes" else DaskExecutor.local(1)) as executor:
            yield executor


def test_every_result_once_with_several_arguments_per_task(executor):
    assert sorted(executor.map_unordered(pow, [(2, 3), (3, 2), (5, 1)])) == [5, 8, 9]


def test_no_tasks_no_results(executor):
    assert list(executor.map_unordered(pow, [])) == []


def test_a_tasks_exception_reaches_the_caller(executor):
    with pytest.raises(ZeroDivisionError):
        list(executor.map_unordered(operator.truediv, [(1, 1), (1, 0)]))
