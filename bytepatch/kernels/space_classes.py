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


def _word_block(d: np.ndarray, w: np.ndarray, x: np.ndarray, t: np.ndarray) -> None:
    """`w` = the word bytes of block `d`: not space-like (`~SPACE_LIKE[d]`, computed
    without the table; `x`, `t`: scratch at least as long).

    A 256-entry gather (`table[data]`) runs at ~2 ns per byte; three range tests in
    wrapping uint8 arithmetic are SIMD passes, about 4x faster. They run on L2-sized
    blocks with reused scratch: full-size temporaries are fresh allocations whose page
    faults in a fresh process cost more than the arithmetic (the space rule on 44 MB in
    fresh processes: 138-146 ms with four of them, 87-110 ms without).
    """
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


def rule_starts(data: np.ndarray) -> np.ndarray:
    """Bool per byte: the rule's patch starts ignoring document boundaries (byte t-2 a
    word byte, byte t-1 space-like; bytes 0 and 1 never). The word bytes are computed a
    block at a time with two bytes of look-behind, so no full-size word array exists."""
    n = data.shape[0]
    starts = np.empty(n, dtype=bool)
    m = min(n, WORD_BLOCK)
    w = np.zeros(m + 2, dtype=bool)  # word bytes of a block, after the previous block's last two
    x = np.empty(m, dtype=np.uint8)
    t = np.empty(m, dtype=bool)
    for i in range(0, n, WORD_BLOCK):
        d = data[i : i + WORD_BLOCK]
        k = len(d)
        _word_block(d, w[2 : 2 + k], x, t)
        np.greater(w[:k], w[1 : k + 1], out=starts[i : i + k])  # before byte 0: two non-word bytes
        w[:2] = w[k : k + 2]
    return starts


def _flat_positions(flags: np.ndarray) -> np.ndarray:
    """`np.flatnonzero(flags)` as int32 where positions fit, found a block at a time: the
    int64 array of all positions would be 8 bytes per patch, fresh memory each group."""
    n = flags.shape[0]
    dtype = np.int32 if n < 2**31 else np.int64
    out = np.empty(n, dtype=dtype)  # an upper bound: only the pages written are touched
    k = 0
    for i in range(0, n, WORD_BLOCK):
        found = np.flatnonzero(flags[i : i + WORD_BLOCK])
        np.add(found, i, out=out[k : k + len(found)], casting="unsafe")
        k += len(found)
    return out[:k]


def space_lengths_numpy(data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Uncapped space-rule patch lengths (int32) and per-document patch offsets (int64).

    Byte t starts a patch when it is a document's first byte, or when byte t-1 is
    space-like and byte t-2 is not (byte t-2 before a document is BOS, space-like).
    """
    n = data.shape[0]
    offsets = np.asarray(offsets, dtype=np.int64)
    if n == 0:
        return np.zeros(0, dtype=np.int32), np.zeros(len(offsets), dtype=np.int64)
    starts = rule_starts(data)
    lo = offsets[:-1]
    nonempty = offsets[1:] > lo
    second = lo + 1
    starts[second[second < offsets[1:]]] = False  # byte 1 follows BOS: never a start
    starts[lo[nonempty]] = True
    positions = _flat_positions(starts)
    del starts
    lengths = np.empty(len(positions), dtype=np.int32)
    if len(positions):
        np.subtract(positions[1:], positions[:-1], out=lengths[:-1], casting="unsafe")
        lengths[-1] = n - positions[-1]
        # The last patch of a document ends at the document's end, not at the next start.
        patch_offsets = np.searchsorted(positions, offsets.astype(positions.dtype))
        ends = patch_offsets[1:][nonempty] - 1
        lengths[ends] = (offsets[1:][nonempty] - positions[ends]).astype(np.int32)
    else:
        patch_offsets = np.zeros(len(offsets), dtype=np.int64)
    return lengths, patch_offsets.astype(np.int64, copy=False)


def space_starts_numpy(data: np.ndarray) -> np.ndarray:
    """Start flags (uint8) of one document under the space rule (the windowed path's input)."""
    if data.shape[0] == 0:
        return np.zeros(0, dtype=np.uint8)
    starts = rule_starts(data).view(np.uint8)
    starts[0] = 1
    return starts
