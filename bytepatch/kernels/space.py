"""Space start-mask kernel (SpaceByte-style, as in the BLT reference).

A byte is *space-like* unless it is an ASCII letter or digit or a UTF-8 continuation
byte (0x80..0xBF). A space-like byte that does not follow another space-like byte ends
its patch; BOS counts as space-like, so a leading space-like byte does not end one.
Runs of spaces therefore stay glued to the word before them ("hello   " | "world").
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, inline="always")
def is_space_like(b: np.uint8) -> bool:
    """True unless `b` is [0-9A-Za-z] or a UTF-8 continuation byte."""
    if 48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122:
        return False
    if 0x80 <= b <= 0xBF:
        return False
    return True


@numba.njit(cache=True, nogil=True)
def space_starts(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """1 where a byte starts a patch under the space rule (see module docstring)."""
    starts = np.zeros(data.shape[0], dtype=np.uint8)
    for d in range(offsets.shape[0] - 1):
        lo = offsets[d]
        hi = offsets[d + 1]
        if hi <= lo:
            continue
        starts[lo] = 1
        prev_space = True  # BOS precedes byte 0 and is space-like
        for t in range(lo, hi - 1):
            cur_space = is_space_like(data[t])
            if cur_space and not prev_space:
                starts[t + 1] = 1
            prev_space = cur_space
    return starts
