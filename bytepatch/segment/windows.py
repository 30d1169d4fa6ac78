"""Patching one very long document in windows, so memory does not scale with it.

A 1 GB document patched in one call would hold its start mask, its float32 entropies
and the model's scratch for every byte at once (several times the document). Here the
document is cut into windows of `window` bytes; each window's boundary decisions need
only a little left context, which every rule bounds:

- entropy: h[t] depends on at most `model.context_length` earlier bytes (docs/design.md §2),
  and the relative rule also needs h[t-1], so a window is scored with that much
  context in front and the context's values are dropped;
- space: whether byte t starts a patch depends on bytes t-2 and t-1;
- stride: on t alone.

Start positions are turned into lengths as windows go (only the open patch carries
over), and `max_patch_length` is applied to the finished lengths, so the result is
exactly what patching the whole document at once gives (tested).
"""

from __future__ import annotations

import numpy as np

from bytepatch import kernels  # lazy: Numba loads on first use
from bytepatch.kernels.space_classes import space_starts_numpy
from bytepatch.patchers import EntropyPatcherConfig, Patcher, SpacePatcherConfig, StridePatcherConfig

INT32_MAX = np.iinfo(np.int32).max
DEFAULT_WINDOW = 4 << 20  # bytes; documents above this are patched window by window (4 MB: the entropy
# model's per-window scratch, several bytes per byte, stays small next to a long document)


def window_starts(
    patcher: Patcher, data: np.ndarray, a: int, b: int, model=None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Start flags for bytes [a, b) of `data` (as if patching the whole document), and
    the entropies of those bytes when the patcher needs them."""
    config = patcher.config
    if isinstance(config, StridePatcherConfig):
        return ((np.arange(a, b) % config.stride) == 0).astype(np.uint8), None
    if isinstance(config, SpacePatcherConfig):
        lo = max(a - 2, 0)
        return space_starts_numpy(data[lo:b])[a - lo :], None  # NumPy: a space run never loads Numba
    if isinstance(config, EntropyPatcherConfig):
        if model is None:
            raise ValueError("the entropy patcher needs an entropy model")
        first = max(a - 1, 0)  # the relative rule compares with h[a-1]
        lo = max(first - int(model.context_length) - 1, 0)
        h = np.asarray(model.entropies([data[lo:b].tobytes()])[0], dtype=np.float32)[first - lo :]
        starts = kernels.entropy_starts(
            h,
            np.array([0, len(h)], dtype=np.int64),
            config.threshold if config.threshold is not None else 0.0,
            config.threshold_add if config.threshold_add is not None else 0.0,
            config.threshold is not None,
            config.threshold_add is not None,
        )
        return starts[a - first :], h[a - first :]
    raise TypeError(f"no windowed rule for {type(config).__name__}")


def patch_long_document(
    patcher: Patcher, data: bytes, model=None, window: int = DEFAULT_WINDOW, keep_entropies: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Patch lengths of one document, `window` bytes at a time; entropies (float16) of
    every byte when `keep_entropies`.

    Lengths are computed in int64: a document (or one patch) may exceed 2^31 bytes, and
    int32 arithmetic would wrap to negative lengths. The result is int32 when every length
    fits (always the case with `max_patch_length`), else int64; storing an int64 length
    the dataset column cannot hold is refused by `check_storable` before writing."""
    arr = np.frombuffer(data, dtype=np.uint8)
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=np.int32), (np.zeros(0, dtype=np.float16) if keep_entropies else None)
    # Worst case every byte is a patch: the buffer is sized for that, but pages never
    # written cost no memory, so lengths take 4 bytes per patch, not per byte, and no
    # list of pieces is concatenated at the end (that would hold them twice).
    out = np.empty(n, dtype=np.int64 if n > INT32_MAX else np.int32)  # int64 only if a length can need it
    kept = np.empty(n, dtype=np.float16) if keep_entropies and patcher.needs_entropies else None
    k = 0
    prev = 0  # start of the open patch
    for a in range(0, n, window):
        b = min(a + window, n)
        starts, h = window_starts(patcher, arr, a, b, model)
        positions = np.flatnonzero(starts) + a
        if a == 0:
            positions = positions[1:]  # byte 0 opens the first patch: `prev` already says so
        if len(positions):
            out[k : k + len(positions)] = np.diff(positions, prepend=prev)  # int64 diff: cannot wrap
            k += len(positions)
            prev = int(positions[-1])
        if kept is not None and h is not None:
            with np.errstate(over="ignore"):  # beyond float16: refused by name (check_storable_entropies)
                kept[a:b] = h
        del starts, h, positions
    out[k] = n - prev
    lengths = _narrow(out[: k + 1])
    cap = getattr(patcher.config, "max_patch_length", None)
    if cap and lengths.max() > cap:
        lengths = kernels.cut_lengths(lengths, np.array([0, len(lengths)], dtype=np.int64), cap)[0]
    return lengths, kept


def _narrow(lengths: np.ndarray) -> np.ndarray:
    """int32 when every length fits (half the memory of int64 for a long document)."""
    return lengths.astype(np.int32) if lengths.dtype != np.int32 and lengths.max() <= INT32_MAX else lengths
