"""Progress bars: a text bar outside Jupyter, without paying for importing ipywidgets; in a
Jupyter kernel, the bar ``tqdm.auto`` picks."""

import subprocess
import sys
import types

import pytest

from eiesim.progress import progress_bar


def test_outside_a_kernel_a_text_bar_and_ipywidgets_stays_unimported():
    code = ("import sys; from eiesim.progress import progress_bar; bar = progress_bar(total=1, disable=True); "
            "print(type(bar).__module__, 'ipywidgets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["tqdm.std", "False"]


def test_in_a_kernel_the_bar_tqdm_auto_picks(monkeypatch):
    pytest.importorskip("ipywidgets")
    from tqdm.auto import tqdm as auto_bar

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert isinstance(progress_bar(total=1, disable=True), auto_bar)
