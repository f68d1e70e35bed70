"""Numba kernels of the fast engine: plain loops over typed arrays, no Python objects.

They compute SPEC §5 / §5.1 (timing, counters, under the rules of ``eiesim.timing``) and
§6 (arithmetic) for an interleaved-CSC layer (``ptr`` (T, N, K+1), ``start`` (T N + 1),
``code``/``rel`` per entry; see compressor.csc).

* :func:`prepare_layer` (once per layer, activations not needed) turns the PE lists into
  column tables indexed [t, j, (field,) p], so that a column's numbers for all N PEs sit
  side by side. Column K of the tables is an empty column: the ``own-pack`` bias of a
  layer without one.
  :func:`sram_rows` (once per layer and SRAM width) gives the SRAM rows each column's
  entries occupy; :func:`drain_table` (once per layer, under the ``drained`` end) each
  column's drain.
* :func:`broadcast_columns` picks the broadcast columns J_1 < ... < J_K' and the LNZD
  delay before each.
* :func:`layer_timing` runs, block by block, the recurrence b_k, s_p(k) over the
  broadcast columns with all N PEs per column, O(N) per column, asking for the tables
  of the columns a few broadcasts ahead (``_prefetch``). Its input is one
  :class:`TimingPlan` (tables and rule choices as numbers, built by
  ``fast.timing_plan``); the ``drained`` block end's table and the schedule recording
  are None when unused: numba then compiles the branches away, so the plain ``spec``
  run pays nothing for them.
* :func:`layer_output` does one multiply-accumulate per real entry of a broadcast
  column, columns in increasing order, from a column-major copy of the real entries
  (``fast.output_tables``, made once per layer, only when outputs are wanted).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, types
from numba.extending import overload

from eiecore.numba_options import JIT
from eiesim.engines._prefetch import prefetch_slice
from eiesim import timing
from eiesim.timing import FILLER_TAIL, ISSUE_OFFSET, PIPELINE_DRAIN, POP_TAIL, REAL_TAIL

# The schedule quantities of eiesim.timing, compiled for the kernels (LLVM inlines them).
pop_interval = njit(**JIT)(timing.pop_interval)
issue_cycle = njit(**JIT)(timing.issue_cycle)
pop_tail = njit(**JIT)(timing.pop_tail)
entry_tail = njit(**JIT)(timing.entry_tail)
fetch_bytes = njit(**JIT)(timing.fetch_bytes)
transfer_cycles = njit(**JIT)(timing.transfer_cycles)

# The counters layer_timing returns, in the order of its array; fast.py maps them to
# eiesim.counters.Counters by name (and checks that the names are exactly Counters').
KERNEL_COUNTERS = (
    "broadcasts", "real_entries", "filler_entries", "empty_columns", "busy_pe_cycles", "starved_pe_cycles",
    "queue_full_stall_cycles", "pointer_reads", "spmat_row_reads", "accumulator_writes", "macs",
    "codebook_reads", "bypass_hits", "act_sram_writes", "lnzd_scan_cycles", "dram_bytes", "dram_stall_cycles",
)
(BROADCASTS, REAL_ENTRIES, FILLER_ENTRIES, EMPTY_COLUMNS, BUSY_PE_CYCLES, STARVED_PE_CYCLES,
 QUEUE_FULL_STALL_CYCLES, POINTER_READS, SPMAT_ROW_READS, ACCUMULATOR_WRITES, MACS,
 CODEBOOK_READS, BYPASS_HITS, ACT_SRAM_WRITES, LNZD_SCAN_CYCLES, DRAM_BYTES,
 DRAM_STALL_CYCLES) = range(len(KERNEL_COUNTERS))

# The streamed-weights parameters (SPEC §5.2) in TimingPlan.dram, in this order:
(DRAM_BYTES_PER_CYCLE, DRAM_LATENCY, DRAM_BURST, DRAM_SLOTS, DRAM_ENTRY_BITS, DRAM_PTR_BITS) = range(6)

# Under the drained end, a column's last event ends at most
# ISSUE_OFFSET + max(REAL_TAIL, FILLER_TAIL) - 1 cycles after s + c, while a later
# column's pop ends no earlier than s + c + (columns between) + POP_TAIL: only the last
# DRAIN_WINDOW columns of a block can set its end, so only they are examined.
DRAIN_WINDOW = max(1, ISSUE_OFFSET + max(REAL_TAIL, FILLER_TAIL) - POP_TAIL + 1)

# The timing kernel asks for a broadcast column's tables this many columns before it
# needs them: about one memory latency of work at 64 PEs.
PREFETCH_AHEAD = 8

# Fields of the column table, one row of N values each, for every (block, column):
COUNT = 0  # entries of the column (real + filler)
REAL = 1  # real entries of the column
HEAD = 2  # local row of the column's first entry if it is real, else NO_HEAD
TAIL = 3  # local row of the column's last entry if it is real, else NO_TAIL
FIELDS = 4
NO_HEAD = -1
NO_TAIL = -2  # never equal to a head, so an empty column never bypasses


class TimingPlan(NamedTuple):
    """Everything :func:`layer_timing` needs for one run, built by ``fast.timing_plan``: the
    layer's tables and the rules as numbers (numba passes it as one typed tuple)."""

    rows: np.ndarray  # (T, K+1, 2, N) from sram_rows, for the config's SRAM width
    table: np.ndarray  # (T, K+1, FIELDS, N) from prepare_layer
    drain: np.ndarray | None  # (T, K+1, N) from drain_table under the drained end, else None
    cols: np.ndarray  # broadcast columns J_1 .. J_K' (int64)
    gaps: np.ndarray  # LNZD gap before each (int64; 0 under the tree)
    first: int  # added to gap_1: L under the tree LNZD, else 0
    idle: int  # the cycle of a first broadcast when there is none
    usable: int  # U: usable queue slots
    refill: int  # cycles before a freed slot takes a broadcast
    pointer_cycles: int  # cycles a pop reads pointers in (TimingRules.pointer_cycles)
    dram: np.ndarray | None  # streamed weights: int64 parameters indexed DRAM_BYTES_PER_CYCLE ..; None on chip
    rows_per_block: int  # N x R
    n_rows: int  # M


