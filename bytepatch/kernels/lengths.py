"""Turns a start mask into patch lengths, cutting patches longer than a maximum.

Two steps, both linear: raw lengths from the starts, then (only if some patch exceeds
`max_patch_length`) the cut: a long patch becomes pieces of `m` left to right with the
remainder last, the rule of DESIGN §3 and of the BLT reference. The per-byte loops are
branch-free (a compaction by speculative stores), because a branch per patch
boundary mispredicts on real text and caps the kernel at a fraction of memory speed.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def raw_lengths(starts: np.ndarray, offsets: np.ndarray) -> tuple:
    """Uncapped patch lengths (int32) and per-document patch offsets (int64)."""
    n_docs = offsets.shape[0] - 1
    patch_offsets = np.zeros(n_docs + 1, dtype=np.int64)
    # Branch-free compaction of start positions: store every position, advance only on
    # a start. The buffer is sized for the worst case (every byte a start) but only the
    # slots actually reached are ever touched, so untouched pages cost nothing; this
    # saves a counting pass over the mask.
    positions = np.empty(offsets[n_docs] + 1, dtype=np.int64)
    k = 0
    for d in range(n_docs):
        lo = offsets[d]
        hi = offsets[d + 1]
        if hi > lo:
            positions[k] = lo
            k += 1
            for t in range(lo + 1, hi):
                positions[k] = t
                k += starts[t] != 0
        patch_offsets[d + 1] = k
    lengths = np.empty(k, dtype=np.int32)
    for d in range(n_docs):
        a = patch_offsets[d]
        b = patch_offsets[d + 1]
        for i in range(a, b - 1):
            lengths[i] = positions[i + 1] - positions[i]
        if b > a:
            lengths[b - 1] = offsets[d + 1] - positions[b - 1]
    return lengths, patch_offsets


@numba.njit(cache=True, nogil=True)
def cut_lengths(lengths: np.ndarray, patch_offsets: np.ndarray, cap: int) -> tuple:
    """Splits every length above `cap` into pieces of `cap`, remainder last."""
    n_docs = patch_offsets.shape[0] - 1
    new_offsets = np.zeros(n_docs + 1, dtype=np.int64)
    count = 0
    for d in range(n_docs):
        for i in range(patch_offsets[d], patch_offsets[d + 1]):
            count += (lengths[i] + cap - 1) // cap
        new_offsets[d + 1] = count
    out = np.empty(count, dtype=np.int32)
    k = 0
    for i in range(lengths.shape[0]):
        length = lengths[i]
        while length > cap:
            out[k] = cap
            k += 1
            length -= cap
        out[k] = length
        k += 1
    return out, new_offsets


@numba.njit(cache=True, nogil=True)
def starts_to_lengths(starts: np.ndarray, offsets: np.ndarray, max_patch_length: int) -> tuple:
    """Patch lengths (int32) of a ragged batch and their per-document offsets (int64).

    `max_patch_length <= 0` means no cap. Byte 0 of every non-empty document starts a
    patch whatever `starts` says, so the result is valid for any mask.
    """
    lengths, patch_offsets = raw_lengths(starts, offsets)
    if max_patch_length > 0 and lengths.shape[0] > 0 and lengths.max() > max_patch_length:
        return cut_lengths(lengths, patch_offsets, max_patch_length)
    return lengths, patch_offsets
