"""Space start-mask kernel (SpaceByte-style, as in the BLT reference).

A byte is *space-like* unless it is an ASCII letter or digit or a UTF-8 continuation
byte (0x80..0xBF). A space-like byte that does not follow another space-like byte ends
its patch; BOS counts as space-like, so a leading space-like byte does not end one.
So the first space after a word closes it and further spaces open the next patch
("hello " | "  world"), and punctuation closes a patch ("R." | "R." | " Martin").
"""

from __future__ import annotations

import numba
import numpy as np


def _space_like_table() -> np.ndarray:
    table = np.ones(256, dtype=np.uint8)
    for lo, hi in ((ord("0"), ord("9")), (ord("A"), ord("Z")), (ord("a"), ord("z")), (0x80, 0xBF)):
        table[lo : hi + 1] = 0
    return table


# A constant for the kernel (Numba freezes module-level arrays): a table lookup keeps
# the inner loop branch-free.
SPACE_LIKE = _space_like_table()


@numba.njit(cache=True, nogil=True)
def space_starts(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """1 where a byte starts a patch under the space rule (see module docstring)."""
    starts = np.empty(data.shape[0], dtype=np.uint8)
    for d in range(offsets.shape[0] - 1):
        lo = offsets[d]
        hi = offsets[d + 1]
        if hi <= lo:
            continue
        starts[lo] = 1
        if hi - lo > 1:
            # byte 0 follows BOS (space-like), so it never ends a patch
            starts[lo + 1] = 0
        # No loop-carried state: each start reads two table entries, so iterations
        # pipeline freely instead of waiting on the previous byte's class.
        for t in range(lo + 1, hi - 1):
            starts[t + 1] = SPACE_LIKE[data[t]] & (SPACE_LIKE[data[t - 1]] ^ 1)
    return starts
