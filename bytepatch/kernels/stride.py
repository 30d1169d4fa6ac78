"""Fixed-stride start-mask kernel (MegaByte-style): bytes 0, k, 2k, ... start patches."""

from __future__ import annotations

import numba
import numpy as np

from bytepatch.kernels.cache import kernel_cache

_CACHE = kernel_cache(__file__)  # False where Numba has nowhere to cache (bytepatch.kernels.cache)


def stride_starts(offsets: np.ndarray, stride: int) -> np.ndarray:
    """1 at every `stride`-th byte of each document, counted from the document's start."""
    out = np.zeros(offsets[-1], dtype=np.uint8)
    _stride_starts_into(offsets, stride, out)
    return out


@numba.njit(cache=_CACHE, nogil=True)
def _stride_starts_into(offsets: np.ndarray, stride: int, starts: np.ndarray) -> None:
    for d in range(offsets.shape[0] - 1):
        for t in range(offsets[d], offsets[d + 1], stride):
            starts[t] = 1
