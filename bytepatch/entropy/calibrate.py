"""Threshold calibration: the threshold that gives a target mean patch size (docs/design.md §4).

Users think in mean patch size (bytes per patch), models in nats. The patch count is a
non-increasing step function of the threshold whose steps sit at the candidate values
(h[t] for t >= 1, or h[t] - h[t-1] for the relative rule), so the search runs over the
sorted distinct candidates, never over floats: every reachable patch count is tried
once at most, and the chosen threshold sits midway between two neighbouring
candidates (robust to float rounding of the entropies it is later applied to).

The sample is flattened once (one float32 array plus offsets). For the global and
relative rules without a cap the count is closed-form, patches = non-empty documents +
#(candidates > threshold), read off the sorted array with `searchsorted`. Otherwise
(global + relative, or a max patch length) each search step is one call of the same
ragged kernels the patchers use (`bytepatch.kernels.entropy_starts`, then
`starts_to_lengths` for a cap), so calibration and patching can never disagree.

Rules: "global" searches `threshold` (h[t] > threshold), "relative" searches
`threshold_add` (h[t] - h[t-1] > threshold_add), "both" searches the global
`threshold` while holding `threshold_add` fixed (default 0.0: a patch starts only
where entropy is high *and* rising). With "both" the relative condition caps how many
patches there can be, so small targets may be out of reach; that is reported.
"""

from __future__ import annotations

import math

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bytepatch import kernels  # lazy: Numba loads on first use

RULES = ("global", "relative", "both")


@dataclass(frozen=True)
class Calibration:
    """The outcome of a calibration: apply `threshold` and `threshold_add` as given."""

    rule: str
    threshold: float | None  # global threshold (None for the relative rule)
    threshold_add: float | None  # relative threshold (None for the global rule)
    mean_patch_size: float  # achieved on the sample
    target: float

    @property
    def searched(self) -> float:
        """The value the search chose (the global threshold unless the rule is relative)."""
        value = self.threshold_add if self.rule == "relative" else self.threshold
        assert value is not None
        return value


def _flatten(entropies: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The non-empty documents' entropies as one float32 array plus int64 offsets."""
    hs = [np.asarray(h, dtype=np.float32).ravel() for h in entropies if len(h)]
    if not hs:
        raise ValueError("calibration needs at least one non-empty document")
    offsets = np.zeros(len(hs) + 1, dtype=np.int64)
    np.cumsum([len(h) for h in hs], out=offsets[1:])
    return np.concatenate(hs), offsets


def _patch_count(
    values: np.ndarray, offsets: np.ndarray, threshold: float | None, threshold_add: float | None, cap: int | None
) -> int:
    """Patches of the flattened sample under the rule: one ragged kernel call (two with a cap)."""
    starts = kernels.entropy_starts(
        values,
        offsets,
        0.0 if threshold is None else float(threshold),
        0.0 if threshold_add is None else float(threshold_add),
        threshold is not None,
        threshold_add is not None,
    )
    if cap:
        return len(kernels.starts_to_lengths(starts, offsets, cap)[0])
    return int(np.count_nonzero(starts))


def mean_patch_size(
    entropies: Sequence[np.ndarray],
    threshold: float | None = None,
    threshold_add: float | None = None,
    max_patch_length: int | None = None,
) -> float:
    """Total bytes / total patches over the documents (empty documents count for nothing)."""
    values, offsets = _flatten(entropies)
    return len(values) / _patch_count(values, offsets, threshold, threshold_add, max_patch_length)


def calibrate_threshold(
    entropies: Sequence[np.ndarray],
    target_patch_size: float,
    rule: str = "global",
    threshold_add: float = 0.0,
    max_patch_length: int | None = None,
    tolerance: float = 0.02,
) -> Calibration:
    """Find the threshold whose mean patch size on `entropies` is `target_patch_size`.

    Returns the reachable mean patch size closest to the target. Raises ValueError when
    the target is out of reach or not hit within `tolerance` (relative), e.g. a sample
    too small or too uniform to have that many distinct patch counts.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if not target_patch_size >= 1.0:
        raise ValueError(f"target patch size must be >= 1 byte, got {target_patch_size}")
    if not math.isfinite(threshold_add):  # nan made every search range empty, reported as out of reach
        raise ValueError(f"threshold_add must be a finite number, got {threshold_add}")
    values, offsets = _flatten(entropies)
    n_bytes, n_docs = len(values), len(offsets) - 1
    inner = np.ones(n_bytes, dtype=bool)  # bytes t >= 1 of their document: the candidates
    inner[offsets[:-1]] = False
    if rule == "relative":  # differences in float64, as the patch kernel computes them
        h64 = values.astype(np.float64)
        candidates = (h64[1:] - h64[:-1])[inner[1:]]
    else:
        candidates = values[inner]
    if len(candidates) == 0:  # only 1-byte documents: nothing to choose
        raise ValueError("calibration needs documents longer than one byte")
    uniq, n_equal = np.unique(candidates, return_counts=True)  # sorted: the one sort of the search
    uniq = uniq.astype(np.float64)
    # Option 0: below every candidate; option i >= 1: between uniq[i-1] and uniq[i] (the
    # last: at the maximum). Patch counts are non-increasing in the option index.
    last = len(uniq)

    def option(i: int) -> float:
        if i == 0:
            return float(uniq[0]) - 1.0
        lo = float(uniq[i - 1])
        if i == last:
            return lo
        mid = lo + (float(uniq[i]) - lo) / 2
        return mid if lo < mid < float(uniq[i]) else lo  # `> lo` is what matters; mid is margin

    def as_thresholds(value: float) -> tuple[float | None, float | None]:
        if rule == "global":
            return value, None
        if rule == "relative":
            return None, value
        return value, threshold_add

    if rule in ("global", "relative") and not max_patch_length:  # closed form
        above = len(candidates) - np.concatenate([[0], np.cumsum(n_equal)])  # #(candidates > option i)

        def size(i: int) -> float:
            return n_bytes / (n_docs + int(above[i]))

    else:  # one ragged kernel call per step

        def size(i: int) -> float:
            return n_bytes / _patch_count(values, offsets, *as_thresholds(option(i)), max_patch_length)

    size_lo, size_hi = size(0), size(last)
    if not size_lo <= target_patch_size <= size_hi:
        raise ValueError(
            f"target mean patch size {target_patch_size} is outside what rule {rule!r} reaches "
            f"on this sample ({size_lo:.3f} .. {size_hi:.3f} bytes)"
        )
    # Binary search for the first option whose mean patch size reaches the target.
    lo, hi = 0, last  # size(lo) <= target <= size(hi)
    known = {0: size_lo, last: size_hi}
    while hi - lo > 1:
        m = (lo + hi) // 2
        known[m] = size(m)
        if known[m] < target_patch_size:
            lo = m
        else:
            hi = m
    best = min((lo, hi), key=lambda i: abs(known[i] - target_patch_size))
    value, achieved = option(best), known[best]
    if abs(achieved - target_patch_size) > tolerance * target_patch_size:
        raise ValueError(
            f"no threshold gives mean patch size {target_patch_size} within {tolerance:.0%} on this sample "
            f"(closest: {achieved:.3f} at {value:.6g}); use a larger sample"
        )
    threshold, add = as_thresholds(value)
    return Calibration(
        rule=rule, threshold=threshold, threshold_add=add, mean_patch_size=achieved, target=float(target_patch_size)
    )
