"""Progress bars: tqdm's notebook widget where ipywidgets is installed, plain text bars
otherwise (``tqdm.auto`` in a notebook without ipywidgets warns "IProgress not found")."""

from __future__ import annotations


def progress_bar(*args, **kwargs):
    """A ``tqdm`` bar suited to where the code runs (terminal, or notebook with widgets)."""
    try:
        import ipywidgets  # noqa: F401  (tqdm.auto draws its notebook bar with it)
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm.std import tqdm
    return tqdm(*args, **kwargs)
