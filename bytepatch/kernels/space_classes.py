"""The space rule's byte classes and its NumPy batch path (no Numba import).

A byte is *space-like* unless it is an ASCII letter or digit or a UTF-8 continuation
byte (0x80..0xBF). This module is what a `--patcher space` run loads: importing Numba
and loading its cached kernels costs ~0.4-0.8 s per process, more than patching 24 MB
of text with the vectorised NumPy code below (`space_lengths_numpy`, ~0.1 s), so the
space path never touches Numba. The Numba kernels in `space.py` compute the same rule
(tests hold the two equal) for the windowed and incremental paths.
"""

from __future__ import annotations

import numpy as np


def _space_like_table() -> np.ndarray:
    table = np.ones(256, dtype=np.uint8)
    for lo, hi in ((ord("0"), ord("9")), (ord("A"), ord("Z")), (ord("a"), ord("z")), (0x80, 0xBF)):
        table[lo : hi + 1] = 0
    return table


SPACE_LIKE = _space_like_table()


WORD_BLOCK = 1 << 17  # bytes classified per step: its scratch stays in L2, reused


def word_bytes(data: np.ndarray) -> np.ndarray:
    """Bool per byte: not space-like (`~SPACE_LIKE[data]`, computed without the table).

    A 256-entry gather (`table[data]`) runs at ~2 ns per byte; three range tests in
    wrapping uint8 arithmetic are SIMD passes, about 4x faster. They run a block at a
    time into one output, with two scratch blocks reused: full-size temporaries would be
    four fresh allocations per call, whose page faults in a fresh process cost more than
    the arithmetic (the space rule on 44 MB in fresh processes: 138-146 ms with them,
    87-110 ms without).
    """
    n = data.shape[0]
    word = np.empty(n, dtype=bool)
    x = np.empty(min(n, WORD_BLOCK), dtype=np.uint8)
    t = np.empty(min(n, WORD_BLOCK), dtype=bool)
    for i in range(0, n, WORD_BLOCK):
        d, w = data[i : i + WORD_BLOCK], word[i : i + WORD_BLOCK]
        xb, tb = x[: len(d)], t[: len(d)]
        np.subtract(d, 48, out=xb, dtype=np.uint8)  # '0'..'9' -> 0..9
        np.less(xb, 10, out=w)
        np.bitwise_or(d, 32, out=xb)  # 'A'..'Z' -> 'a'..'z'
        np.subtract(xb, 97, out=xb)  # 'a'..'z' -> 0..25
        np.less(xb, 26, out=tb)
        w |= tb
        np.bitwise_and(d, 0xC0, out=xb)  # 0x80..0xBF: UTF-8 continuation bytes
        np.equal(xb, 0x80, out=tb)
        w |= tb
    return word


def space_lengths_numpy(data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Uncapped space-rule patch lengths (int32) and per-document patch offsets (int64).

    Byte t starts a patch when it is a document's first byte, or when byte t-1 is
    space-like and byte t-2 is not (byte t-2 before a document is BOS, space-like).
    """
    n = data.shape[0]
    offsets = np.asarray(offsets, dtype=np.int64)
    if n == 0:
        return np.zeros(0, dtype=np.int32), np.zeros(len(offsets), dtype=np.int64)
    word = word_bytes(data)  # letters, digits, continuation bytes
    starts = np.empty(n, dtype=bool)
    starts[:2] = False
    if n > 2:
        np.greater(word[:-2], word[1:-1], out=starts[2:])  # t-2 is a word byte, t-1 space-like
    del word
    lo = offsets[:-1]
    nonempty = offsets[1:] > lo
    second = lo + 1
    starts[second[second < offsets[1:]]] = False  # byte 1 follows BOS: never a start
    starts[lo[nonempty]] = True
    positions = np.flatnonzero(starts)
    lengths = np.empty(len(positions), dtype=np.int32)
    if len(positions):
        np.subtract(positions[1:], positions[:-1], out=lengths[:-1], casting="unsafe")
        lengths[-1] = n - positions[-1]
        # The last patch of a document ends at the document's end, not at the next start.
        patch_offsets = np.searchsorted(positions, offsets)
        ends = patch_offsets[1:][nonempty] - 1
        lengths[ends] = (offsets[1:][nonempty] - positions[ends]).astype(np.int32)
    else:
        patch_offsets = np.zeros(len(offsets), dtype=np.int64)
    return lengths, patch_offsets.astype(np.int64, copy=False)


def space_starts_numpy(data: np.ndarray) -> np.ndarray:
    """Start flags (uint8) of one document under the space rule (the windowed path's input)."""
    n = data.shape[0]
    starts = np.zeros(n, dtype=np.uint8)
    if n == 0:
        return starts
    word = word_bytes(data)
    if n > 2:
        np.greater(word[:-2], word[1:-1], out=starts[2:].view(bool))
    starts[0] = 1
    return starts
