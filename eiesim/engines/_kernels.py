"""Numba kernels of the fast engine: plain loops over typed arrays, no Python objects.

They compute SPEC §5 (timing, counters) and §6 (arithmetic) for an interleaved-CSC layer
(``ptr`` (T, N, K+1), ``start`` (T N + 1), ``code``/``rel`` per entry; see compressor.csc).

* :func:`prepare_layer` (once per layer, activations not needed) turns the PE lists into
  column tables indexed [t, j, (field,) p], so that a column's numbers for all N PEs sit
  side by side, and into a column-major copy of the real entries for the arithmetic.
* :func:`layer_timing` runs, block by block, the recurrence b_k, s_p(k) over the
  broadcast columns J_1 < ... < J_K' with all N PEs per column, O(N) per column.
* :func:`layer_output` does one multiply-accumulate per real entry of a broadcast
  column, columns in increasing order.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from eiesim.engines.numba_options import JIT

PIPELINE_DRAIN = 6  # issue offset 1 + sparse-matrix read 1 + four arithmetic stages
# Fields of the column table, one row of N values each, for every (block, column):
COUNT = 0  # entries of the column (real + filler)
REAL = 1  # real entries of the column
HEAD = 2  # local row of the column's first entry if it is real, else NO_HEAD
TAIL = 3  # local row of the column's last entry if it is real, else NO_TAIL
FIELDS = 4
NO_HEAD = -1
NO_TAIL = -2  # never equal to a head, so an empty column never bypasses


@njit(**JIT)
def prepare_layer(ptr, start, code, rel, rows_per_block, n_rows):
    """Column table of a layer, and its real entries column by column.

    Returns (addr, table, col_ptr, col_row, col_code, overflow): addr (T, K, N) int32,
    addr[t, j, p] = ptr[t, p, j], the address of the column's first entry in PE p's list;
    table (T, K, FIELDS, N) int32 holds, for each block and column, one row of N values
    per field (COUNT ... TAIL), so the timing kernel reads contiguous memory per
    broadcast column (the caller may narrow it to int16); col_ptr (K+1,) uint64, col_row
    uint32, col_code: global row and code of every real entry, column by column;
    overflow = t N + p of the first list with an entry beyond its PE's rows, else -1.
    """
    n_blocks, n_pe, k1 = ptr.shape
    addr = np.empty((n_blocks, k1 - 1, n_pe), np.int32)
    table = np.empty((n_blocks, k1 - 1, FIELDS, n_pe), np.int32)
    col_ptr = np.zeros(k1, np.int64)
    row_limit = np.empty(n_pe, np.int64)
    overflow = -1
    for t in range(n_blocks):
        rows_in_block = min(rows_per_block, n_rows - t * rows_per_block)
        for p in range(n_pe):
            row_limit[p] = (rows_in_block - p + n_pe - 1) // n_pe  # local rows of PE p
        for j in range(k1 - 1):
            column = table[t, j]
            for p in range(n_pe):
                lo = start[t * n_pe + p] + ptr[t, p, j]
                hi = start[t * n_pe + p] + ptr[t, p, j + 1]
                real = 0
                local = -1
                for a in range(lo, hi):
                    local += np.int64(rel[a]) + 1  # int64 first: uint8 + 1 wraps in NumPy
                    real += code[a] != 0
                addr[t, j, p] = ptr[t, p, j]
                column[COUNT, p] = hi - lo
                column[REAL, p] = real
                column[HEAD, p] = rel[lo] if hi > lo and code[lo] != 0 else NO_HEAD  # -1 + z + 1
                column[TAIL, p] = local if hi > lo and code[hi - 1] != 0 else NO_TAIL
                if local >= row_limit[p] and overflow < 0:
                    overflow = t * n_pe + p
                col_ptr[j + 1] += real
    for j in range(k1 - 1):
        col_ptr[j + 1] += col_ptr[j]
    col_row = np.empty(col_ptr[k1 - 1], np.uint32)
    col_code = np.empty(col_ptr[k1 - 1], np.uint8)
    fill = col_ptr[:-1].copy()
    for t in range(n_blocks):
        for j in range(k1 - 1):
            for p in range(n_pe):
                local = -1
                for a in range(start[t * n_pe + p] + ptr[t, p, j], start[t * n_pe + p] + ptr[t, p, j + 1]):
                    local += np.int64(rel[a]) + 1
                    if code[a] != 0:
                        col_row[fill[j]] = t * rows_per_block + local * n_pe + p
                        col_code[fill[j]] = code[a]
                        fill[j] += 1
    # Unsigned indices spare layer_output numba's negative-index check: twice as fast.
    return addr, table, col_ptr.astype(np.uint64), col_row, col_code, overflow


@njit(**JIT)
def _block_timing(addr, table, cols, queue_depth, lnzd_latency, row_mul, row_shift, busy, starved, real):
    """One row block (SPEC §5), columns in broadcast order, all N PEs each.

    b_1 = L, b_k = max(b_{k-1} + 1, max_p s_p(k - D)) for k > D;
    s_p(k) = max(b_k + 1, s_p(k-1) + c_p(k-1)), c_p(k) = max(1, n_p(k)).
    addr, table: this block's (K, N) and (K, FIELDS, N). The SRAM row of address a is
    (a * row_mul) >> row_shift (see :func:`row_divisor`). Adds busy, starved and real
    entries per PE. Returns (T_block, entries, empty columns, SRAM row reads, stall
    cycles, bypass hits). The PE loop is branch-free: empty columns are unpredictable.
    """
    n_pe = table.shape[2]
    k_count = cols.size
    if k_count == 0:
        return lnzd_latency + PIPELINE_DRAIN, 0, 0, 0, 0, 0
    b = lnzd_latency
    # finish[p] = s_p(k-1) + c_p(k-1); starting it at b_1 + 1 makes s_p(1) = b_1 + 1
    # with no wait, so column 1 needs no special case.
    finish = np.full(n_pe, b + 1, np.int64)
    sram_row = np.full(n_pe, -1, np.int64)  # SRAM row of the last address issued
    s_max = np.empty(k_count, np.int64)  # max_p s_p(k): when queue slots free up
    entries = empty = row_reads = stalls = hits = 0
    previous = table[cols[0]]  # column k-1 (only read for k > 0)
    for k in range(k_count):
        first_addr = addr[cols[k]]
        column = table[cols[k]]
        if k > 0:
            b_k = b + 1
            if k >= queue_depth:
                b_k = max(b_k, s_max[k - queue_depth])
            stalls += b_k - b - 1
            b = b_k
        top = 0
        for p in range(n_pe):
            n = np.int64(column[COUNT, p])  # n_p(k)
            s = max(b + 1, finish[p])
            wait = s - finish[p]
            starved[p] += wait
            # Bypass: the first entry issues the cycle after the previous column's last
            # and writes the same accumulator.
            hits += (wait == 0) & (k > 0) & (column[HEAD, p] == previous[TAIL, p])
            c = max(1, n)
            busy[p] += c
            finish[p] = s + c
            top = max(top, s)
            empty += n == 0
            entries += n
            real[p] += np.int64(column[REAL, p])
            address = np.int64(first_addr[p])  # SRAM rows of the column's first and last entry
            first = (address * row_mul) >> row_shift
            last = ((address + n - 1) * row_mul) >> row_shift
            row_reads += (last - first + (first != sram_row[p])) * (n > 0)
            sram_row[p] = last if n > 0 else sram_row[p]
        s_max[k] = top
        previous = column
    return finish.max() + PIPELINE_DRAIN, entries, empty, row_reads, stalls, hits


@njit(**JIT)
def layer_timing(addr, table, cols, queue_depth, lnzd_latency, row_mul, row_shift, rows_per_block, n_rows):
    """Cycles and counters of a whole layer from its column table (SPEC §5).

    Returns (counters int64 in ``Counters`` field order, busy, starved, real per PE,
    block_cycles).
    """
    n_blocks, n_pe = table.shape[0], table.shape[3]
    k_count = cols.size
    busy = np.zeros(n_pe, np.int64)
    starved = np.zeros(n_pe, np.int64)
    real = np.zeros(n_pe, np.int64)
    block_cycles = np.empty(n_blocks, np.int64)
    entries = empty = row_reads = stalls = hits = 0
    for t in range(n_blocks):
        cycles, e, m, r, s, h = _block_timing(addr[t], table[t], cols, queue_depth, lnzd_latency,
                                              row_mul, row_shift, busy, starved, real)
        entries += e
        empty += m
        row_reads += r
        stalls += s
        hits += h
        # Write-back of the accumulators to the activation SRAM, only between blocks.
        rows_in_block = min(rows_per_block, n_rows - t * rows_per_block)
        write_back = (rows_in_block + n_pe - 1) // n_pe if n_blocks > 1 else 0
        block_cycles[t] = cycles + write_back
    n_real = real.sum()
    counters = np.array([
        n_blocks * k_count,  # broadcasts
        n_real,  # real_entries
        entries - n_real,  # filler_entries
        empty,  # empty_columns
        busy.sum(),  # busy_pe_cycles
        starved.sum(),  # starved_pe_cycles
        stalls,  # queue_full_stall_cycles
        2 * n_blocks * k_count * n_pe,  # pointer_reads
        row_reads,  # spmat_row_reads
        n_real,  # accumulator_writes
        n_real,  # macs
        entries,  # codebook_reads
        hits,  # bypass_hits
        n_rows if n_blocks > 1 else 0,  # act_sram_writes
    ], np.int64)
    return counters, busy, starved, real, block_cycles


ADDRESS_BITS = 30  # addresses below 2^30: row_divisor's multiply stays within int64


def row_divisor(entries_per_row: int) -> tuple[int, int]:
    """(m, s) with (a * m) >> s == a // entries_per_row for 0 <= a < 2^ADDRESS_BITS.

    m = ceil(2^s / d) with s = ADDRESS_BITS + ceil(log2 d): the rounding error of m adds
    less than a / 2^s < 1 / d to a / d, too little to reach the next integer
    (Granlund & Montgomery 1994). A multiply replaces a slow 64-bit division per column.
    """
    s = ADDRESS_BITS + (entries_per_row - 1).bit_length()
    return -(-(1 << s) // entries_per_row), s


def _fixed_mac(acc, weight, act, half, shift, lo, hi):
    """acc + round-half-up((weight x act) >> shift), saturated to [lo, hi] (SPEC §6)."""
    return min(max(acc + ((weight * act + half) >> shift), lo), hi)


def _float_mac(acc, weight, act, half, shift, lo, hi):
    """acc + weight x act in the accumulator's float format."""
    return acc + weight * act


def mac(acc, weight, act, half, shift, lo, hi):
    """One accumulate step in the number format of ``acc`` (Python path: JIT disabled)."""
    step = _float_mac if isinstance(acc, np.floating) else _fixed_mac
    return step(acc, weight, act, half, shift, lo, hi)


@overload(mac, jit_options=JIT)
def _mac_typed(acc, weight, act, half, shift, lo, hi):
    return _float_mac if isinstance(acc, types.Float) else _fixed_mac


@njit(**JIT)
def layer_output(col_ptr, col_row, col_code, cols, codebook, acts, n_rows, half, shift, lo, hi):
    """Accumulators (M,) in the codebook's number format (SPEC §6).

    Broadcast columns in increasing order, so each row accumulates its columns in order;
    within a column every row appears once, so the order there does not matter.
    """
    acc = np.zeros(n_rows, codebook.dtype)
    for j in cols:
        act = acts[j]
        for e in range(col_ptr[j], col_ptr[j + 1]):
            i = col_row[e]
            acc[i] = mac(acc[i], codebook[col_code[e]], act, half, shift, lo, hi)
    return acc
