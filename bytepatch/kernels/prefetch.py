"""`prefetch(array, i)`: a cache hint for Numba kernels whose loads are random.

A kernel that looks up one random slot of a table larger than the caches per byte is
bound by memory latency. Touching the slot early with an ordinary load does not help
much: the load occupies the out-of-order window until the data arrives. A prefetch
instruction retires at once, so a kernel can ask for the slot it will need some
positions ahead while it works on the current one. A hint has no effect on values;
indexes must still be in bounds (the address is computed like a read). With
NUMBA_DISABLE_JIT=1 (kernels run as plain Python) it does nothing.
"""

from __future__ import annotations

import numba
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

if numba.config.DISABLE_JIT:

    def prefetch(array, i) -> None:  # noqa: ARG001 - a hint: nothing to do in plain Python
        return None

else:

    @intrinsic
    def prefetch(typingctx, array, i):
        """Prefetch row `i` of a 2-D array (or element `i` of a 1-D one) for reading."""
        sig = types.void(array, i)

        def codegen(context, builder, signature, args):
            aryty = signature.args[0]
            ary = context.make_array(aryty)(context, builder, args[0])
            index = [args[1]] + [context.get_constant(types.intp, 0)] * (aryty.ndim - 1)
            ptr = cgutils.get_item_pointer(context, builder, aryty, ary, index)
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
            # read, high temporal locality, data cache
            builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
            return context.get_dummy_value()

        return sig, codegen
