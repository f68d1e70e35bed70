"""The base layer under ``compressor`` and ``eiesim``: what both need and neither owns.

- :mod:`eiecore.errors`: :class:`EieError`, the one exception type for bad input;
- :mod:`eiecore.atomic`: the output policy and the atomic file writer;
- :mod:`eiecore.validate`: checks every entry point shares (seeds);
- :mod:`eiecore.numba_options`: the numba flags of every kernel (engines, k-means);
- :mod:`eiecore.encoding`: :class:`Encoding`, the four numbers that fix a layer's
  interleaved CSC (N, R, index and weight bits), so the compressor can encode for an array
  without importing the simulator's configuration.

This package imports nothing else of the project (``.importlinter`` checks it).
"""