# Fields of the SRAM row table (sram_rows), one row of N values each:
FIRST_ROW = 0  # SRAM row of the column's first entry
LAST_ROW = 1  # SRAM row of its last entry, -1 when it has none


@njit(**JIT)
def prepare_layer(ptr, start, code, local):
    """Column tables of a valid layer (what the timing needs).

    ``local``: every entry's local row (``EncodedLayer.entry_local_rows``). Returns (addr,
    table), both with K + 1 columns (column K empty): addr (T, K+1, N) int32, addr[t, j, p]
    = ptr[t, p, j], the address of the column's first entry in PE p's list; table (T, K+1,
    FIELDS, N) int32 holds, for each block and column, one row of N values per field
    (COUNT ... TAIL), so the timing kernel reads contiguous memory per broadcast column (the
    caller may narrow it to int16).
    """
    n_blocks, n_pe, k1 = ptr.shape
    addr = np.empty((n_blocks, k1, n_pe), np.int32)
    table = np.empty((n_blocks, k1, FIELDS, n_pe), np.int32)
    for t in range(n_blocks):
        for j in range(k1):
            column = table[t, j]
            for p in range(n_pe):
                lo, hi = _column_range(ptr, start, t, p, j)
                real = 0
                for a in range(lo, hi):
                    real += code[a] != 0
                addr[t, j, p] = ptr[t, p, j]
                column[COUNT, p] = hi - lo
                column[REAL, p] = real
                column[HEAD, p] = local[lo] if hi > lo and code[lo] != 0 else NO_HEAD
                column[TAIL, p] = local[hi - 1] if hi > lo and code[hi - 1] != 0 else NO_TAIL
    return addr, table


@njit(**JIT)
def _column_range(ptr, start, t, p, j):
    """Addresses [lo, hi) of column j's entries in PE p's list of block t (column K: empty)."""
    n_pe, k1 = ptr.shape[1], ptr.shape[2]
    lo = start[t * n_pe + p] + ptr[t, p, j]
    return lo, (start[t * n_pe + p] + ptr[t, p, j + 1] if j < k1 - 1 else lo)


@njit(**JIT)
def drain_table(ptr, start, code, pointer_cycles):
    """Under the ``drained`` block end: cycles from each column's pop to the end of its last
    event (pop_tail, each entry's entry_tail), (T, K+1, N) int32, for the tables' columns."""
    n_blocks, n_pe, k1 = ptr.shape
    drain = np.empty((n_blocks, k1, n_pe), np.int32)
    for t in range(n_blocks):
        for j in range(k1):
            for p in range(n_pe):
                lo, hi = _column_range(ptr, start, t, p, j)
                tail = pop_tail(0, pointer_cycles)  # cycles after the column's pop
                for a in range(lo, hi):
                    tail = max(tail, entry_tail(issue_cycle(0, a - lo, pointer_cycles), code[a] != 0))
                drain[t, j, p] = tail
    return drain


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
def sram_rows(addr, table, entries_per_row):
    """SRAM rows each column's entries occupy in each PE, for one SRAM width.

    addr, table: from :func:`prepare_layer`; ``entries_per_row``: entries in one SRAM
    row. Returns rows (T, K+1, 2, N) int32: rows[t, j, FIRST_ROW, p] = a // d and
    rows[t, j, LAST_ROW, p] = (a + n - 1) // d for the column's first address a and n
    entries, LAST_ROW = -1 for an empty column. Addresses grow with j, so the row a PE
    read last is the running maximum of LAST_ROW over the columns it was sent.
    """
    n_blocks, k1, n_pe = addr.shape
    rows = np.empty((n_blocks, k1, 2, n_pe), np.int32)
    for t in range(n_blocks):
        for j in range(k1):
            for p in range(n_pe):
                a = np.int64(addr[t, j, p])
                n = np.int64(table[t, j, COUNT, p])
                rows[t, j, FIRST_ROW, p] = a // entries_per_row
                rows[t, j, LAST_ROW, p] = (a + n - 1) // entries_per_row if n > 0 else -1
    return rows


