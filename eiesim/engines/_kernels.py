"""Numba kernels of the fast engine: plain loops over typed arrays, no Python objects.

They compute SPEC §5 (timing, counters) and §6 (arithmetic) for an interleaved-CSC layer
(``ptr`` (T, N, K+1), ``start`` (T N + 1), ``code``/``rel`` per entry; see compressor.csc)
and the broadcast columns ``cols`` = J_1 < ... < J_K'. Only broadcast columns are visited.

* :func:`layer_timing`: per block, :func:`_column_pass` walks each PE's broadcast columns
  (n_p(k), SRAM rows, bypass candidates: nothing here depends on time), then
  :func:`_broadcast_schedule` runs the recurrence b_k, s_p(k) column by column over all
  PEs. Work per column is O(N) plus a byte-wide walk of its entries for the local rows.
* :func:`layer_output`: one multiply-accumulate per real entry, each output row taking
  its columns in increasing order, in the accumulator's number format.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from eiesim.engines.numba_options import JIT

PIPELINE_DRAIN = 6  # issue offset 1 + sparse-matrix read 1 + four arithmetic stages


@njit(**JIT)
def _column_pass(ptr, base, code, rel, cols, entries_per_row, row_limit, n, bypassable, real):
    """The time-free part of one row block, PE by PE.

    ptr: (N, K+1) pointers of the block; base[p]: where PE p's list starts in code/rel;
    row_limit[p]: PE p's local rows in this block. Fills n[k, p] = n_p(k) and
    bypassable[k, p] (column k's first entry is real and hits the accumulator of column
    k-1's last entry), adds real entries per PE to ``real``. Returns (entries, empty
    columns, SRAM row reads, first PE with an entry beyond its rows or -1).
    """
    n_pe = ptr.shape[0]
    entries = 0
    empty = 0
    row_reads = 0
    overflow = -1
    for p in range(n_pe):
        last_row = -1  # local row of the last entry of the previous broadcast column
        sram_row = -1  # SRAM row holding the last address issued (none yet)
        for k in range(cols.size):
            lo = ptr[p, cols[k]]
            hi = ptr[p, cols[k] + 1]
            n[k, p] = hi - lo
            if hi == lo:
                empty += 1
                bypassable[k, p] = False
                last_row = -1
                continue
            entries += hi - lo
            first = base[p] + lo
            # Local rows start at -1 + z + 1 = z; bypass needs a real entry (code != 0).
            bypassable[k, p] = code[first] != 0 and rel[first] == last_row
            local = -1
            for a in range(first, base[p] + hi):
                local += np.int64(rel[a]) + 1  # int64 first: uint8 + 1 wraps in NumPy
                real[p] += code[a] != 0
            # Only a real last entry can be bypassed to (encoders never end on a filler).
            last_row = local if code[base[p] + hi - 1] != 0 else -1
            if local >= row_limit[p] and overflow < 0:
                overflow = p
            r0 = lo // entries_per_row
            r1 = (hi - 1) // entries_per_row
            row_reads += r1 - r0 + (r0 != sram_row)
            sram_row = r1
    return entries, empty, row_reads, overflow


@njit(**JIT)
def _broadcast_schedule(n, bypassable, queue_depth, lnzd_latency, busy, starved):
    """The broadcast recurrence of one block (SPEC §5), columns in order, all PEs each.

    b_1 = L, b_k = max(b_{k-1} + 1, max_p s_p(k - D)) for k > D;
    s_p(k) = max(b_k + 1, s_p(k-1) + c_p(k-1)), c_p(k) = max(1, n_p(k)).
    Adds c and starvation per PE to ``busy``/``starved``. Returns (T_block,
    queue-full stall cycles, bypass hits).
    """
    k_count, n_pe = n.shape
    if k_count == 0:
        return lnzd_latency + PIPELINE_DRAIN, 0, 0
    b = lnzd_latency
    # finish[p] = s_p(k-1) + c_p(k-1); starting it at b_1 + 1 makes s_p(1) = b_1 + 1
    # with no wait, so column 1 needs no special case.
    finish = np.full(n_pe, b + 1, np.int64)
    s_max = np.empty(k_count, np.int64)  # max_p s_p(k): when queue slots free up
    stalls = 0
    hits = 0
    for k in range(k_count):
        if k > 0:
            b_k = b + 1
            if k >= queue_depth:
                b_k = max(b_k, s_max[k - queue_depth])
            stalls += b_k - b - 1
            b = b_k
        top = 0
        for p in range(n_pe):
            s = max(b + 1, finish[p])
            wait = s - finish[p]
            starved[p] += wait
            # Back-to-back issue: the first entry follows the previous column's last.
            if wait == 0 and bypassable[k, p]:
                hits += 1
            c = max(1, n[k, p])
            busy[p] += c
            finish[p] = s + c
            top = max(top, s)
        s_max[k] = top
    return finish.max() + PIPELINE_DRAIN, stalls, hits


@njit(**JIT)
def layer_timing(ptr, start, code, rel, cols, queue_depth, lnzd_latency, entries_per_row,
                 rows_per_block, n_rows):
    """Cycles and counters of a whole layer (SPEC §5).

    Returns (counters int64 in ``Counters`` field order, busy, starved, real per PE,
    block_cycles, overflow) where overflow = t N + p of the first (block, PE) with an
    entry beyond its rows, or -1.
    """
    n_blocks, n_pe = ptr.shape[0], ptr.shape[1]
    k_count = cols.size
    n = np.empty((k_count, n_pe), np.int64)
    bypassable = np.empty((k_count, n_pe), np.bool_)
    row_limit = np.empty(n_pe, np.int64)
    busy = np.zeros(n_pe, np.int64)
    starved = np.zeros(n_pe, np.int64)
    real = np.zeros(n_pe, np.int64)
    block_cycles = np.empty(n_blocks, np.int64)
    entries = empty = row_reads = stalls = hits = 0
    overflow = -1
    for t in range(n_blocks):
        rows_in_block = min(rows_per_block, n_rows - t * rows_per_block)
        for p in range(n_pe):
            row_limit[p] = (rows_in_block - p + n_pe - 1) // n_pe  # rows i = p mod N
        e, m, r, bad = _column_pass(ptr[t], start[t * n_pe:(t + 1) * n_pe], code, rel, cols,
                                    entries_per_row, row_limit, n, bypassable, real)
        entries += e
        empty += m
        row_reads += r
        if bad >= 0 and overflow < 0:
            overflow = t * n_pe + bad
        cycles, s, h = _broadcast_schedule(n, bypassable, queue_depth, lnzd_latency, busy, starved)
        stalls += s
        hits += h
        # Write-back of the accumulators to the activation SRAM, only between blocks.
        write_back = (rows_in_block + n_pe - 1) // n_pe if n_blocks > 1 else 0
        block_cycles[t] = cycles + write_back
    n_real = real.sum()
    act_writes = n_rows if n_blocks > 1 else 0
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
        act_writes,  # act_sram_writes
    ], np.int64)
    return counters, busy, starved, real, block_cycles, overflow


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
def layer_output(ptr, start, code, rel, cols, codebook, acts, rows_per_block, n_rows,
                 half, shift, lo, hi):
    """Accumulators (M,) of the layer in the codebook's number format (SPEC §6).

    Every output row lives in one (block, PE) list and that list is walked in increasing
    column order, so each row accumulates its columns in order. Fillers write nothing.
    """
    n_blocks, n_pe = ptr.shape[0], ptr.shape[1]
    acc = np.zeros(n_rows, codebook.dtype)
    for t in range(n_blocks):
        for p in range(n_pe):
            base = start[t * n_pe + p]
            row0 = t * rows_per_block + p
            for j in cols:
                act = acts[j]
                local = -1
                for a in range(base + ptr[t, p, j], base + ptr[t, p, j + 1]):
                    local += np.int64(rel[a]) + 1
                    if code[a] != 0:
                        i = row0 + local * n_pe
                        acc[i] = mac(acc[i], codebook[code[a]], act, half, shift, lo, hi)
    return acc
