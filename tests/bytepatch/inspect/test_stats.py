"""LengthHistogram and DatasetStats against plain NumPy on the same numbers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from bytepatch.inspect.histogram import histogram_svg, histogram_text
from bytepatch.stats import LengthHistogram, batch_stats


@pytest.mark.parametrize("seed", range(5))
def test_quantiles_match_numpy_when_merged_batch_by_batch(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lengths = rng.geometric(0.2, size=int(rng.integers(1, 3000)))
    hist = LengthHistogram()
    for part in np.array_split(lengths, 7):
        hist.add(part)
    assert hist.total == len(lengths)
    for q in (0.0, 0.5, 0.9, 0.99, 1.0):
        assert hist.quantile(q) == pytest.approx(np.quantile(lengths, q))


def test_bins_are_exact_then_doubling_and_skip_empty_tail() -> None:
    hist = LengthHistogram()
    hist.add(np.array([1, 1, 3, 16, 17, 40, 1000]))
    bins = hist.bins()
    assert bins[:3] == [(1, 1, 2), (2, 2, 0), (3, 3, 1)]
    # the last range ends at the longest patch
    assert bins[15:] == [(16, 16, 1), (17, 32, 1), (33, 64, 1), (513, 1000, 1)]
    assert sum(c for *_, c in bins) == 7


def test_small_histograms_stop_at_the_longest_patch() -> None:
    hist = LengthHistogram()
    hist.add(np.array([4, 4, 4, 2]))
    assert hist.bins() == [(1, 1, 0), (2, 2, 1), (3, 3, 0), (4, 4, 3)]


def test_batch_stats_counts() -> None:
    batch = pa.record_batch(
        {
            "bytes": pa.array([b"abcd", b"", b"xyz"], type=pa.large_binary()),
            "patch_lengths": pa.array([[1, 3], [], [3]], type=pa.list_(pa.int32())),
        }
    )
    s = batch_stats([batch, batch]).to_dict()
    assert (s["documents"], s["empty_documents"], s["bytes"], s["patches"]) == (6, 2, 14, 6)
    assert s["patch_size"] == {"mean": 14 / 6, "median": 3.0, "p99": 3.0, "min": 1, "max": 3}
    assert s["length_counts"] == {"1": 2, "3": 4}


def test_empty_stats() -> None:
    s = batch_stats([]).to_dict()
    assert s["patches"] == 0 and s["histogram"] == []
    assert "no patches" in histogram_text([])


def test_only_empty_documents_have_no_patch_size_not_zeros() -> None:
    """No patches: every patch size is null in JSON and n/a in the reports (0 would read as a measurement)."""
    import xml.etree.ElementTree as ET

    from bytepatch.inspect.report import stats_page, stats_svg, stats_text

    batch = pa.record_batch(
        {
            "bytes": pa.array([b"", b""], type=pa.large_binary()),
            "patch_lengths": pa.array([[], []], pa.list_(pa.int32())),
        }
    )
    s = batch_stats([batch]).to_dict()
    assert s["patch_size"] == {"mean": None, "median": None, "p99": None, "min": None, "max": None}
    text = stats_text("ds", s)
    assert "patch size     n/a (no patches)" in text and "0.00" not in text
    page = stats_page("ds", s)
    assert "n/a (no patches)" in page and "0.00" not in page
    svg = ET.fromstring(stats_svg(s))
    assert "no patches" in "".join(svg.itertext())


def test_text_bars_scale_to_the_largest_bin() -> None:
    lines = histogram_text([(1, 1, 10), (2, 2, 5), (3, 4, 0)], width=8).splitlines()
    assert lines[0].split("\u2502")[1].startswith("\u2588" * 8)
    assert lines[1].split("\u2502")[1].startswith("\u2588" * 4 + " ")
    assert "3-4" in lines[2] and "0.0%" in lines[2]


def test_histogram_svg_has_one_bar_per_bin() -> None:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(histogram_svg([(1, 1, 10), (2, 2, 5), (3, 4, 0)]))
    assert len(list(root.iter("{http://www.w3.org/2000/svg}rect"))) == 3


def test_report_shows_model_and_calibration_from_metadata() -> None:
    from bytepatch.inspect.report import stats_text

    batch = pa.record_batch(
        {
            "bytes": pa.array([b"abcd"], type=pa.large_binary()),
            "patch_lengths": pa.array([[1, 3]], type=pa.list_(pa.int32())),
        }
    )
    metadata = {
        "patcher": {"patcher": "entropy", "threshold": 1.335442066192627, "threshold_add": None},
        "entropy_model": {"name": "default", "kind": "ngram", "fingerprint": "ab" * 32},
        "calibration": {"target_patch_size": 6.0, "threshold": 1.335442066192627, "rule": "global"},
    }
    text = stats_text("ds", batch_stats([batch], metadata).to_dict())
    assert "entropy (threshold=1.335)" in text
    assert "default (ngram, fingerprint abababababababab...)" in text
    assert "target 6.0 -> threshold 1.335" in text
