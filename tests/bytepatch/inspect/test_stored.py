"""Where a stored row's entropies and its stored boundaries disagree (float16 rounding)."""

from __future__ import annotations

import numpy as np

from bytepatch.inspect.stored import disagreements

ENTROPY = {"patcher": "entropy", "threshold": 2.0, "threshold_add": None, "max_patch_length": None}


def test_a_start_below_and_a_crossing_without_a_start_are_both_noted() -> None:
    h = np.array([3.0, 1.0, 1.999, 1.0, 2.001, 1.0], dtype=np.float32)
    lengths = np.array([2, 4], dtype=np.int32)  # a start at byte 2 (h 1.999), none at byte 4 (h 2.001)
    notes = disagreements(lengths, h, ENTROPY, "float16-rounded")
    assert notes == {
        1: "float16-rounded h does not cross the threshold here, yet a patch starts; "
        "byte 4: float16-rounded h crosses the threshold, yet no patch starts"
    }


def test_agreeing_rows_and_max_patch_length_cuts_have_no_notes() -> None:
    h = np.array([3.0, 1.0, 2.5, 1.0, 1.0, 1.0], dtype=np.float32)
    assert disagreements(np.array([2, 4], dtype=np.int32), h, ENTROPY, "stored") == {}
    cut = {**ENTROPY, "max_patch_length": 2}
    assert disagreements(np.array([2, 2, 2], dtype=np.int32), h, cut, "stored") == {}  # byte 4: a cut
    assert disagreements(np.array([2, 4], dtype=np.int32), h, {"patcher": "space"}, "stored") == {}
