"""The test oracle: SPEC §5 and §5.1 evaluated literally, independent of both engines.

It re-derives everything an engine gets from the encoded layer: the PE entry lists come
from the layer's (row, column, code) triples by the interleaving rule of SPEC §3 (fillers
included), the broadcast list and LNZD gaps from the activations, then the recurrences
b_k, s_p(k) and the counter definitions, one plain loop each. Only the named constants
of ``eiesim.timing`` (the rules' numbers), its leaf schedule quantities (``pop_interval``,
``issue_cycle``, ``pop_tail``, ``entry_tail``) and the config's rule choices are shared.

``oracle(layer, acts, config)`` returns an :class:`OracleRun` with the schedule of every
block (broadcast columns, b_k, s_p(k), issue cycles) beside cycles and counters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from eiesim.counters import COUNTER_NAMES
from eiesim.simulation import prepare_activations
from eiesim.timing import (
    PIPELINE_DRAIN, entry_tail, fetch_bytes, issue_cycle, lnzd_tree_latency, pop_interval, pop_tail, transfer_cycles,
)


@dataclass
class OracleBlock:
    columns: list[int]  # j_k
    broadcast: list[int]  # b_k
    arrival: list[int]  # a_k under streamed weights (SPEC §5.2), else []
    fetched: list[int]  # F_k, bytes of each column's fetch under streamed weights, else []
    pop: list[list[int]]  # [p][k] s_p(k)
    issue: list[list[int]]  # [p] issue cycle of every entry, in issue order
    end: int
    write_back: int


@dataclass
class OracleRun:
    cycles: int
    block_cycles: list[int]
    counters: dict[str, int]
    busy: list[int]
    starved: list[int]
    real: list[int]
    blocks: list[OracleBlock]

    def assert_matches(self, result, engine: str = "") -> None:
        """An engine's totals, counters and per-PE arrays equal the oracle's."""
        assert (result.cycles, result.block_cycles) == (self.cycles, self.block_cycles), engine
        assert result.counters.to_dict() == self.counters, engine
        assert result.per_pe.busy.tolist() == self.busy, engine
        assert result.per_pe.starved.tolist() == self.starved, engine
        assert result.per_pe.real.tolist() == self.real, engine


def entry_lists(layer, rows_per_block: int, n_blocks: int, index_bits: int):
    """SPEC §3: per (block, PE, column) the list of (code, local row) entries, fillers included.

    A gap g of zero rows before a real entry emits g div 2^x fillers (code 0, each
    advancing 2^x rows) before it.
    """
    n, k = layer.n_pe, layer.shape[1]
    rows, cols, codes = layer.real_entries()
    lists = {(t, p, j): [] for t in range(n_blocks) for p in range(n) for j in range(k + 1)}
    for row, col, code in sorted(zip(rows.tolist(), cols.tolist(), codes.tolist())):
        t, p = row // rows_per_block, row % n
        lists[(t, p, col)].append((code, (row - t * rows_per_block) // n))
    step = 2**index_bits
    out = {}
    for key, real in lists.items():
        entries, previous = [], -1
        for code, local in sorted(real, key=lambda e: e[1]):
            gap = local - previous - 1
            entries += [(0, previous + (f + 1) * step) for f in range(gap // step)]
            entries.append((code, local))
            previous = local
        out[key] = entries
    return out


def broadcast_list(converted, layer, rules, n_pe: int):
    """SPEC §5 / §5.1: broadcast columns in order and the LNZD gap before each."""
    k = layer.shape[1]
    own_pack = rules.bias == "own-pack"
    scanned = k - 1 if own_pack and layer.has_bias else k

    def broadcast(a) -> bool:
        return a > 0 if rules.broadcast == "positive" else a != 0

    cols, gaps, pending = [], [], 1
    packs = math.ceil(scanned / n_pe)
    for pack in range(packs):
        slots = [pack * n_pe + s for s in range(n_pe)]
        for j in slots:
            if j < scanned and broadcast(converted[j]):
                cols.append(j)
                gaps.append(pending)
                pending = 0
        last = slots[-1]
        if not (last < scanned and broadcast(converted[last])):
            pending += 1
    if own_pack:
        cols.append(k - 1 if layer.has_bias else k)
        gaps.append(pending)
    if rules.lnzd == "tree":
        return cols, [0] * len(cols), lnzd_tree_latency(n_pe)
    return cols, gaps, pending


def oracle(layer, acts, config) -> OracleRun:
    rules = config.rules
    n = config.n_pe
    m, k = layer.shape
    one_pass = rules.row_blocks == "one-pass"
    rows_per_block = n * math.ceil(m / n) if one_pass else config.rows_per_block
    n_blocks = math.ceil(m / rows_per_block)
    lists = entry_lists(layer, rows_per_block, n_blocks, config.index_bits)
    converted = prepare_activations(layer, acts, config)
    cols, gaps, idle = broadcast_list(converted, layer, rules, n)
    first = lnzd_tree_latency(n) if rules.lnzd == "tree" else 0
    usable = config.queue_depth - 1 if rules.queue_slots == "ring" else config.queue_depth
    refill = 1 if rules.queue_refill == "next-cycle" else 0
    per_row = config.entries_per_row
    kk = len(cols)
    c = dict.fromkeys(COUNTER_NAMES, 0)
    busy, starved, real = [0] * n, [0] * n, [0] * n
    block_cycles, blocks = [], []
    for t in range(n_blocks):
        nk = [[len(lists[(t, p, j)]) for j in cols] for p in range(n)]
        pc = rules.pointer_cycles
        ck = [[pop_interval(x, pc) for x in row] for row in nk]
        b, s = [], [[0] * kk for _ in range(n)]
        streamed = config.weights == "streamed"
        f, a, sizes = [], [], []  # SPEC §5.2: fetch starts f_k, arrivals a_k, bytes F_k
        for q in range(kk):  # q = k - 1 (0-based); "k > U" of the SPEC is q >= U
            if q == 0:
                bk = first + gaps[0]
            else:
                bk = b[q - 1] + 1 + gaps[q]
                if q >= usable:
                    bk = max(bk, max(s[p][q - usable] for p in range(n)) + refill)
                c["queue_full_stall_cycles"] += bk - (b[q - 1] + 1 + gaps[q])
            b.append(bk)
            if streamed:
                size = fetch_bytes(sum(nk[p][q] for p in range(n)), n, config.weight_bits + config.index_bits,
                                   config.ptr_bits, config.dram_burst_bytes)
                d = transfer_cycles(size, config.dram_bytes_per_cycle)
                fk = 0 if q == 0 else f[q - 1] + transfer_cycles(sizes[q - 1], config.dram_bytes_per_cycle)
                if q + 1 > config.stream_buffer_columns:  # k > Q: every PE popped column k - Q + 1
                    fk = max(fk, max(s[p][q + 1 - config.stream_buffer_columns] for p in range(n)))
                f.append(fk)
                a.append(fk + config.dram_latency_cycles + d)
                sizes.append(size)
                c["dram_bytes"] += size
            for p in range(n):
                free = bk + 1 if q == 0 else max(bk + 1, s[p][q - 1] + ck[p][q - 1])
                s[p][q] = max(free, a[q]) if streamed else free
                c["dram_stall_cycles"] += s[p][q] - free
        issue = [[] for _ in range(n)]
        end = idle if rules.block_end == "drained" else idle + PIPELINE_DRAIN
        if kk and rules.block_end == "pipeline":
            end = max(s[p][kk - 1] + ck[p][kk - 1] for p in range(n)) + PIPELINE_DRAIN
        elif kk:
            end = 0
        for p in range(n):
            # Address of an entry: its position in the PE's list for the block, all K columns.
            address, base = 0, {}
            for j in range(k + 1):
                base[j] = address
                address += len(lists[(t, p, j)])
            prev_row, last_real = None, None  # SRAM row of the last issue; (cycle, row) of last real
            for q, j in enumerate(cols):
                if rules.block_end == "drained":
                    end = max(end, pop_tail(s[p][q], pc))
                for i, (code, local) in enumerate(lists[(t, p, j)]):
                    cycle = issue_cycle(s[p][q], i, pc)
                    issue[p].append(cycle)
                    if (base[j] + i) // per_row != prev_row:
                        c["spmat_row_reads"] += 1
                        prev_row = (base[j] + i) // per_row
                    if code:
                        real[p] += 1
                        c["bypass_hits"] += last_real == (cycle - 1, local)
                        last_real = (cycle, local)
                    else:
                        c["filler_entries"] += 1
                    if rules.block_end == "drained":
                        end = max(end, entry_tail(cycle, code != 0))
            busy[p] += sum(max(1, x) for x in nk[p])  # cycles holding a column
            starved[p] += sum(s[p][q] - s[p][q - 1] - ck[p][q - 1] for q in range(1, kk))
            c["empty_columns"] += sum(x == 0 for x in nk[p])
            c["pointer_reads"] += 2 * kk
        rows_in_block = min(rows_per_block, m - t * rows_per_block)
        write_back = math.ceil(rows_in_block / n) if n_blocks > 1 else 0
        block_cycles.append(end + write_back)
        blocks.append(OracleBlock(list(cols), b, a, sizes, s, issue, end, write_back))
        c["broadcasts"] += kk
        c["lnzd_scan_cycles"] += sum(gaps) if rules.lnzd == "pack-scan" else 0
        c["act_sram_writes"] += rows_in_block if n_blocks > 1 else 0
    c["real_entries"] = c["macs"] = c["accumulator_writes"] = sum(real)
    c["codebook_reads"] = c["real_entries"] + c["filler_entries"]
    c["busy_pe_cycles"], c["starved_pe_cycles"] = sum(busy), sum(starved)
    return OracleRun(sum(block_cycles), block_cycles, c, busy, starved, real, blocks)


def functional_acts(layer, acts, config) -> np.ndarray:
    """The converted activations the output is computed from: under the ``positive``
    broadcast rule a negative activation counts as zero (SPEC §5.1)."""
    converted = prepare_activations(layer, acts, config)
    if config.rules.broadcast == "positive":
        converted = np.where(converted > 0, converted, 0).astype(converted.dtype)
    return converted
