"""Hardware blocks of the EIE PE array (EIE Fig 4), one module each, as clocked components.

The folder follows the block diagram: the CCU with its LNZD (``lnzd``: the 4-ary tree,
or the authors' pack scanner) broadcasts each non-zero input activation into every PE's
activation queue (``act_queue``); in a PE (``pe``) the pointer-read unit pops a column
and reads its two pointers from the even/odd banks (``ptr_read``), the sparse-matrix
read unit issues the column's addresses one per cycle and reads the SRAM through its row
register (``spmat_read``), and the arithmetic unit's four stage registers decode,
multiply, shift-add and write (``arith``, with the bypass) into the destination register
file of the activation read/write unit (``act_rw``: source and destination registers,
ReLU, write-back between row blocks). Under streamed weights (SPEC §5.2) the DRAM fetch
unit (``dram_fetch``) fills every PE's stream buffer, column by column, ahead of the pops.

Clock convention: cycle numbers start at 0 in each row block. Every block has a
``tick(now)`` that computes one cycle from the registers its upstream blocks wrote in
the previous cycle, and a ``line_trace()`` that shows what it did in this cycle (PyMTL3
style). The engine (``eiesim.engines.reference``) ticks the blocks last stage first,
which makes every register hand-off take exactly one cycle without double buffering; in
a PE that order follows from what each block reads of the others (``pe.READS``).
Each block increments the counters of the events that happen in it.
"""

from eiesim.blocks.act_queue import ActQueue
from eiesim.blocks.act_rw import ActRW
from eiesim.blocks.arith import ArithmeticUnit, Multiplier
from eiesim.blocks.dram_fetch import DramFetch
from eiesim.blocks.lnzd import Broadcast, Ccu, LnzdTree, PackScanner
from eiesim.blocks.pe import ProcessingElement
from eiesim.blocks.ptr_read import PtrRead
from eiesim.blocks.spmat_read import SpmatRead

__all__ = [
    "ActQueue", "ActRW", "ArithmeticUnit", "Broadcast", "Ccu", "DramFetch", "LnzdTree", "Multiplier", "PackScanner",
    "ProcessingElement", "PtrRead", "SpmatRead",
]
