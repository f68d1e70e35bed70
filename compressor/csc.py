"""EIE's interleaved compressed sparse column format (EIE §III-B, SPEC §3 and §5, normative).

With N PEs and R accumulators per PE a layer of M rows runs in T = ceil(M / (N R)) row
blocks. In block t, global row i belongs to PE ``p = i mod N`` at local row
``(i - t N R) div N``. Every (block, PE) pair has its own entry list, stored column by
column; within a column the entries follow increasing local row. Each entry is (v, z):
v the weight code (0 for a filler), z the relative row index. Walking a column, the local
row of each entry is ``previous + z + 1`` starting from -1, for fillers too: a filler
(v = 0, z = 2^x - 1) advances 2^x rows and writes nothing.

Pointers: ``ptr[t, p, j]`` is the number of entries of (t, p) before column j, and
``ptr[t, p, K]`` is the total, so an entry's SRAM address is its position in the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from compressor.quantize import share_weights
from eiecore.caches import Cache
from eiecore.encoding import Encoding
from eiecore.errors import EieError
from eiecore.numba_options import lazy_njit
from eiecore.validate import as_array

Activation = Literal["relu", "none"]
# Each array of an EncodedLayer, its dtype and dimensions: converted once (native byte order,
# C order) and read-only in the layer (bias_codebook too, when there is one).
ARRAY_TYPES = {"codebook": (np.float64, 1), "code": (np.uint8, 1), "rel": (np.uint8, 1), "ptr": (np.int64, 3),
               "start": (np.int64, 1), "bias_codebook": (np.float64, 1)}
ARRAY_FIELDS = tuple(ARRAY_TYPES)
# Version of weight sharing + interleaving (SPEC §3): bump when an encoded layer can change
# for the same input (stored sweep points and cached layers then recompute).
ENCODING_VERSION = 2  # 2: the bias column has its own codebook


@dataclass(frozen=True, eq=False)
class EncodedLayer:
    """One fully connected layer in interleaved CSC, as the PE array stores it.

    Columns are the inputs (K, including the bias column when ``has_bias``), rows the
    outputs (M). Entries of all (block, PE) lists are concatenated in (t, p) order;
    ``start[t * N + p]`` is where the list of (t, p) begins in ``code`` / ``rel``.

    ``bias_codebook``: the codes of the bias column (the last column, when ``has_bias``)
    index this second 2^b-entry table instead of ``codebook``, so biases never take the
    weights' shared values (the PE selects the table when the bias column is broadcast).
    ``None``: the bias shares ``codebook`` with the weights, as EIE's authors did.
    """

    shape: tuple[int, int]
    n_pe: int
    accumulators_per_pe: int
    index_bits: int
    weight_bits: int
    codebook: np.ndarray  # float64, 2^weight_bits entries, codebook[0] == 0
    code: np.ndarray  # uint8 (E,), v
    rel: np.ndarray  # uint8 (E,), z
    ptr: np.ndarray  # int64 (T, N, K + 1)
    start: np.ndarray  # int64 (T * N + 1,)
    name: str = ""
    has_bias: bool = False
    activation: Activation = "relu"
    bias_codebook: np.ndarray | None = None  # float64, 2^weight_bits entries, entry 0 == 0

    def __post_init__(self) -> None:
        # Each array is converted once to its dtype (native byte order, C order; refused if
        # it does not hold such values) and read-only, so a cache keyed on this layer object
        # can never hold a stale entry. The caller's arrays are never touched: one already
        # read-only that owns its data is kept, a conversion is frozen, anything else copied.
        if self.activation not in ("relu", "none"):
            raise EieError(f"activation must be 'relu' or 'none', got {self.activation!r}")
        for name, (dtype, ndim) in ARRAY_TYPES.items():
            value = getattr(self, name)
            if value is None:
                continue
            arr = as_array(value, f"encoded layer array {name}", dtype, ndim)
            if isinstance(value, np.ndarray) and np.may_share_memory(arr, value) and not _read_only(arr):
                arr = arr.copy()
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    @property
    def encoding(self) -> Encoding:
        return Encoding.of(self)

    @property
    def n_blocks(self) -> int:
        return self.ptr.shape[0]

    @property
    def rows_per_block(self) -> int:
        return self.n_pe * self.accumulators_per_pe

    @property
    def n_inputs(self) -> int:
        """Activations the user supplies: K, less the bias column."""
        return self.shape[1] - int(self.has_bias)

    @property
    def n_entries(self) -> int:
        return int(self.code.size)

    @property
    def n_fillers(self) -> int:
        return int(np.count_nonzero(self.code == 0))

    @property
    def n_real(self) -> int:
        return self.n_entries - self.n_fillers

    def column_counts(self) -> np.ndarray:
        """Entries (real + filler) per (block, PE, column): shape (T, N, K)."""
        return np.diff(self.ptr, axis=2)

    def entry_groups(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Block, PE and column of every entry, in storage order."""
        t_count, n_pe, k = self.column_counts().shape
        group = np.repeat(np.arange(t_count * n_pe * k), self.column_counts().ravel())
        col = group % k
        tp = group // k
        return tp // n_pe, tp % n_pe, col

    def entry_local_rows(self) -> np.ndarray:
        """Local row of every entry (fillers included): previous + z + 1 within a column."""
        validate_layer(self)
        return _local_rows(self.rel, self.start, self.ptr)

    def real_entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Global row, column and code of every real (non-filler) entry."""
        local = self.entry_local_rows()  # validates the layer first
        t, p, col = self.entry_groups()
        row = t * self.rows_per_block + local * self.n_pe + p
        real = self.code != 0
        return row[real], col[real], self.code[real]

    @property
    def codebook_entries(self) -> int:
        """Values held in the codebook tables (2^b, or 2 x 2^b with a bias codebook)."""
        return self.codebook.size + (0 if self.bias_codebook is None else self.bias_codebook.size)

    @property
    def bias_column(self) -> int:
        """The column whose codes index ``bias_codebook``; -1 when none does."""
        return self.shape[1] - 1 if self.has_bias and self.bias_codebook is not None else -1

    def to_coo(self, codebook: np.ndarray | None = None, bias_codebook: np.ndarray | None = None) -> sp.coo_matrix:
        """The quantized matrix: every kept weight replaced by its codebook value.

        ``codebook`` / ``bias_codebook`` substitute other tables of the same codes (e.g.
        fixed-point values).
        """
        row, col, code = self.real_entries()
        values = (self.codebook if codebook is None else codebook)[code]
        if self.bias_column >= 0:
            bias = col == self.bias_column
            values[bias] = (self.bias_codebook if bias_codebook is None else bias_codebook)[code[bias]]
        return sp.coo_matrix((values, (row, col)), shape=self.shape)

    def to_dense(self) -> np.ndarray:
        return self.to_coo().toarray()


def _read_only(arr: np.ndarray) -> bool:
    """Whether no writable numpy array reaches ``arr``'s memory (it and every base read-only)."""
    while isinstance(arr, np.ndarray):
        if arr.flags.writeable:
            return False
        arr = arr.base
    return True


