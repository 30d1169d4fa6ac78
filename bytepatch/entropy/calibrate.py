"""Threshold calibration: the threshold that gives a target mean patch size (DESIGN §4).

Users think in mean patch size (bytes per patch), models in nats. Mean patch size is a
monotone step function of the threshold, so the search is a bisection between the
smallest and largest candidate value, measured with the public patch function itself
(`bytepatch.entropy_patch_lengths`), so calibration and patching can never disagree.

Rules: "global" searches `threshold` (h[t] > threshold), "relative" searches
`threshold_add` (h[t] - h[t-1] > threshold_add), "both" searches the global
`threshold` while holding `threshold_add` fixed (default 0.0: a patch starts only
where entropy is high *and* rising). With "both" the relative condition caps how many
patches there can be, so small targets may be out of reach; that is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bytepatch import entropy_patch_lengths

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


def mean_patch_size(
    entropies: Sequence[np.ndarray],
    threshold: float | None = None,
    threshold_add: float | None = None,
    max_patch_length: int | None = None,
) -> float:
    """Total bytes / total patches over the documents (empty documents count for nothing)."""
    n_bytes = n_patches = 0
    for h in entropies:
        if len(h) == 0:
            continue
        n_bytes += len(h)
        n_patches += len(entropy_patch_lengths(h, threshold, threshold_add, max_patch_length))
    if n_patches == 0:
        raise ValueError("calibration needs at least one non-empty document")
    return n_bytes / n_patches


def calibrate_threshold(
    entropies: Sequence[np.ndarray],
    target_patch_size: float,
    rule: str = "global",
    threshold_add: float = 0.0,
    max_patch_length: int | None = None,
    tolerance: float = 0.02,
) -> Calibration:
    """Find the threshold whose mean patch size on `entropies` is `target_patch_size`.

    Raises ValueError when the target cannot be reached within `tolerance` (relative),
    e.g. a sample too small or too uniform to have that many distinct patch counts.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if not target_patch_size >= 1.0:
        raise ValueError(f"target patch size must be >= 1 byte, got {target_patch_size}")
    hs = [np.asarray(h, dtype=np.float32) for h in entropies if len(h)]
    if not hs:
        raise ValueError("calibration needs at least one non-empty document")
    candidates = np.concatenate([np.diff(h) if rule == "relative" else h[1:] for h in hs])

    def size(value: float) -> float:
        if rule == "global":
            return mean_patch_size(hs, value, None, max_patch_length)
        if rule == "relative":
            return mean_patch_size(hs, None, value, max_patch_length)
        return mean_patch_size(hs, value, threshold_add, max_patch_length)

    def result(value: float, achieved: float) -> Calibration:
        return Calibration(
            rule=rule,
            threshold=None if rule == "relative" else value,
            threshold_add=value if rule == "relative" else (threshold_add if rule == "both" else None),
            mean_patch_size=achieved,
            target=float(target_patch_size),
        )

    if len(candidates) == 0:  # only 1-byte documents: nothing to choose
        raise ValueError("calibration needs documents longer than one byte")
    # Below every candidate, every eligible byte starts a patch; at the max none does.
    lo, hi = float(np.min(candidates)) - 1.0, float(np.max(candidates))
    size_lo, size_hi = size(lo), size(hi)
    if not size_lo <= target_patch_size <= size_hi:
        raise ValueError(
            f"target mean patch size {target_patch_size} is outside what rule {rule!r} reaches "
            f"on this sample ({size_lo:.3f} .. {size_hi:.3f} bytes)"
        )
    # Bisection on the threshold: mean patch size is non-decreasing in it.
    best = min(((lo, size_lo), (hi, size_hi)), key=lambda vs: abs(vs[1] - target_patch_size))
    for _ in range(64):
        mid = float(np.float32(0.5 * (lo + hi)))
        if mid in (lo, hi):
            break
        s = size(mid)
        if abs(s - target_patch_size) < abs(best[1] - target_patch_size):
            best = (mid, s)
        if abs(s - target_patch_size) <= 1e-4 * target_patch_size:
            break
        if s < target_patch_size:
            lo = mid
        else:
            hi = mid
    value, achieved = best
    if abs(achieved - target_patch_size) > tolerance * target_patch_size:
        raise ValueError(
            f"no threshold gives mean patch size {target_patch_size} within {tolerance:.0%} on this sample "
            f"(closest: {achieved:.3f} at {value:.6g}); use a larger sample"
        )
    return result(value, achieved)
