"""Numba compilation options of the fast engine, in one place.

``cache=True`` keeps compiled kernels in ``__pycache__`` beside the source (or in
``NUMBA_CACHE_DIR`` when that is set or the source folder is read-only), so only the
first run on a machine pays for compilation. ``fastmath`` stays off: float32 outputs must
equal the numpy functional model bit for bit. ``error_model="numpy"`` drops the
division-by-zero checks of integer ``//`` (every divisor is validated positive).
Kernels use ``numba.njit`` (always nopython). Set ``NUMBA_DISABLE_JIT=1`` to run the kernels as plain Python (coverage, debugging).
"""

JIT = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")
