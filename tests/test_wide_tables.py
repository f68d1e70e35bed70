"""The fast engine's narrowed tables on a layer too large for them: no value may wrap.

The timing tables (counts, heads, tails), the drain table and the SRAM-row table are kept
as int8 / int16, and the output's row table as uint16, only where every value fits. A
dense 65 600 x 2 layer on one PE with one entry per SRAM row overflows each of them:
counts and tails up to 65 599, drains up to 65 606, SRAM rows up to 131 199 and output rows
past 65 535. Its cycles, counters and outputs are worked out by hand below.
"""

from __future__ import annotations

import numpy as np
import pytest

from compressor.csc import compress_layer
from eiesim.config import ArchConfig
from eiesim.engines import fast
from eiesim.simulation import simulate
from eiesim.timing import PIPELINE_DRAIN

M = 65_600  # > 65 535: every narrowed table overflows


@pytest.fixture(scope="module")
def wide_layer():
    # Column 0 all 0.25, column 1 all 0.5: two codebook values, no fillers (dense).
    w = np.empty((M, 2))
    w[:, 0], w[:, 1] = 0.25, 0.5
    cfg = ArchConfig(n_pe=1, accumulators_per_pe=M, spmat_width_bits=8)  # 8 bits: one 4 + 4-bit entry per row
    return compress_layer(w, cfg, name="wide"), cfg


@pytest.mark.parametrize("block_end", ["pipeline", "drained"])
def test_a_layer_past_every_narrow_type_keeps_its_numbers(wide_layer, block_end):
    layer, cfg = wide_layer
    cfg = cfg.replace(block_end=block_end)
    result = simulate(layer, np.array([1.0, 2.0]), cfg, engine="fast")
    # N = 1: L = 1. b_1 = 1, s(1) = 2, c(1) = M; b_2 = 2, s(2) = max(3, 2 + M) = M + 2, c(2) = M.
    # pipeline: max(s + c) + 6 = 2M + 2 + 6. drained: the last real entry of column 2 issues
    # at s(2) + 1 + (M - 1) and leaves 6 cycles later: 2M + 2 + 6 as well (column 1's ends M earlier).
    assert PIPELINE_DRAIN == 6
    assert result.cycles == 2 * M + 8 and result.block_cycles == [2 * M + 8]
    c = result.counters
    assert (c.broadcasts, c.real_entries, c.filler_entries, c.empty_columns) == (2, 2 * M, 0, 0)
    assert (c.busy_pe_cycles, c.starved_pe_cycles, c.queue_full_stall_cycles, c.bypass_hits) == (2 * M, 0, 0, 0)
    # One entry per SRAM row: column 1 reads rows 0 .. M - 1, column 2 rows M .. 2M - 1.
    assert (c.pointer_reads, c.spmat_row_reads, c.macs, c.codebook_reads) == (4, 2 * M, 2 * M, 2 * M)
    assert result.per_pe.busy.tolist() == [2 * M] and result.per_pe.real.tolist() == [2 * M]
    # Every row: 0.25 x 1 + 0.5 x 2 = 1.25 (exact in Q8 / Q12), the last rows as the first.
    assert result.output.shape == (M,) and np.all(result.output == 1.25)


def test_the_tables_are_narrowed_only_where_the_values_fit(wide_layer):
    layer, cfg = wide_layer
    tables = fast.layer_tables(layer)
    assert tables.table.dtype == np.int32 and tables.table[0, 0, fast.COUNT, 0] == M  # not int8 nor int16
    # (the drain table is checked through the drained block end above)
    rows = fast.row_table(layer, cfg.entries_per_row)
    assert rows.dtype == np.int32 and rows[0, 1].tolist() == [[M], [2 * M - 1]]
    out = fast.output_tables(layer)
    assert out.col_row.dtype == np.uint32 and out.col_row.max() == M - 1


@pytest.mark.parametrize("values, narrow, dtype", [
    ([-128, 127], (np.int8, np.int16), np.int8),
    ([-129, 127], (np.int8, np.int16), np.int16),
    ([0, 128], (np.int8, np.int16), np.int16),
    ([-32768, 32767], (np.int16,), np.int16),
    ([-32769, 0], (np.int16,), np.int32),
    ([0, 32768], (np.int16,), np.int32),
    ([0, 65535], (np.uint16, np.uint32), np.uint16),
    ([0, 65536], (np.uint16, np.uint32), np.uint32),
    ([], (np.int16,), np.int16),
])
def test_narrowest_keeps_every_value(values, narrow, dtype):
    wide = np.array(values, np.int32 if min(values, default=0) < 0 or max(values, default=0) < 2**31 else np.int64)
    got = fast._narrowest(wide, *narrow)
    assert got.dtype == dtype and got.tolist() == values
