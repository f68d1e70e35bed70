"""Hardware blocks of the EIE PE array (EIE Fig 4), one module each, as SimPy models.

The folder follows the block diagram: the CCU with its LNZD tree (``lnzd``) broadcasts
each non-zero input activation into every PE's activation queue (``act_queue``); a PE
(``pe``) pops a column, reads its two pointers from the even/odd banks (``ptr_read``),
streams the column's entries out of the sparse-matrix SRAM (``spmat_read``) into the
arithmetic unit (``arith``: codebook decode, multiply, shift-add, write, bypass), whose
accumulators live in the destination register file of the activation read/write unit
(``act_rw``: source and destination registers, ReLU, write-back between row blocks).

Clock convention (SPEC §5): SimPy time is the cycle number, from 0 at the start of each
row block. Blocks talk only through their ports: the CCU reads the queues' ``full``
flags and waits on their "slot freed" handshake, a PE waits on its queue's "entry
arrived" handshake. A broadcast issued in cycle b is latched by the queues at the next
clock edge, so its column can be popped from cycle b + 1; a pop in cycle t frees its slot
in cycle t, so the CCU may broadcast into that slot in the same cycle t.

Events are only spent where something can change who waits for whom: one timeout per
column a PE processes (it issues the column's entries back to back, one per cycle, the
cycle numbers being known when it pops), one per broadcast, plus the handshakes.
"""

from eiesim.blocks.act_queue import ActQueue
from eiesim.blocks.act_rw import ActRW
from eiesim.blocks.arith import ArithmeticUnit, Multiplier
from eiesim.blocks.lnzd import Broadcast, Ccu, Lnzd
from eiesim.blocks.pe import ProcessingElement
from eiesim.blocks.ptr_read import PtrRead
from eiesim.blocks.spmat_read import SpmatRead

__all__ = [
    "ActQueue", "ActRW", "ArithmeticUnit", "Broadcast", "Ccu", "Lnzd", "Multiplier",
    "ProcessingElement", "PtrRead", "SpmatRead",
]
