"""Entropy start-mask kernel: global threshold, relative (monotonic) rule, or both.

Comparisons run in float64 on the given values, so float16/float32 entropies compare
against the exact threshold the user passed (the BLT reference compares in the
entropies' own dtype; the golden fixture agrees either way).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def entropy_starts(
    entropies: np.ndarray,
    offsets: np.ndarray,
    threshold: float,
    threshold_add: float,
    use_global: bool,
    use_relative: bool,
) -> np.ndarray:
    """1 where a byte starts a patch: byte 0 of each document always; byte t >= 1 when
    `h[t] > threshold` (global) and/or `h[t] - h[t-1] > threshold_add` (relative)."""
    starts = np.zeros(entropies.shape[0], dtype=np.uint8)
    for d in range(offsets.shape[0] - 1):
        lo = offsets[d]
        hi = offsets[d + 1]
        if hi <= lo:
            continue
        starts[lo] = 1
        for t in range(lo + 1, hi):
            h = np.float64(entropies[t])
            fire = True
            if use_global and not (h > threshold):
                fire = False
            if use_relative and not (h - np.float64(entropies[t - 1]) > threshold_add):
                fire = False
            if fire:
                starts[t] = 1
    return starts
