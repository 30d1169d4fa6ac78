"""Turns a start mask into patch lengths, cutting patches longer than a maximum.

Two steps, both linear: raw lengths from the starts, then (only if some patch exceeds
`max_patch_length`) the cut: a long patch becomes pieces of `m` left to right with the
remainder last, the rule of docs/design.md §3 and of the BLT reference.

The raw-lengths loop is branch-free: at every byte it stores the length the open patch
would have if it ended there, and advances only at a start. A branch per boundary
mispredicts on real text and halves the speed. The output buffer is sized for the worst
case (every byte a patch) but only the slots reached are touched, so untouched pages
cost nothing; it is allocated by NumPy (huge pages), which keeps page faults, the other
hidden cost at these speeds, rare.
"""

from __future__ import annotations

import numba
import numpy as np

from bytepatch.kernels.cache import kernel_cache

_CACHE = kernel_cache(__file__)  # False where Numba has nowhere to cache (bytepatch.kernels.cache)


def raw_lengths(starts: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Uncapped patch lengths (int32) and per-document patch offsets (int64)."""
    return run_lengths_kernel(_raw_lengths_into, starts, offsets)


def run_lengths_kernel(kernel, values: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs a `*_into(values, offsets, buf, patch_offsets) -> count` lengths kernel with a
    worst-case output buffer, and returns the compact lengths and their offsets."""
    n = int(offsets[-1])
    if n > np.iinfo(np.int32).max:
        raise ValueError("a batch over 2**31 - 1 bytes cannot have int32 patch lengths; patch it in windows")
    buf = np.empty(n + 1, dtype=np.int32)
    patch_offsets = np.zeros(len(offsets), dtype=np.int64)
    count = kernel(values, offsets, buf, patch_offsets)
    return buf[:count].copy(), patch_offsets  # a copy frees the worst-case buffer


@numba.njit(cache=_CACHE, nogil=True)
def _raw_lengths_into(starts: np.ndarray, offsets: np.ndarray, buf: np.ndarray, patch_offsets: np.ndarray) -> int:
    k = 0
    for d in range(offsets.shape[0] - 1):
        lo = offsets[d]
        hi = offsets[d + 1]
        if hi > lo:
            prev = lo  # byte 0 always starts a patch
            for t in range(lo + 1, hi):
                s = starts[t] != 0
                buf[k] = t - prev  # final once patch k really ends at t; else overwritten
                k += s
                prev = t if s else prev
            buf[k] = hi - prev
            k += 1
        patch_offsets[d + 1] = k
    return k


@numba.njit(cache=_CACHE, nogil=True)
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


def starts_to_lengths(starts: np.ndarray, offsets: np.ndarray, max_patch_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Patch lengths (int32) of a ragged batch and their per-document offsets (int64).

    `max_patch_length <= 0` means no cap. Byte 0 of every non-empty document starts a
    patch whatever `starts` says, so the result is valid for any mask.
    """
    return apply_cap(*raw_lengths(starts, offsets), max_patch_length)


def apply_cap(lengths: np.ndarray, patch_offsets: np.ndarray, max_patch_length: int) -> tuple[np.ndarray, np.ndarray]:
    """The max-patch-length cut (no-op when `max_patch_length <= 0` or nothing is longer)."""
    if max_patch_length > 0 and lengths.shape[0] > 0 and lengths.max() > max_patch_length:
        return cut_lengths(lengths, patch_offsets, max_patch_length)
    return lengths, patch_offsets
