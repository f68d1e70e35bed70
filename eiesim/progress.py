"""Progress bars: tqdm's notebook widget in a Jupyter kernel where ipywidgets is installed,
plain text bars otherwise (``tqdm.auto`` in a notebook without ipywidgets warns "IProgress
not found")."""

from __future__ import annotations

import sys


def progress_bar(*args, **kwargs):
    """A ``tqdm`` bar suited to where the code runs (terminal, or notebook with widgets)."""
    from tqdm.std import tqdm

    if "ipykernel" in sys.modules:  # only a Jupyter kernel pays for importing ipywidgets (0.8 s)
        try:
            import ipywidgets  # noqa: F401  (tqdm.auto draws its notebook bar with it)
            from tqdm.auto import tqdm
        except ImportError:
            pass
    return tqdm(*args, **kwargs)


def over_layers(items, total: int, what: str):
    """A command's progress over several layers, on stderr when it is a terminal (a log or a
    pipe gets no bar); none for a single layer."""
    return progress_bar(items, total=total, desc=what, unit="layer", disable=True if total < 2 else None, leave=False)