def as_coo(weights) -> sp.coo_matrix:
    """A dense array or scipy sparse matrix as COO with its explicit zeros removed."""
    if sp.issparse(weights):
        if np.iscomplexobj(weights.data) or not np.issubdtype(weights.dtype, np.number):
            raise EieError(f"weights must be real numbers, got dtype {weights.dtype}")
        coo = sp.coo_matrix(weights, dtype=np.float64)
    else:
        if np.ndim(weights) != 2:
            raise EieError(f"weights must be a 2-D matrix, got shape {np.shape(weights)}")
        coo = sp.coo_matrix(as_array(weights, "weights", np.float64, 2))
    if coo.shape[0] == 0 or coo.shape[1] == 0:
        raise EieError(f"weights must have at least one row and one column, got shape {coo.shape}")
    if not np.all(np.isfinite(coo.data)):
        raise EieError("weights contain NaN or infinity")
    if not _canonical(coo):
        coo.has_canonical_format = False  # make scipy sort even if the flag claims order
        coo.sum_duplicates()
    coo.eliminate_zeros()
    return coo


def _canonical(coo: sp.coo_matrix) -> bool:
    """Whether entries are already in strictly increasing row-major order (a cheap check
    that spares scipy's sort in ``sum_duplicates``)."""
    flat = coo.row.astype(np.int64) * coo.shape[1] + coo.col
    return bool(np.all(flat[1:] > flat[:-1]))


