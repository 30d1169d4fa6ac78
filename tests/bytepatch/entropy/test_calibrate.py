"""Threshold calibration hits the target mean patch size (DESIGN §4)."""

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


def test_unreachable_targets_are_reported(entropies):
    with pytest.raises(ValueError, match="outside"):
        calibrate_threshold(entropies, 10_000.0)
    with pytest.raises(ValueError, match="rule"):
        calibrate_threshold(entropies, 4.5, rule="sideways")
    with pytest.raises(ValueError, match="non-empty"):
        calibrate_threshold([np.zeros(0, np.float32)], 4.5)


def test_mean_patch_size_respects_max_patch_length(entropies):
    assert mean_patch_size(entropies, threshold=100.0, max_patch_length=4) <= 4.0