@njit(**JIT)
def _block_timing(plan, t, drain, dram, busy, starved, real, b_out, s_out):
    """Row block t of ``plan`` (SPEC §5 / §5.1), columns in broadcast order, all N PEs each.

    b_1 = first + gap_1, b_k = max(b_{k-1} + 1 + gap_k, max_p s_p(k - U) + refill) for
    k > U usable slots; s_p(k) = max(b_k + 1, s_p(k-1) + c_p(k-1)), c_p(k) = max(1, n_p(k)).
    Streamed weights (``plan.dram``, SPEC §5.2): fetch k starts in f_k = max(f_{k-1} +
    d_{k-1}, max_p s_p(k - Q + 1) for k > Q slots), its data arrives for a pop in a_k = f_k +
    latency + d_k, and s_p(k) >= a_k.
    drain: this block's (K+1, N) drain table, or None (the ``pipeline`` end); dram:
    ``plan.dram`` (an argument of its own, so numba drops the branches when None). Adds busy,
    starved and real entries per PE; fills b_out (K',) and s_out (N, K') unless they are
    None. ``plan.idle``: the cycle a first broadcast would have had (the block's start of
    drain when nothing is broadcast).
    Returns (T_block, entries, empty columns, SRAM row reads, stall cycles, bypass hits,
    LNZD scan cycles, DRAM bytes, DRAM stall cycles). The PE loop is branch-free, so it runs on SIMD lanes: empty
    columns are unpredictable.
    """
    rows, table, cols, gaps = plan.rows[t], plan.table[t], plan.cols, plan.gaps
    usable, refill, pointer_cycles = plan.usable, plan.refill, plan.pointer_cycles
    n_pe = table.shape[2]
    k_count = cols.size
    if k_count == 0:
        return plan.idle + (PIPELINE_DRAIN if drain is None else 0), 0, 0, 0, 0, 0, 0, 0, 0
    b = plan.first + gaps[0]
    # finish[p] = s_p(k-1) + c_p(k-1); starting it at b_1 + 1 makes s_p(1) = b_1 + 1
    # with no wait, so column 1 needs no special case. A PE waits (starves) exactly the
    # cycles its finish runs ahead of its work: starved = finish - (b_1 + 1) - busy.
    start = b + 1
    finish = np.full(n_pe, start, np.int64)
    block_busy = np.zeros(n_pe, np.int64)
    sram_row = np.full(n_pe, -1, np.int32)  # SRAM row of the last address issued
    s_max = np.empty(k_count, np.int64)  # max_p s_p(k): when queue slots free up
    entries = empty = row_reads = stalls = hits = scan = end = 0
    channel = fetched = waited = arrive = 0  # channel: f_{k-1} + d_{k-1}, when the channel is next free
    lead = 0  # cycles every PE waits for column 1's data: before its first pop, so not starved
    # The previous column's tails: column K of the table is empty, its tails (NO_TAIL)
    # never equal a head, so the first column bypasses nothing.
    previous_tail = table[table.shape[0] - 1, TAIL]
    tail_from = k_count - DRAIN_WINDOW  # the drained end looks at columns from here on
    for k in range(k_count):
        if k + PREFETCH_AHEAD < k_count:
            prefetch_slice(table, cols[k + PREFETCH_AHEAD])
            prefetch_slice(rows, cols[k + PREFETCH_AHEAD])
        column = table[cols[k]]
        count, real_count, head = column[COUNT], column[REAL], column[HEAD]
        first_row, last_row = rows[cols[k], FIRST_ROW], rows[cols[k], LAST_ROW]
        scan += gaps[k]
        if k > 0:
            b_k = b + 1 + gaps[k]
            if k >= usable:
                b_k = max(b_k, s_max[k - usable] + refill)
            stalls += b_k - b - 1 - gaps[k]
            b = b_k
        if b_out is not None:
            b_out[k] = b
        if dram is not None:
            column_bytes = fetch_bytes(np.int64(count.sum()), n_pe, dram[DRAM_ENTRY_BITS], dram[DRAM_PTR_BITS],
                                       dram[DRAM_BURST])
            f = channel
            if k >= dram[DRAM_SLOTS]:  # 1-based k > Q: every PE popped column k - Q + 1
                f = max(f, s_max[k - dram[DRAM_SLOTS] + 1])
            d = transfer_cycles(column_bytes, dram[DRAM_BYTES_PER_CYCLE])
            channel = f + d
            arrive = f + dram[DRAM_LATENCY] + d
            if k == 0:
                lead = max(0, arrive - start)
            fetched += column_bytes
        top = 0
        for p in range(n_pe):
            n = np.int64(count[p])  # n_p(k)
            s = max(b + 1, finish[p])
            if dram is not None:  # numba drops this on chip
                late = max(0, arrive - s)  # free with the column queued, waiting for its data
                waited += late
                s += late
            # Bypass: the first entry issues the cycle after the previous column's last
            # (issued in finish) and writes the same accumulator.
            hits += (issue_cycle(s, 0, pointer_cycles) == finish[p] + 1) & (head[p] == previous_tail[p])
            c = pop_interval(n, pointer_cycles)
            block_busy[p] += c
            finish[p] = s + c  # timing.next_pop
            top = max(top, s)
            empty += n == 0
            entries += n
            real[p] += real_count[p]
            # SRAM rows as int64: narrow ones would wrap in the sum when the kernel runs as Python
            row_from, row_to = np.int64(first_row[p]), np.int64(last_row[p])
            row_reads += (row_to - row_from + (row_from != sram_row[p])) * (n > 0)
            sram_row[p] = max(sram_row[p], row_to)
            if s_out is not None:
                s_out[p, k] = s
        if drain is not None and k >= tail_from:
            for p in range(n_pe):  # s_p(k) = finish - c
                s = finish[p] - pop_interval(np.int64(count[p]), pointer_cycles)
                end = max(end, s + np.int64(drain[cols[k], p]))
        s_max[k] = top
        previous_tail = column[TAIL]
    # A pop's pointer cycles beyond ISSUE_OFFSET (one pointer bank) are neither busy nor starved.
    unbusy = (pointer_cycles - ISSUE_OFFSET) * k_count
    for p in range(n_pe):
        busy[p] += block_busy[p] - unbusy
        starved[p] += finish[p] - start - lead - block_busy[p]
    if drain is None:
        end = finish.max() + PIPELINE_DRAIN
    return end, entries, empty, row_reads, stalls, hits, scan, fetched, waited


