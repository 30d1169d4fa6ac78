"""Plain NumPy twins of the Numba kernels, written independently (vectorised, no
per-byte loop where NumPy allows) so that agreement between the two means something.

Slow but obviously correct; the tests compare every kernel against its twin.
"""

from __future__ import annotations

import numpy as np


def _first_byte_mask(offsets: np.ndarray, n: int) -> np.ndarray:
    first = np.zeros(n, dtype=bool)
    lo = offsets[:-1]
    nonempty = offsets[1:] > lo
    first[lo[nonempty]] = True
    return first


def _prev_in_same_doc(offsets: np.ndarray, n: int) -> np.ndarray:
    """True at t when byte t-1 belongs to the same document as byte t."""
    return ~_first_byte_mask(offsets, n)


def entropy_starts_ref(entropies, offsets, threshold, threshold_add, use_global, use_relative) -> np.ndarray:
    h = np.asarray(entropies, dtype=np.float64)
    n = h.shape[0]
    fire = np.ones(n, dtype=bool)
    if use_global:
        fire &= h > threshold
    if use_relative:
        diff = np.empty(n)
        diff[0:1] = -np.inf
        diff[1:] = h[1:] - h[:-1]
        fire &= diff > threshold_add
    fire &= _prev_in_same_doc(offsets, n)
    return (fire | _first_byte_mask(offsets, n)).astype(np.uint8)


def is_space_like_ref(data: np.ndarray) -> np.ndarray:
    b = np.asarray(data, dtype=np.uint8)
    alnum = (
        ((b >= ord("0")) & (b <= ord("9"))) | ((b >= ord("A")) & (b <= ord("Z"))) | ((b >= ord("a")) & (b <= ord("z")))
    )
    continuation = (b >= 0x80) & (b <= 0xBF)
    return ~(alnum | continuation)


def space_starts_ref(data, offsets) -> np.ndarray:
    n = len(data)
    space = is_space_like_ref(data)
    same_doc = _prev_in_same_doc(offsets, n)
    prev_space = np.ones(n, dtype=bool)  # BOS before each document is space-like
    prev_space[1:] = np.where(same_doc[1:], space[:-1], True)
    ends = space & ~prev_space  # byte t ends its patch
    starts = np.zeros(n, dtype=bool)
    starts[1:] = ends[:-1] & same_doc[1:]
    return (starts | _first_byte_mask(offsets, n)).astype(np.uint8)


def stride_starts_ref(offsets, stride) -> np.ndarray:
    n = int(offsets[-1])
    doc_start = np.repeat(offsets[:-1], np.diff(offsets))
    return ((np.arange(n) - doc_start) % stride == 0).astype(np.uint8)


def starts_to_lengths_ref(starts, offsets, max_patch_length) -> tuple[np.ndarray, np.ndarray]:
    all_lengths: list[int] = []
    patch_offsets = [0]
    for d in range(len(offsets) - 1):
        lo, hi = int(offsets[d]), int(offsets[d + 1])
        if hi > lo:
            idx = np.flatnonzero(np.asarray(starts[lo:hi]) != 0)
            idx = np.union1d(idx, [0])
            raw = np.diff(np.append(idx, hi - lo))
            for length in raw.tolist():
                all_lengths += split_long(length, max_patch_length)
        patch_offsets.append(len(all_lengths))
    return np.asarray(all_lengths, dtype=np.int32), np.asarray(patch_offsets, dtype=np.int64)


def split_long(length: int, m: int | None) -> list[int]:
    """Pieces of `m` left to right, remainder last (no cap when m is None or <= 0)."""
    if not m or m <= 0 or length <= m:
        return [length]
    full, rest = divmod(length, m)
    return [m] * full + ([rest] if rest else [])
