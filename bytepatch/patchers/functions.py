"""The three public patch functions (one document each), thin wrappers over the kernels."""

from __future__ import annotations

import math

import numpy as np

from bytepatch import kernels  # lazy: each kernel module (and Numba) loads on first use
from bytepatch.patchers.base import as_uint8, check_max_patch_length, single

INT64_MAX = np.iinfo(np.int64).max  # the kernels' integers


def check_entropies(entropies: np.ndarray) -> np.ndarray:
    """A 1-D float array of finite entropies (float16 is widened; the kernel has no f16)."""
    h = np.asarray(entropies)
    if h.ndim != 1:
        raise ValueError(f"entropies must be 1-D (one value per byte), got shape {h.shape}")
    if h.dtype.kind != "f":
        raise TypeError(f"entropies must be a float array, got {h.dtype}")
    if h.dtype == np.float16:
        h = h.astype(np.float32)
    if not np.all(np.isfinite(h)):
        bad = int(np.flatnonzero(~np.isfinite(h))[0])
        raise ValueError(f"entropies must be finite; byte {bad} has {float(h[bad])}")  # not np.float64(nan)
    return np.ascontiguousarray(h)


def check_thresholds(threshold: float | None, threshold_add: float | None) -> None:
    if threshold is None and threshold_add is None:
        raise ValueError("entropy patching needs `threshold`, `threshold_add`, or both")
    for name, value in (("threshold", threshold), ("threshold_add", threshold_add)):
        if value is None:
            continue
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{name} must be a number (nats) or None, got {value!r}")
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an int beyond any float
            finite = False
        if not finite:
            raise ValueError(f"{name} must be a finite number, got {value!r}")


def entropy_patch_lengths(
    entropies: np.ndarray,
    threshold: float | None = None,
    threshold_add: float | None = None,
    max_patch_length: int | None = None,
) -> np.ndarray:
    """Patch lengths of one document from its per-byte entropies (nats, docs/design.md §2-3).

    `threshold` alone is the global rule (`h[t] > threshold`), `threshold_add` alone the
    relative rule (`h[t] - h[t-1] > threshold_add`), both together require both.
    """
    h = check_entropies(entropies)
    check_thresholds(threshold, threshold_add)
    check_max_patch_length(max_patch_length)
    offsets = single(h.shape[0])
    starts = kernels.entropy_starts(
        h,
        offsets,
        float(threshold) if threshold is not None else 0.0,
        float(threshold_add) if threshold_add is not None else 0.0,
        threshold is not None,
        threshold_add is not None,
    )
    return kernels.starts_to_lengths(starts, offsets, max_patch_length or 0)[0]


def space_patch_lengths(data: bytes | np.ndarray, max_patch_length: int | None = None) -> np.ndarray:
    """Patch lengths of one document under the space rule (SpaceByte/BLT, docs/design.md §3)."""
    arr = as_uint8(data)
    check_max_patch_length(max_patch_length)
    offsets = single(arr.shape[0])
    return kernels.apply_cap(*kernels.space_lengths(arr, offsets), max_patch_length or 0)[0]


def stride_patch_lengths(n_bytes: int, stride: int) -> np.ndarray:
    """Patch lengths of an `n_bytes` document cut every `stride` bytes (MegaByte-style)."""
    check_stride(stride)
    if isinstance(n_bytes, bool) or not isinstance(n_bytes, (int, np.integer)) or not 0 <= n_bytes <= INT64_MAX:
        raise ValueError(f"n_bytes must be a non-negative integer (at most 2**63 - 1), got {n_bytes!r}")
    offsets = single(int(n_bytes))
    return kernels.starts_to_lengths(kernels.stride_starts(offsets, int(stride)), offsets, 0)[0]


def check_stride(stride: int) -> None:
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or not 1 <= stride <= INT64_MAX:
        raise ValueError(f"stride must be a positive integer (at most 2**63 - 1), got {stride!r}")
