"""Terminal, HTML and SVG renderers of a PatchView (no CLI, no model)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from bytepatch import EntropyPatcher, EntropyPatcherConfig, SpacePatcher, StridePatcher, StridePatcherConfig
from bytepatch.inspect import (
    PatchView,
    build_view,
    entropy_svg,
    inspect_page,
    render_color,
    render_listing,
    render_plain,
    unescape,
)
from bytepatch.inspect.svg import byte_labels, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_plain_view_reproduces_the_patches() -> None:
    data = "Hello wörld | a\\b\n\xff".encode("utf-8", errors="surrogateescape") + b"\xfe\x00"
    view = build_view(data, SpacePatcher())
    out = render_plain(view)
    assert "\x1b" not in out
    assert unescape(out) == [p.data for p in view]
    assert b"".join(unescape(out)) == data


def test_color_view_alternates_backgrounds_and_is_the_text_without_codes() -> None:
    view = build_view(b"one two three", SpacePatcher())
    out = render_color(view)
    backgrounds = re.findall(r"\x1b\[48;5;(\d+)m", out)
    assert backgrounds == ["153", "223", "153"]
    assert ANSI.sub("", out) == "one two three"
    assert "|" not in out


def test_color_view_marks_newlines_and_escapes() -> None:
    out = ANSI.sub("", render_color(build_view(b"a\nb\xff", StridePatcher(StridePatcherConfig(2)))))
    assert out == "a\u21b5\nb\\xff"


def test_listing_has_one_row_per_patch_with_entropy() -> None:
    h = np.array([3.0, 0.5, 2.0, 0.1], dtype=np.float32)
    view = build_view(b"abcd", EntropyPatcher(EntropyPatcherConfig(threshold=1.0)), h)
    rows = render_listing(view).splitlines()
    assert rows[0].split() == ["#", "offset", "len", "h[0]", "text"]
    assert [r.split() for r in rows[1:]] == [["0", "0", "2", "3.000", "'ab'"], ["1", "2", "2", "2.000", "'cd'"]]


def test_view_refuses_lengths_that_do_not_cover_the_document() -> None:
    with pytest.raises(ValueError, match="sum to"):
        PatchView(b"abc", np.array([1, 1], dtype=np.int32))


def _golden_view(golden: dict) -> PatchView:
    return build_view(golden["doc"], EntropyPatcher(), golden["entropies"])


def test_entropy_svg_parses_with_one_point_per_byte_and_the_threshold(golden: dict) -> None:
    view = _golden_view(golden)
    root = ET.fromstring(entropy_svg(view))
    assert root.tag == SVG + "svg"
    (line,) = root.iter(SVG + "polyline")
    points = line.get("points").split()
    assert len(points) == len(golden["doc"])
    ys = np.array([float(p.split(",")[1]) for p in points])
    (threshold,) = [e for e in root.iter(SVG + "line") if e.get("class") == "threshold"]
    y_t = float(threshold.get("y1"))
    # a byte is above the threshold line exactly when its entropy exceeds the threshold
    assert np.array_equal(ys < y_t, golden["entropies"] > view.threshold)
    starts = [e for e in root.iter(SVG + "line") if e.get("class") == "patch-start"]
    assert len(starts) == len(view.lengths)
    dots = [e for e in root.iter(SVG + "circle") if "start" in e.get("class").split()]
    assert len(dots) == len(view.lengths)


def test_entropy_svg_has_no_threshold_line_for_the_relative_rule(golden: dict) -> None:
    patcher = EntropyPatcher(EntropyPatcherConfig(threshold=None, threshold_add=0.5))
    root = ET.fromstring(entropy_svg(build_view(golden["doc"], patcher, golden["entropies"])))
    assert not [e for e in root.iter(SVG + "line") if e.get("class") == "threshold"]


def test_entropy_svg_needs_entropies() -> None:
    with pytest.raises(ValueError, match="no entropies"):
        entropy_svg(build_view(b"abc", SpacePatcher()))


def test_byte_labels_one_per_byte() -> None:
    assert byte_labels("a é\n".encode() + b"\xff\x01") == ["a", "\u2423", "é", "", "\u21b5", "\ufffd", "\u00b7"]


@pytest.mark.parametrize("top, last", [(1.0, 1.0), (5.545, 6.0), (3.0, 3.0), (1234.0, 1500.0), (7.0, 8.0)])
def test_nice_ticks_reach_the_top(top: float, last: float) -> None:
    ticks = nice_ticks(top)
    assert ticks[0] == 0 and ticks[-1] == pytest.approx(last) and 3 <= len(ticks) <= 8


def test_html_page_is_self_contained_and_escapes_the_text(golden: dict) -> None:
    view = build_view(b"<script>alert(1)</script> \xff", SpacePatcher())
    page = inspect_page(view)
    assert "<script" not in page.lower()
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "&lt;script&gt;" in page and "\\xff" in page
    page = inspect_page(_golden_view(golden))
    assert page.count("<svg") == 1 and "<script" not in page.lower()
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert page.count('<i title="#') + page.count('<b title="#') == len(_golden_view(golden).lengths)


def test_html_header_and_settings_escape_control_and_bidi_characters() -> None:
    """A file name or row id is text from outside: an ESC or a bidi override in it must not
    reach the page raw (the document text, the plot labels and the terminal escape them)."""
    view = build_view(b"ab", SpacePatcher(), extra={"id": "<s>\x1b[31m\u202e&\u200b"})
    page = inspect_page(view, "bytepatch inspect: esc\x1b[31mred\u202eRTL")
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069\u200b]", page)
    assert "<title>bytepatch inspect: esc\\e[31mred\\u202eRTL</title>" in page
    assert "<h1>bytepatch inspect: esc\\e[31mred\\u202eRTL</h1>" in page
    assert "<td>id</td><td>&lt;s&gt;\\e[31m\\u202e&amp;\\u200b</td>" in page


def test_an_empty_document_has_no_mean_patch_size() -> None:
    view = build_view(b"", SpacePatcher())
    assert view.mean_patch_size is None
    assert view.summary().startswith("0 bytes, 0 patches (mean n/a);")
    assert "<td>mean patch size</td><td>n/a (no patches)</td>" in inspect_page(view)


def test_the_summary_counts_one_byte_and_one_patch_in_the_singular() -> None:
    assert build_view(b"a", SpacePatcher()).summary().startswith("1 byte, 1 patch (mean 1.00 bytes/patch);")
    assert build_view(b"ab cd", SpacePatcher()).summary().startswith("5 bytes, 2 patches (")
