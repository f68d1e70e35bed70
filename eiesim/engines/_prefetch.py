"""``prefetch_slice(array, i)``: ask the CPU to start loading ``array[i]`` early.

``array[i]`` is the first-axis slice i of a C-contiguous array; :func:`prefetch` names one
of its cache lines (byte ``offset``). The fast engine's timing kernel reads the tables of the broadcast columns, which
jump through memory in an order only the activations decide: the hardware prefetcher
cannot guess it, but the kernel knows the next columns and names them a few columns ahead
(LLVM's ``llvm.prefetch``: a hint, it never faults and changes no result). Under
``NUMBA_DISABLE_JIT=1`` it is a plain function that does nothing.
"""

from __future__ import annotations

from llvmlite import ir
from numba import config, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from eiecore.numba_options import JIT

CACHE_LINE = 64  # bytes


if config.DISABLE_JIT:

    def prefetch_slice(array, i):
        """No cache to warm when the kernels run as Python."""

else:

    @intrinsic
    def prefetch(typingctx, array, i, offset):
        if not isinstance(array, types.Array) or array.layout != "C":
            return None
        signature = types.void(array, i, offset)

        def codegen(context, builder, sig, args):
            array_type = sig.args[0]
            data = context.make_array(array_type)(context, builder, args[0])
            index = [context.cast(builder, args[1], sig.args[1], types.intp)]
            index += [context.get_constant(types.intp, 0)] * (array_type.ndim - 1)
            item = cgutils.get_item_pointer(context, builder, array_type, data, index, wraparound=False)
            byte_pointer = ir.IntType(8).as_pointer()
            line = builder.gep(builder.bitcast(item, byte_pointer),
                               [context.cast(builder, args[2], sig.args[2], types.intp)])
            i32 = ir.IntType(32)
            hint = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]), "llvm.prefetch")
            builder.call(hint, [line, i32(0), i32(3), i32(1)])  # read, keep in all cache levels, data
            return context.get_dummy_value()

        return signature, codegen

    @njit(**JIT)
    def prefetch_slice(array, i):
        """Every cache line of ``array[i]``."""
        for offset in range(0, array[i].nbytes, CACHE_LINE):
            prefetch(array, i, offset)
