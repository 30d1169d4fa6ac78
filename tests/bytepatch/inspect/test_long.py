"""Long inputs: a bounded HTML size per input byte, a summarised plot, windows, clear axes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from bytepatch import EntropyPatcher, EntropyPatcherConfig, StridePatcher, StridePatcherConfig
from bytepatch.inspect import build_view, entropy_svg, inspect_page, render_listing, render_plain, unescape
from bytepatch.inspect.histogram import histogram_svg
from bytepatch.inspect.svg import CHAR_PX, DETAIL_MAX, SUMMARY_COLUMNS

SVG = "{http://www.w3.org/2000/svg}"
LINES = [
    "Grüße aus Köln, die Straße ist naß. ",
    "中文的内核代码风格要求缩进为八个字符。",
    "emoji 😀🎉🚀 in a sentence. ",
    "שלום עולם, מה שלומך? ",
    "def patch(data: bytes) -> list[int]:\n    return [len(data)]\n",
]


def corpus(n_bytes: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    out = bytearray()
    while len(out) < n_bytes:
        out += LINES[int(rng.integers(len(LINES)))].encode()
    return bytes(out[:n_bytes])


def entropy_view(data: bytes):
    # A stand-in entropy signal with realistic patch sizes (the plot does not care where it came from).
    rng = np.random.default_rng(1)
    h = rng.gamma(2.0, 0.8, size=len(data)).astype(np.float32)
    return build_view(data, EntropyPatcher(EntropyPatcherConfig(threshold=2.0)), h)


def test_html_of_a_200kb_document_stays_under_30_bytes_per_input_byte() -> None:
    data = corpus(200_000)
    view = entropy_view(data)
    assert 2.5 < view.mean_patch_size < 5  # like the shipped model on prose
    page = inspect_page(view).encode()
    assert len(page) / len(data) <= 30, f"{len(page) / len(data):.1f} bytes of HTML per input byte"


def test_long_documents_get_a_summarised_plot_with_axis_titles() -> None:
    view = entropy_view(corpus(50_000))
    root = ET.fromstring(entropy_svg(view))
    assert float(root.get("width")) < SUMMARY_COLUMNS + 200  # a fixed width, not one point per byte
    (band,) = [e for e in root.iter(SVG + "polygon") if e.get("class") == "band"]
    (mean,) = root.iter(SVG + "polyline")
    assert len(mean.get("points").split()) <= SUMMARY_COLUMNS
    texts = ["".join(t.itertext()) for t in root.iter(SVG + "text")]
    assert "entropy (nats)" in texts and any(t.startswith("byte offset") for t in texts)
    assert "50,000" in texts or "40,000" in texts  # x ticks in byte offsets
    assert band.get("points")


def test_short_documents_keep_one_point_per_byte_with_offsets() -> None:
    view = entropy_view(corpus(300))
    root = ET.fromstring(entropy_svg(view))
    (line,) = root.iter(SVG + "polyline")
    assert len(line.get("points").split()) == 300 <= DETAIL_MAX
    texts = ["".join(t.itertext()) for t in root.iter(SVG + "text")]
    assert {"0", "100", "290"} <= set(texts)


@pytest.mark.parametrize("offset, length", [(0, 50), (1000, 333), (4321, 0), (17, 1)])
def test_a_window_shows_the_documents_own_patches(offset: int, length: int) -> None:
    data = corpus(6_000)
    whole = entropy_view(data)
    window = whole.window(offset, length)
    starts = whole.offsets.tolist()
    assert window.origin in starts and window.origin <= offset  # starts with the patch holding offset
    stop = offset + length if length else len(data)
    assert window.origin + len(window.data) == stop
    assert window.data == data[window.origin : stop]
    whole_patches = {(p.index, p.offset): p.data for p in whole}
    shown = list(window)
    for p in shown[:-1]:  # all but the last (cut at the window's end) are the document's patches
        assert whole_patches[(p.index, p.offset)] == p.data
    assert b"".join(unescape(render_plain(window))) == window.data
    assert render_listing(window).splitlines()[1].split()[:2] == [str(window.first_index), str(window.origin)]


def test_window_past_the_end_is_an_error() -> None:
    view = build_view(b"abc", StridePatcher(StridePatcherConfig(2)))
    with pytest.raises(ValueError, match="past the end"):
        view.window(3, 10)


def test_histogram_axis_title_and_tick_labels_never_collide_or_clip() -> None:
    root = ET.fromstring(histogram_svg([(1, 1, 4_000_000), (2, 2, 1_200_000), (3, 3, 5)]))
    ticks = [t for t in root.iter(SVG + "text") if t.get("text-anchor") == "end" and "transform" not in t.attrib]
    assert "4,000,000" in ["".join(t.itertext()) for t in ticks]
    left_edges = [float(t.get("x")) - len("".join(t.itertext())) * CHAR_PX for t in ticks]
    (title,) = [t for t in root.iter(SVG + "text") if "rotate(-90)" in t.get("transform", "")]
    title_x = float(re.match(r"translate\(([\d.]+),", title.get("transform")).group(1))
    assert min(left_edges) > title_x + 4  # the rotated title sits left of every tick label
    assert title_x - 12 >= 0  # and inside the picture
