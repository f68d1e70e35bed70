"""Numba kernels of the fast engine: plain loops over typed arrays, no Python objects.

They compute SPEC §5 / §5.1 (timing, counters, under the rules of ``eiesim.timing``) and
§6 (arithmetic) for an interleaved-CSC layer (``ptr`` (T, N, K+1), ``start`` (T N + 1),
``code``/``rel`` per entry; see compressor.csc).

* :func:`prepare_layer` (once per layer, activations not needed) turns the PE lists into
  column tables indexed [t, j, (field,) p], so that a column's numbers for all N PEs sit
  side by side; :func:`prepare_output` (once per layer, only when outputs are wanted)
  into a column-major copy of the real entries for the arithmetic. Column K of the
  tables is an empty column: the ``own-pack`` bias of a layer without one.
* :func:`broadcast_columns` picks the broadcast columns J_1 < ... < J_K' and the LNZD
  delay before each.
* :func:`layer_timing` runs, block by block, the recurrence b_k, s_p(k) over the
  broadcast columns with all N PEs per column, O(N) per column. Rule choices arrive as
  numbers, except the ``drained`` block end and the schedule recording, whose arrays
  are None when unused: numba then compiles the branches away, so the plain ``spec``
  run pays nothing for them.
* :func:`layer_output` does one multiply-accumulate per real entry of a broadcast
  column, columns in increasing order.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from eiecore.numba_options import JIT
from eiesim.timing import FILLER_TAIL, ISSUE_OFFSET, PIPELINE_DRAIN, POP_TAIL, REAL_TAIL

# The counters layer_timing returns, in the order of its array; fast.py maps them to
# eiesim.counters.Counters by name (and checks that the names are exactly Counters').
KERNEL_COUNTERS = (
    "broadcasts", "real_entries", "filler_entries", "empty_columns", "busy_pe_cycles", "starved_pe_cycles",
    "queue_full_stall_cycles", "pointer_reads", "spmat_row_reads", "accumulator_writes", "macs",
    "codebook_reads", "bypass_hits", "act_sram_writes", "lnzd_scan_cycles",
)
(BROADCASTS, REAL_ENTRIES, FILLER_ENTRIES, EMPTY_COLUMNS, BUSY_PE_CYCLES, STARVED_PE_CYCLES,
 QUEUE_FULL_STALL_CYCLES, POINTER_READS, SPMAT_ROW_READS, ACCUMULATOR_WRITES, MACS,
 CODEBOOK_READS, BYPASS_HITS, ACT_SRAM_WRITES, LNZD_SCAN_CYCLES) = range(len(KERNEL_COUNTERS))

# Under the drained end, a column's last event ends at most
# ISSUE_OFFSET + max(REAL_TAIL, FILLER_TAIL) - 1 cycles after s + c, while a later
# column's pop ends no earlier than s + c + (columns between) + POP_TAIL: only the last
# DRAIN_WINDOW columns of a block can set its end, so only they are examined.
DRAIN_WINDOW = max(1, ISSUE_OFFSET + max(REAL_TAIL, FILLER_TAIL) - POP_TAIL + 1)

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
    """Column tables of a layer (what the timing needs).

    Returns (addr, table, drain, overflow), every table with K + 1 columns (column K
    empty): addr (T, K+1, N) int32, addr[t, j, p] = ptr[t, p, j], the address of the
    column's first entry in PE p's list; table (T, K+1, FIELDS, N) int32 holds, for each
    block and column, one row of N values per field (COUNT ... TAIL), so the timing kernel
    reads contiguous memory per broadcast column (the caller may narrow it to int16);
    drain (T, K+1, N) int32: cycles from the column's pop to the end of its last event
    under the ``drained`` block end (POP_TAIL, last real issue + REAL_TAIL, last filler
    issue + FILLER_TAIL); overflow = t N + p of the first list with an entry beyond its
    PE's rows, else -1.
    """
    n_blocks, n_pe, k1 = ptr.shape
    addr = np.empty((n_blocks, k1, n_pe), np.int32)
    table = np.empty((n_blocks, k1, FIELDS, n_pe), np.int32)
    drain = np.empty((n_blocks, k1, n_pe), np.int32)
    row_limit = np.empty(n_pe, np.int64)
    overflow = -1
    for t in range(n_blocks):
        rows_in_block = min(rows_per_block, n_rows - t * rows_per_block)
        for p in range(n_pe):
            row_limit[p] = (rows_in_block - p + n_pe - 1) // n_pe  # local rows of PE p
        for j in range(k1):
            column = table[t, j]
            for p in range(n_pe):
                lo = start[t * n_pe + p] + ptr[t, p, j]
                hi = start[t * n_pe + p] + ptr[t, p, j + 1] if j < k1 - 1 else lo
                real = 0
                local = -1
                tail = POP_TAIL
                for a in range(lo, hi):
                    local += np.int64(rel[a]) + 1  # int64 first: uint8 + 1 wraps in NumPy
                    real += code[a] != 0
                    tail = max(tail, a - lo + ISSUE_OFFSET + (REAL_TAIL if code[a] != 0 else FILLER_TAIL))
                addr[t, j, p] = ptr[t, p, j]
                drain[t, j, p] = tail
                column[COUNT, p] = hi - lo
                column[REAL, p] = real
                column[HEAD, p] = rel[lo] if hi > lo and code[lo] != 0 else NO_HEAD  # -1 + z + 1
                column[TAIL, p] = local if hi > lo and code[hi - 1] != 0 else NO_TAIL
                if local >= row_limit[p] and overflow < 0:
                    overflow = t * n_pe + p
    return addr, table, drain, overflow


@njit(**JIT)
def prepare_output(ptr, start, code, rel, rows_per_block, table):
    """The layer's real entries column by column (what the arithmetic needs).

    ``table`` from :func:`prepare_layer` gives the real entries per column. Returns
    col_ptr (K+1,) uint64, col_row uint32, col_code: global row and code of every real
    entry, column by column, blocks and PEs in order.
    """
    n_blocks, n_pe, k1 = ptr.shape
    col_ptr = np.zeros(k1, np.int64)
    for t in range(n_blocks):
        for j in range(k1 - 1):
            for p in range(n_pe):
                col_ptr[j + 1] += table[t, j, REAL, p]
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
    return col_ptr.astype(np.uint64), col_row, col_code


@njit(**JIT)
def broadcast_columns(acts, n_scanned, positive, bias_column, pack_scan, n_pe):
    """Broadcast columns in order and the LNZD delay before each (``eiesim.timing``).

    acts: converted activations (K,). The first ``n_scanned`` columns are scanned; a
    column is broadcast when its activation is != 0 (or > 0 with ``positive``).
    ``bias_column`` >= 0 appends that column last (the ``own-pack`` bias; K = the empty
    one). With ``pack_scan`` the scan runs in packs of N slots: pending starts at 1, each
    broadcast slot takes gap = pending and clears it, and a pack whose last slot is not
    broadcast (a zero-padded last pack included) adds 1; the bias takes gap = pending.
    Returns (cols int64, gaps int64, pending left after the inputs).
    """
    cols = np.empty(n_scanned + 1, np.int64)
    gaps = np.zeros(n_scanned + 1, np.int64)
    count = 0
    pending = 1
    for j in range(n_scanned):
        a = acts[j]
        on = a > 0 if positive else a != 0
        if on:
            cols[count] = j
            gaps[count] = pending
            pending = 0
            count += 1
        elif j % n_pe == n_pe - 1:
            pending += 1
    if n_scanned % n_pe != 0:
        pending += 1  # the last pack's slot N - 1 is padding
    if bias_column >= 0:
        cols[count] = bias_column
        gaps[count] = pending
        count += 1
    if not pack_scan:
        gaps[:] = 0
    return cols[:count], gaps[:count], pending


@njit(**JIT)
def _block_timing(addr, table, drain, cols, gaps, first, idle, usable, refill, row_mul, row_shift,
                  busy, starved, real, b_out, s_out):
    """One row block (SPEC §5 / §5.1), columns in broadcast order, all N PEs each.

    b_1 = first + gap_1, b_k = max(b_{k-1} + 1 + gap_k, max_p s_p(k - U) + refill) for
    k > U usable slots; s_p(k) = max(b_k + 1, s_p(k-1) + c_p(k-1)), c_p(k) = max(1, n_p(k)).
    addr, table, drain: this block's (K+1, N), (K+1, FIELDS, N), (K+1, N) or None (the
    ``pipeline`` end). The SRAM row of address a is (a * row_mul) >> row_shift (see
    :func:`row_divisor`). Adds busy, starved and real entries per PE; fills b_out (K',)
    and s_out (N, K') unless they are None. ``idle``: the cycle a first broadcast would
    have had (the block's start of drain when nothing is broadcast). Returns (T_block,
    entries, empty columns, SRAM row reads, stall cycles, bypass hits, LNZD scan cycles).
    The PE loop is branch-free: empty columns are unpredictable.
    """
    n_pe = table.shape[2]
    k_count = cols.size
    if k_count == 0:
        return idle + (PIPELINE_DRAIN if drain is None else 0), 0, 0, 0, 0, 0, 0
    b = first + gaps[0]
    # finish[p] = s_p(k-1) + c_p(k-1); starting it at b_1 + 1 makes s_p(1) = b_1 + 1
    # with no wait, so column 1 needs no special case.
    finish = np.full(n_pe, b + 1, np.int64)
    sram_row = np.full(n_pe, -1, np.int64)  # SRAM row of the last address issued
    s_max = np.empty(k_count, np.int64)  # max_p s_p(k): when queue slots free up
    entries = empty = row_reads = stalls = hits = scan = end = 0
    previous = table[cols[0]]  # column k-1 (only read for k > 0)
    tail_from = k_count - DRAIN_WINDOW  # the drained end looks at columns from here on
    for k in range(k_count):
        first_addr = addr[cols[k]]
        column = table[cols[k]]
        scan += gaps[k]
        if k > 0:
            b_k = b + 1 + gaps[k]
            if k >= usable:
                b_k = max(b_k, s_max[k - usable] + refill)
            stalls += b_k - b - 1 - gaps[k]
            b = b_k
        if b_out is not None:
            b_out[k] = b
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
            first_row = (address * row_mul) >> row_shift
            last = ((address + n - 1) * row_mul) >> row_shift
            row_reads += (last - first_row + (first_row != sram_row[p])) * (n > 0)
            sram_row[p] = last if n > 0 else sram_row[p]
            if s_out is not None:
                s_out[p, k] = s
        if drain is not None and k >= tail_from:
            for p in range(n_pe):  # s_p(k) = finish - c
                s = finish[p] - max(1, np.int64(column[COUNT, p]))
                end = max(end, s + np.int64(drain[cols[k], p]))
        s_max[k] = top
        previous = column
    if drain is None:
        end = finish.max() + PIPELINE_DRAIN
    return end, entries, empty, row_reads, stalls, hits, scan


@njit(**JIT)
def layer_timing(addr, table, drain, cols, gaps, first, idle, usable, refill, row_mul, row_shift,
                 rows_per_block, n_rows, b_out, s_out):
    """Cycles and counters of a whole layer from its column tables (SPEC §5 / §5.1).

    ``drain`` is None for the ``pipeline`` block end; b_out (T, K') and s_out (T, N, K')
    record the schedule unless None. Returns (counters int64 in KERNEL_COUNTERS order,
    busy, starved, real per PE, block_end, block_cycles (block_end + write-back)).
    """
    n_blocks, n_pe = table.shape[0], table.shape[3]
    k_count = cols.size
    busy = np.zeros(n_pe, np.int64)
    starved = np.zeros(n_pe, np.int64)
    real = np.zeros(n_pe, np.int64)
    block_end = np.empty(n_blocks, np.int64)
    block_cycles = np.empty(n_blocks, np.int64)
    counters = np.zeros(len(KERNEL_COUNTERS), np.int64)
    for t in range(n_blocks):
        block_drain = None if drain is None else drain[t]
        if b_out is None:
            cycles, e, m, r, s, h, g = _block_timing(
                addr[t], table[t], block_drain, cols, gaps, first, idle, usable, refill,
                row_mul, row_shift, busy, starved, real, None, None)
        else:
            cycles, e, m, r, s, h, g = _block_timing(
                addr[t], table[t], block_drain, cols, gaps, first, idle, usable, refill,
                row_mul, row_shift, busy, starved, real, b_out[t], s_out[t])
        counters[CODEBOOK_READS] += e
        counters[EMPTY_COLUMNS] += m
        counters[SPMAT_ROW_READS] += r
        counters[QUEUE_FULL_STALL_CYCLES] += s
        counters[BYPASS_HITS] += h
        counters[LNZD_SCAN_CYCLES] += g
        # Write-back of the accumulators to the activation SRAM, only between blocks.
        rows_in_block = min(rows_per_block, n_rows - t * rows_per_block)
        write_back = (rows_in_block + n_pe - 1) // n_pe if n_blocks > 1 else 0
        block_end[t] = cycles
        block_cycles[t] = cycles + write_back
    n_real = real.sum()
    counters[BROADCASTS] = n_blocks * k_count
    counters[REAL_ENTRIES] = n_real
    counters[FILLER_ENTRIES] = counters[CODEBOOK_READS] - n_real
    counters[BUSY_PE_CYCLES] = busy.sum()
    counters[STARVED_PE_CYCLES] = starved.sum()
    counters[POINTER_READS] = 2 * n_blocks * k_count * n_pe
    counters[ACCUMULATOR_WRITES] = n_real
    counters[MACS] = n_real
    counters[ACT_SRAM_WRITES] = n_rows if n_blocks > 1 else 0
    return counters, busy, starved, real, block_end, block_cycles


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
