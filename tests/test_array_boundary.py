"""Arrays at the boundary: every public entry point takes a caller's array in any layout
(big-endian, Fortran order, strided, read-only, a narrower integer type, a list), converts it
once and gives the result of the plain array, without touching the caller's array; masked,
boolean, complex, time-span and wrongly shaped arrays are refused with one clear line."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compressor.csc import EncodedLayer, compress_layer
from eiecore.errors import EieError
from eiesim import ArchConfig, simulate
from eiesim.inference import infer
from eiesim.modelfile import CompressedModel
from tests.strategies import weight_matrices

CONFIG = ArchConfig(n_pe=2, accumulators_per_pe=4)


def _layer_run(field):
    def run(w, a, value):
        layer = compress_layer(w, CONFIG, name="fc")
        layer = EncodedLayer(**{**layer.__dict__, field: value})
        result = simulate(layer, a, CONFIG)
        return result.cycles, result.output.tolist()

    return run


def _infer(w, a, value):
    layer = compress_layer(w, CONFIG, name="fc")
    return infer(CompressedModel([layer], CONFIG), value).outputs.tolist()


def _compress(w, a, value):
    layer = compress_layer(value, CONFIG)
    return [getattr(layer, f).tolist() for f in ("code", "rel", "ptr", "start", "codebook")]


# entry point: (how it runs on (weights, activations, the array handed in), which array it takes)
ENTRIES = {
    "EncodedLayer ptr": (_layer_run("ptr"), lambda w, a: compress_layer(w, CONFIG).ptr),
    "EncodedLayer start": (_layer_run("start"), lambda w, a: compress_layer(w, CONFIG).start),
    "EncodedLayer code": (_layer_run("code"), lambda w, a: compress_layer(w, CONFIG).code),
    "EncodedLayer rel": (_layer_run("rel"), lambda w, a: compress_layer(w, CONFIG).rel),
    "EncodedLayer codebook": (_layer_run("codebook"), lambda w, a: compress_layer(w, CONFIG).codebook),
    "simulate activations": (lambda w, a, v: _layer_run("name")(w, v, "fc"), lambda w, a: a),
    "compress_layer weights": (_compress, lambda w, a: w),
    "infer inputs": (_infer, lambda w, a: np.vstack([a, a[::-1]])),
}


def _read_only(a):
    b = a.copy()
    b.flags.writeable = False
    return b


def _narrower(a):
    return a.astype(np.int32) if a.dtype.kind in "ui" and a.dtype.itemsize > 4 else a.astype(np.float32) \
        if a.dtype == np.float64 and np.array_equal(a.astype(np.float32), a) else a


# Same values, another layout: the result must be the plain array's.
SAME = {
    "big-endian": lambda a: a.astype(a.dtype.newbyteorder(">")),
    "Fortran order": np.asfortranarray,
    "strided view": lambda a: np.repeat(a, 2, axis=0)[::2],
    "read-only": _read_only,
    "narrower type": _narrower,
    "list": lambda a: a.tolist(),
}
# Refused, whatever the values.
REFUSED = {
    "masked": (lambda a: np.ma.masked_array(a, mask=np.zeros(a.shape, bool)), "masked array"),
    "bool": (lambda a: a != 0, "must be real numbers, got dtype bool"),
    "complex": (lambda a: a + 0j, "must be real numbers, got dtype complex128"),
    "time span": (lambda a: a.astype(np.int64).astype("m8[s]"), "must be real numbers, got dtype timedelta64[s]"),
    "an extra dimension": (lambda a: a[None], "dimension"),
}


@st.composite
def cases(draw):
    w = draw(weight_matrices(max_rows=12, max_cols=6))
    a = np.array(draw(st.lists(st.sampled_from([0.0, 0.5, -1.25, 3.0]), min_size=w.shape[1], max_size=w.shape[1])))
    return w, a


@settings(max_examples=40, deadline=None)
@given(case=cases(), entry=st.sampled_from(sorted(ENTRIES)), how=st.sampled_from(sorted(SAME)))
def test_any_layout_gives_the_plain_result_and_leaves_the_callers_array_alone(case, entry, how):
    w, a = case
    run, array_of = ENTRIES[entry]
    plain = np.array(array_of(w, a))
    expected = run(w, a, plain.copy())
    given_array = SAME[how](plain)
    before = np.array(given_array, copy=True)
    writeable = given_array.flags.writeable if isinstance(given_array, np.ndarray) else None
    assert run(w, a, given_array) == expected
    np.testing.assert_array_equal(np.asarray(given_array), before)
    if writeable is not None:
        assert given_array.flags.writeable == writeable  # never made read-only (nor writable)


@settings(max_examples=40, deadline=None)
@given(case=cases(), entry=st.sampled_from(sorted(ENTRIES)), how=st.sampled_from(sorted(REFUSED)))
def test_masked_bool_complex_time_and_misshapen_arrays_are_one_clear_error(case, entry, how):
    w, a = case
    run, array_of = ENTRIES[entry]
    make, needle = REFUSED[how]
    with pytest.raises(EieError) as raised:
        run(w, a, make(np.array(array_of(w, a))))
    message = str(raised.value)
    assert "\n" not in message and (needle in message or how == "an extra dimension" and "shape" in message), message


def test_big_endian_pointers_once_crashed_the_fast_engine():
    w = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0], [4.0, 0.0, 0.0]])
    layer = compress_layer(w, CONFIG)
    swapped = EncodedLayer(**{**layer.__dict__, "ptr": layer.ptr.astype(">i8"), "start": layer.start.astype(">i8")})
    assert swapped.ptr.dtype == np.dtype("=i8") and swapped.ptr.flags.c_contiguous
    a = np.array([1.0, 2.0, 0.5])
    assert simulate(swapped, a, CONFIG).output.tolist() == simulate(layer, a, CONFIG).output.tolist()


def test_codes_outside_their_type_are_refused_not_wrapped():
    layer = compress_layer(np.eye(3), CONFIG)
    code = layer.code.astype(np.int64) + 256  # would wrap to the same uint8 codes
    with pytest.raises(EieError, match="^encoded layer array code holds values outside 0..255, the range of uint8$"):
        EncodedLayer(**{**layer.__dict__, "code": code})
