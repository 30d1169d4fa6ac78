"""Threshold calibration hits the target mean patch size (docs/design.md §4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bytepatch import entropy_patch_lengths
from bytepatch.entropy import calibrate_threshold, load_entropy_model, mean_patch_size

SNIPPET = (Path(__file__).parent / "data" / "snippet.txt").read_bytes()


@pytest.fixture(scope="module")
def entropies() -> list[np.ndarray]:
    lines = [line for line in SNIPPET.split(b"\n") if line] * 3
    return load_entropy_model("default").entropies(lines + [SNIPPET])


@pytest.mark.parametrize(("rule", "target"), [("global", 4.5), ("global", 6.0), ("relative", 4.0), ("both", 8.0)])
def test_calibration_hits_target_within_two_percent(entropies, rule, target):
    result = calibrate_threshold(entropies, target, rule=rule)
    assert abs(result.mean_patch_size - target) <= 0.02 * target
    # The result is what the public patch function gives with those thresholds.
    lengths = [entropy_patch_lengths(h, result.threshold, result.threshold_add) for h in entropies]
    assert sum(map(len, entropies)) / sum(map(len, lengths)) == pytest.approx(result.mean_patch_size)
    if rule == "relative":
        assert result.threshold is None and result.searched == result.threshold_add
    else:
        assert result.searched == result.threshold


def test_larger_target_needs_larger_threshold(entropies):
    small = calibrate_threshold(entropies, 4.0).threshold
    large = calibrate_threshold(entropies, 8.0).threshold
    assert small < large


def test_a_threshold_add_that_is_not_finite_is_refused(entropies):
    with pytest.raises(ValueError, match="threshold_add must be a finite number, got nan"):
        calibrate_threshold(entropies, 6.0, "both", threshold_add=float("nan"))


def test_unreachable_targets_are_reported(entropies):
    with pytest.raises(ValueError, match="outside"):
        calibrate_threshold(entropies, 10_000.0)
    with pytest.raises(ValueError, match="rule"):
        calibrate_threshold(entropies, 4.5, rule="sideways")
    with pytest.raises(ValueError, match="non-empty"):
        calibrate_threshold([np.zeros(0, np.float32)], 4.5)


def test_mean_patch_size_respects_max_patch_length(entropies):
    assert mean_patch_size(entropies, threshold=100.0, max_patch_length=4) <= 4.0


def _exhaustive(hs, target, rule, threshold_add, cap):
    """Every reachable mean patch size, by trying a threshold in every gap of the candidates."""
    cands = np.unique(np.concatenate([np.diff(h.astype(np.float64)) if rule == "relative" else h[1:] for h in hs]))
    tries = np.concatenate([[cands[0] - 1], (cands[:-1] + cands[1:]) / 2, [cands[-1]]])
    sizes = []
    for v in tries:
        t, a = (None, v) if rule == "relative" else (v, threshold_add if rule == "both" else None)
        sizes.append(mean_patch_size(hs, t, a, cap))
    return min(sizes, key=lambda s: abs(s - target))


@pytest.mark.parametrize("rule", ["global", "relative", "both"])
@pytest.mark.parametrize("cap", [None, 5])
def test_calibration_finds_the_closest_reachable_size(rule, cap):
    rng = np.random.default_rng(7)
    hs = [rng.gamma(2.0, 0.7, rng.integers(0, 40)).astype(np.float32) for _ in range(30)]
    hs.append(np.full(6, 1.5, np.float32))  # ties
    target = 3.0 if cap else 3.7
    best = _exhaustive(hs, target, rule, 0.0, cap)
    result = calibrate_threshold(hs, target, rule=rule, max_patch_length=cap, tolerance=1.0)
    assert result.mean_patch_size == pytest.approx(best)
    # ... and that is what the public patch function gives with the returned thresholds.
    assert mean_patch_size(hs, result.threshold, result.threshold_add, cap) == pytest.approx(result.mean_patch_size)


def test_closed_form_agrees_with_the_kernel_search(entropies):
    # max_patch_length larger than any document forces the kernel path with the same answer.
    longest = max(map(len, entropies))
    for rule in ("global", "relative"):
        closed = calibrate_threshold(entropies, 5.0, rule=rule)
        kernel = calibrate_threshold(entropies, 5.0, rule=rule, max_patch_length=longest + 1)
        assert closed.mean_patch_size == kernel.mean_patch_size
        assert closed.searched == kernel.searched


def test_many_short_documents_calibrate():
    # 100k documents: the flattened search handles them (its speed is measured in bench/, not here).
    rng = np.random.default_rng(0)
    hs = [rng.gamma(2.0, 0.8, 80).astype(np.float32) for _ in range(100_000)]  # 8 MB of entropies
    result = calibrate_threshold(hs, 4.5)
    assert abs(result.mean_patch_size - 4.5) < 1e-3
