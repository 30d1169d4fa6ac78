"""Turns a start mask into patch lengths, cutting patches longer than a maximum.

Cutting while scanning (start a new patch once the current one holds `m` bytes) is the
same as splitting each long patch into pieces of `m` left to right with the remainder
last, which is the rule of DESIGN §3 and of the BLT reference.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def starts_to_lengths(starts: np.ndarray, offsets: np.ndarray, max_patch_length: int) -> tuple:
    """Patch lengths (int32) of a ragged batch and their per-document offsets (int64).

    `max_patch_length <= 0` means no cap. Byte 0 of every non-empty document starts a
    patch whatever `starts` says, so the result is valid for any mask.
    """
    n_docs = offsets.shape[0] - 1
    cap = max_patch_length if max_patch_length > 0 else np.iinfo(np.int64).max
    # Pass 1 counts patches so the output is allocated once, at its exact size.
    patch_offsets = np.zeros(n_docs + 1, dtype=np.int64)
    count = 0
    for d in range(n_docs):
        run = 0
        for t in range(offsets[d], offsets[d + 1]):
            if t == offsets[d] or starts[t] != 0 or run == cap:
                count += 1
                run = 0
            run += 1
        patch_offsets[d + 1] = count
    lengths = np.empty(count, dtype=np.int32)
    k = -1
    for d in range(n_docs):
        run = 0
        for t in range(offsets[d], offsets[d + 1]):
            if t == offsets[d] or starts[t] != 0 or run == cap:
                k += 1
                lengths[k] = 0
                run = 0
            run += 1
            lengths[k] += 1
    return lengths, patch_offsets