# The pointer table holds T x N x (K + 1) int64 pointers (SPEC §3): quadratic in the layer's
# size, not in its non-zeros, so a huge sparse layer is refused before it is allocated.
MAX_POINTERS = 2**27  # 1 GiB of pointers; VGG-6 even at N = R = 1 needs 1.03e8


def check_encodable(shape: tuple[int, int], config, name: str = "") -> None:
    """Raise :class:`EieError` if the layer's pointer table would exceed :data:`MAX_POINTERS`."""
    enc = Encoding.of(config)
    m, k = int(shape[0]), int(shape[1])
    blocks = -(-m // enc.rows_per_block)
    pointers = blocks * enc.n_pe * (k + 1)
    if pointers > MAX_POINTERS:
        raise EieError(
            f"layer {name or f'{m} x {k}'}: its pointer table needs {blocks} row blocks x {enc.n_pe} PEs x "
            f"{k + 1} = {pointers:.3g} pointers ({pointers * 8 / 2**30:.3g} GiB), more than the {MAX_POINTERS} "
            f"(2^27) eiesim holds; use more accumulators per PE or a smaller layer")


def compress_layer(
    weights,
    config=Encoding(),
    *,
    name: str = "",
    has_bias: bool = False,
    activation: Activation = "relu",
) -> EncodedLayer:
    """Quantize a matrix (zeros are pruned weights) and encode it for ``config``'s array.

    With ``has_bias`` the last column (the bias) is clustered on its own into a bias
    codebook, so the weights keep all 2^b - 1 shared values (docs/assumptions.md §6).
    """
    coo = as_coo(weights)
    check_encodable(coo.shape, config, name)
    shared = share_matrix(coo, Encoding.of(config).weight_bits, has_bias)
    return shared.interleave(config, name=name, activation=activation)


@dataclass(frozen=True, eq=False)
class SharedMatrix:
    """A matrix after weight sharing, before interleaving.

    The kept entries at (rows, cols) in COO order, their codes (1..2^b - 1), the weights'
    codebook and, for a layer with a bias column (the last), that column's own codebook
    (else None).
    """

    shape: tuple[int, int]
    rows: np.ndarray
    cols: np.ndarray
    codes: np.ndarray
    codebook: np.ndarray
    bias_codebook: np.ndarray | None = None

    @property
    def has_bias(self) -> bool:
        return self.bias_codebook is not None

    @property
    def is_bias(self) -> np.ndarray:
        """Which kept entries are biases (they decode through the bias codebook)."""
        return self.cols == self.shape[1] - 1 if self.has_bias else np.zeros(self.codes.size, bool)

    def matrix(self) -> np.ndarray:
        """The dense matrix of shared values."""
        w = np.zeros(self.shape)
        values = self.codebook[self.codes]
        if self.has_bias:
            values = np.where(self.is_bias, self.bias_codebook[self.codes], values)
        w[self.rows, self.cols] = values
        return w

    def interleave(self, config, *, name: str = "", activation: Activation = "relu") -> EncodedLayer:
        """This matrix in interleaved CSC for ``config``'s array (:func:`interleave`)."""
        return interleave(self.rows, self.cols, self.codes, self.shape, self.codebook, config, name=name,
                          has_bias=self.has_bias, activation=activation, bias_codebook=self.bias_codebook)


def share_matrix(weights, weight_bits: int, has_bias: bool = False) -> SharedMatrix:
    """Weight sharing of a matrix whose zeros are pruned weights: 2^b - 1 shared values.

    With ``has_bias`` the last column is clustered on its own, so the weights keep all
    2^b - 1 shared values (docs/assumptions.md §6).
    """
    coo = as_coo(weights)
    codes = np.zeros(coo.nnz, np.uint8)
    bias = coo.col == coo.shape[1] - 1 if has_bias else np.zeros(coo.nnz, bool)
    shared = share_weights(coo.data[~bias], weight_bits)
    codes[~bias] = shared.codes
    bias_codebook = None
    if has_bias:
        shared_bias = share_weights(coo.data[bias], weight_bits)
        codes[bias] = shared_bias.codes
        bias_codebook = shared_bias.codebook
    return SharedMatrix((int(coo.shape[0]), int(coo.shape[1])), coo.row.astype(np.int32), coo.col.astype(np.int32),
                        codes, shared.codebook, bias_codebook)


def interleave(
    rows: np.ndarray,
    cols: np.ndarray,
    codes: np.ndarray,
    shape: tuple[int, int],
    codebook: np.ndarray,
    config,
    *,
    name: str = "",
    has_bias: bool = False,
    activation: Activation = "relu",
    bias_codebook: np.ndarray | None = None,
) -> EncodedLayer:
    """Encode the kept weights at (rows, cols) with weight ``codes`` (1..2^b - 1); codes of
    the bias column index ``bias_codebook`` when one is given."""
    m, k = int(shape[0]), int(shape[1])
    if m <= 0 or k <= 0:
        raise EieError(f"a layer needs M >= 1 rows and K >= 1 columns, got {m} x {k}")
    if activation not in ("relu", "none"):
        raise EieError(f"activation must be 'relu' or 'none', got {activation!r}")
    check_encodable((m, k), config, name)
    enc = Encoding.of(config)
    n, r, nr, x, b = enc.n_pe, enc.accumulators_per_pe, enc.rows_per_block, enc.index_bits, enc.weight_bits
    rows = np.asarray(rows, np.int64).ravel()
    cols = np.asarray(cols, np.int64).ravel()
    codes = np.asarray(codes).ravel()
    if not rows.size == cols.size == codes.size:
        raise EieError(f"rows, cols and codes differ in length: {rows.size}, {cols.size}, {codes.size}")
    if rows.size and (rows.min() < 0 or rows.max() >= m or cols.min() < 0 or cols.max() >= k):
        raise EieError(f"a kept weight lies outside the {m} x {k} matrix")
    if codes.size and not np.issubdtype(codes.dtype, np.integer):
        raise EieError(f"weight codes must be integers, got dtype {codes.dtype}")
    if np.any(codes < 1) or np.any(codes >= 2**b):
        raise EieError(f"weight codes must lie in 1..{2**b - 1}")
    codes = codes.astype(np.uint8)
    codebook = np.asarray(codebook, np.float64)
    if codebook.shape != (2**b,) or codebook[0] != 0 or not np.all(np.isfinite(codebook)):
        raise EieError(f"the codebook must hold 2^{b} finite values with entry 0 equal to 0")
    if bias_codebook is not None:
        bias_codebook = np.asarray(bias_codebook, np.float64)
        if not has_bias:
            raise EieError("a bias codebook needs a layer with a bias column")
        if (bias_codebook.shape != (2**b,) or bias_codebook[0] != 0
                or not np.all(np.isfinite(bias_codebook))):
            raise EieError(f"the bias codebook must hold 2^{b} finite values with entry 0 equal to 0")
    t_count = -(-m // nr)
    if rows.size and np.any(rows[1:] < rows[:-1]):  # the kernel wants rows ascending (as COO from as_coo)
        order = np.argsort(rows, kind="stable")
        rows, cols, codes = rows[order], cols[order], codes[order]
    row_start = np.zeros(m + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=m), out=row_start[1:])
    code, rel, per_group, duplicate = _interleave(row_start, cols, codes, n, r, k, t_count, x)
    if duplicate >= 0:
        raise EieError(f"a (row, column) position is listed twice: ({rows[duplicate]}, {cols[duplicate]})")
    ptr = np.zeros((t_count, n, k + 1), np.int64)
    np.cumsum(per_group.reshape(t_count, n, k), axis=2, out=ptr[:, :, 1:])
    start = np.concatenate(([0], np.cumsum(ptr[:, :, k].ravel())))
    for arr in (code, rel, ptr, start):  # made here: frozen in place, not copied
        arr.flags.writeable = False
    layer = EncodedLayer(
        shape=(m, k), n_pe=n, accumulators_per_pe=r, index_bits=x, weight_bits=b, codebook=codebook,
        code=code, rel=rel, ptr=ptr, start=start,
        name=name, has_bias=has_bias, activation=activation, bias_codebook=bias_codebook,
    )
    _VALID[layer] = True  # valid by construction (tests/test_csc_roundtrip.py checks a copy)
    return layer


@lazy_njit
def _interleave(row_start, cols, codes, n, r, k, t_count, x):
    """Entries (v, z) of every (block, PE, column) list in storage order, with fillers.

    ``row_start[i]`` is where row i's kept weights begin (rows ascending). For each
    (block t, PE p) in storage order, its rows t N R + p + l N (local row l) are bucketed
    by column in ascending l: a counting sort per PE slice, which stays in cache (one
    count per column) where one sort of every weight would not. Returns code, rel, the
    entries (fillers included) of each (t, p, j), and the index of a weight whose
    position repeats (-1 if none).
    """
    m = row_start.size - 1
    nnz = cols.size
    n_groups = t_count * n * k
    local = np.empty(nnz, np.int64)  # local row, code and input index of each weight,
    value = np.empty(nnz, np.uint8)  # in (t, p, j, l) order
    source = np.empty(nnz, np.int64)
    real = np.zeros(n_groups, np.int64)
    per_group = np.zeros(n_groups, np.int64)
    free = np.empty(k, np.int64)
    base = 0
    for t in range(t_count):
        for p in range(n):
            g0 = (t * n + p) * k
            first_row = t * n * r + p
            last_row = min(m, (t + 1) * n * r)
            for i in range(first_row, last_row, n):
                for e in range(row_start[i], row_start[i + 1]):
                    real[g0 + cols[e]] += 1
            offset = base
            for j in range(k):
                free[j] = offset
                offset += real[g0 + j]
            for i in range(first_row, last_row, n):
                for e in range(row_start[i], row_start[i + 1]):
                    s = free[cols[e]]
                    free[cols[e]] += 1
                    local[s] = (i - first_row) // n
                    value[s] = codes[e]
                    source[s] = e
            # g: zero rows since the previous weight of the column (or since local row 0);
            # each weight takes g div 2^x fillers (v = 0, z = 2^x - 1), then z = g mod 2^x.
            s = base
            for j in range(k):
                previous = -1
                for _ in range(real[g0 + j]):
                    if local[s] == previous:
                        return np.empty(0, np.uint8), np.empty(0, np.uint8), per_group, source[s]
                    per_group[g0 + j] += ((local[s] - previous - 1) >> x) + 1
                    previous = local[s]
                    s += 1
            base = offset
    code = np.zeros(per_group.sum(), np.uint8)
    rel = np.full(code.size, (1 << x) - 1, np.uint8)
    position = 0
    s = 0
    for g in range(n_groups):
        previous = -1
        for _ in range(real[g]):
            gap = local[s] - previous - 1
            position += gap >> x
            code[position] = value[s]
            rel[position] = gap & ((1 << x) - 1)
            position += 1
            previous = local[s]
            s += 1
    return code, rel, per_group, -1


def _local_rows(rel, start, ptr):
    """Decode the relative indices: an entry's local row is the previous one's + z + 1,
    from -1 at the start of each column of each (block, PE) list (SPEC §3). int64, so no
    sum of a hostile file's indices can wrap; ``start`` and ``ptr`` must be consistent
    (the lists, column by column, are the entries in storage order)."""
    if rel.size == 0:
        return np.empty(0, np.int64)
    n_blocks, n_pe, k1 = ptr.shape
    lists = ptr.reshape(n_blocks * n_pe, k1).astype(np.int64)
    first = (start[:-1, None].astype(np.int64) + lists[:, :-1]).ravel()  # each column's first entry
    length = np.diff(lists, axis=1).ravel()
    total = np.cumsum(rel.astype(np.int64) + 1)  # z + 1 summed from the first entry
    before = np.where(first > 0, total[np.maximum(first, 1) - 1], 0)  # the sum before each column
    return total - np.repeat(before, length) - 1


_VALID = Cache("layers known valid", weak_keys=True)  # EncodedLayer -> True


def validate_layer(layer: EncodedLayer) -> None:
    """Raise :class:`EieError` unless ``layer`` is a valid interleaved CSC encoding.

    Valid means exactly what :func:`interleave` produces: consistent array
    shapes and pointers, integer codes and indices within their bit widths, fillers with
    z = 2^x - 1 and never last in a column, and every entry on a row of its PE's slice.
    The entry sequence of a column is then the unique encoding of its rows. A layer's
    arrays are read-only, so each layer object is checked once (and what :func:`interleave`
    makes, never): every engine can ask before it reads a layer.
    """
    if layer in _VALID:
        return
    try:
        _check_layer(layer)
    except EieError as problem:
        raise EieError(f"layer {layer.name!r}: {problem}" if layer.name else str(problem)) from None
    _VALID[layer] = True


def _check_layer(layer: EncodedLayer) -> None:
    for name in ("code", "rel", "ptr", "start"):
        dtype = getattr(layer, name).dtype
        _require(dtype.kind in "ui", f"{name} holds {dtype} values, not integers")
    m, k = layer.shape
    n, r, b, x = layer.n_pe, layer.accumulators_per_pe, layer.weight_bits, layer.index_bits
    t_count = -(-m // (n * r))
    entries = layer.code.size
    _require(layer.codebook.shape == (2**b,), f"the codebook has {layer.codebook.size} entries, not 2^{b}")
    _require(np.all(np.isfinite(layer.codebook)), "the codebook holds NaN or infinity")
    _require(layer.codebook[0] == 0, "codebook entry 0 is not 0")
    if layer.bias_codebook is not None:
        _require(layer.has_bias, "a layer without a bias column has a bias codebook")
        _require(layer.bias_codebook.shape == (2**b,),
                 f"the bias codebook has {layer.bias_codebook.size} entries, not 2^{b}")
        _require(np.all(np.isfinite(layer.bias_codebook)), "the bias codebook holds NaN or infinity")
        _require(layer.bias_codebook[0] == 0, "bias codebook entry 0 is not 0")
    _require(layer.rel.shape == (entries,), f"rel has {layer.rel.size} entries, code has {entries}")
    _require(layer.ptr.shape == (t_count, n, k + 1),
             f"ptr has shape {layer.ptr.shape}, expected {(t_count, n, k + 1)} for a {m} x {k} layer")
    _require(layer.start.shape == (t_count * n + 1,),
             f"start has {layer.start.size} entries, expected {t_count * n + 1}")
    counts = np.diff(layer.ptr, axis=2)
    _require(np.all(layer.ptr[:, :, 0] == 0), "a pointer list does not start at 0")
    _require(np.all(counts >= 0), "pointers decrease within a list")
    _require(np.array_equal(layer.start, np.concatenate(([0], np.cumsum(layer.ptr[:, :, k].ravel())))),
             "start offsets do not match the pointer lists")
    _require(layer.start[-1] == entries, f"pointers count {int(layer.start[-1])} entries, the file has {entries}")
    if entries == 0:
        return
    _require(layer.code.min() >= 0 and layer.code.max() < 2**b, f"a weight code lies outside 0..{2**b - 1}")
    _require(layer.rel.min() >= 0 and layer.rel.max() < 2**x, f"a relative index lies outside 0..{2**x - 1}")
    _require(np.all(layer.rel[layer.code == 0] == 2**x - 1), f"a filler's relative index is not {2**x - 1}")
    last_of_column = np.cumsum(counts.ravel())[counts.ravel() > 0] - 1
    _require(np.all(layer.code[last_of_column] != 0), "a column ends with a filler")
    # The pointers are consistent from here on: decode, then the highest local row of each
    # (block, PE) list must lie within R and within the layer's M rows.
    local = _local_rows(layer.rel, layer.start, layer.ptr)
    lists = np.flatnonzero(np.diff(layer.start) > 0)
    highest = np.maximum.reduceat(local, layer.start[lists])
    _require(highest.max() < r, f"an entry lies past local row {r - 1} of its block")
    t, p = np.divmod(lists, n)
    _require((t * n * r + highest * n + p).max() < m, f"an entry lies past row {m - 1}")


def _require(ok, problem: str) -> None:
    if not ok:
        raise EieError(problem)