@njit(**JIT)
def _block_of(tables, t):
    """Block t of optional per-block tables: None stays None (numba then drops the branches that use it)."""
    return None if tables is None else tables[t]


@njit(**JIT)
def layer_timing(plan, b_out, s_out):
    """Cycles and counters of a whole layer from its timing plan (SPEC §5 / §5.1).

    ``plan``: a :class:`TimingPlan`; b_out (T, K') and s_out (T, N, K') record the schedule
    unless None. Returns (counters
    int64 in KERNEL_COUNTERS order, busy, starved, real per PE, block_end, block_cycles
    (block_end + write-back)).
    """
    n_blocks, n_pe = plan.table.shape[0], plan.table.shape[3]
    k_count = plan.cols.size
    rows_per_block, n_rows = plan.rows_per_block, plan.n_rows
    busy = np.zeros(n_pe, np.int64)
    starved = np.zeros(n_pe, np.int64)
    real = np.zeros(n_pe, np.int64)
    block_end = np.empty(n_blocks, np.int64)
    block_cycles = np.empty(n_blocks, np.int64)
    counters = np.zeros(len(KERNEL_COUNTERS), np.int64)
    for t in range(n_blocks):
        cycles, e, m, r, s, h, g, f, w = _block_timing(plan, t, _block_of(plan.drain, t), plan.dram, busy, starved, real,
                                                 _block_of(b_out, t), _block_of(s_out, t))
        counters[CODEBOOK_READS] += e
        counters[EMPTY_COLUMNS] += m
        counters[SPMAT_ROW_READS] += r
        counters[QUEUE_FULL_STALL_CYCLES] += s
        counters[BYPASS_HITS] += h
        counters[LNZD_SCAN_CYCLES] += g
        counters[DRAM_BYTES] += f
        counters[DRAM_STALL_CYCLES] += w
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


ADDRESS_BITS = 31  # list addresses are held as int32


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
