"""Numba compilation options of the fast engine (and weight sharing's kernels), in one place.

``cache=True`` keeps compiled kernels in ``__pycache__`` beside the source (or in
``NUMBA_CACHE_DIR`` when that is set or the source folder is read-only), so only the
first run on a machine pays for compilation (about 10 s). Numba keys that cache on the
kernels' own files (``_kernels.py``, ``compressor/quantize.py``), not on this one: after changing an option here,
delete ``eiesim/engines/__pycache__/_kernels.*.nb?`` and ``compressor/__pycache__/quantize.*.nb?``. ``fastmath`` stays off: float32
outputs must equal the numpy functional model bit for bit. ``error_model="numpy"`` drops
the division-by-zero checks of integer ``//`` (every divisor is validated positive).
``nogil`` lets threads (e.g. dask workers) run kernels side by side. Kernels use
``numba.njit`` (always nopython). ``NUMBA_DISABLE_JIT=1`` runs them as plain Python.
"""

import functools

JIT = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")


def lazy_njit(fn):
    """``numba.njit(**JIT)(fn)`` made at the first call: the module holding the kernel imports
    without numba (0.5 s), so commands that never run one (``eiesim info``) never load it.
    For kernels called from Python, not from other kernels."""
    compiled = None

    @functools.wraps(fn)
    def call(*args):
        nonlocal compiled
        if compiled is None:
            from numba import njit

            compiled = njit(**JIT)(fn)
        return compiled(*args)

    return call
