"""Entropy start-mask kernel: global threshold, relative (monotonic) rule, or both.

Comparisons run in float64 on the given values, so float16/float32 entropies compare
against the exact threshold the user passed (the BLT reference compares in the
entropies' own dtype; the golden fixture agrees either way). Each rule has its own
branch-free inner loop, which Numba/LLVM vectorises.
"""

from __future__ import annotations

import numba
import numpy as np

from bytepatch.kernels.cache import kernel_cache

_CACHE = kernel_cache(__file__)  # False where Numba has nowhere to cache (bytepatch.kernels.cache)


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
    out = np.empty(entropies.shape[0], dtype=np.uint8)  # NumPy's allocator: huge pages, few faults
    _entropy_starts_into(entropies, offsets, threshold, threshold_add, use_global, use_relative, out)
    return out


@numba.njit(cache=_CACHE, nogil=True)
def _entropy_starts_into(
    entropies: np.ndarray,
    offsets: np.ndarray,
    threshold: float,
    threshold_add: float,
    use_global: bool,
    use_relative: bool,
    starts: np.ndarray,
) -> None:
    n = entropies.shape[0]
    if use_global and use_relative:
        for t in range(1, n):
            h = np.float64(entropies[t])
            starts[t] = (h > threshold) & (h - np.float64(entropies[t - 1]) > threshold_add)
    elif use_relative:
        for t in range(1, n):
            starts[t] = np.float64(entropies[t]) - np.float64(entropies[t - 1]) > threshold_add
    elif use_global:
        for t in range(1, n):
            starts[t] = np.float64(entropies[t]) > threshold
    else:
        starts[:] = 0
    # Document starts last: this also discards the relative rule's comparisons across a
    # document boundary (h[t-1] belongs to the previous document there).
    for d in range(offsets.shape[0] - 1):
        if offsets[d + 1] > offsets[d]:
            starts[offsets[d]] = 1
