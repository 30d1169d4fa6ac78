"""Views draw each character once, whatever the script and wherever the boundaries fall."""

from __future__ import annotations

import re

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from bytepatch import SpacePatcher, StridePatcher, StridePatcherConfig
from bytepatch.inspect import PatchView, build_view, patched_text_html, render_color, render_listing, render_plain
from bytepatch.inspect import unescape
from bytepatch.inspect.cells import document_cells

ANSI = re.compile(r"\x1b\[[0-9;]*m")
MIXED = "Grüße aus Köln! 中文的内核代码风格 😀🎉 שלום עולם end"


def stride(k: int) -> StridePatcher:
    return StridePatcher(StridePatcherConfig(k))


def test_every_script_is_drawn_whole_in_the_terminal() -> None:
    for patcher in (SpacePatcher(), stride(1), stride(2), stride(5)):
        view = build_view(MIXED.encode(), patcher)
        assert ANSI.sub("", render_color(view)) == MIXED  # each character once, no \xNN
        assert "\\x" not in render_plain(view)


def test_space_patcher_shows_gruesse_whole() -> None:
    # the space rule cuts before UTF-8 continuation bytes; the view keeps ü and ß whole
    view = build_view("Grüße".encode(), SpacePatcher())
    assert render_plain(view) == "Grü\\1|ß\\1|e"
    assert ANSI.sub("", render_color(view)) == "Grüße"


def test_a_cut_inside_a_character_is_marked_with_its_byte_offset() -> None:
    data = "aü".encode()  # ü is bytes 1-2
    view = PatchView(data, np.array([2, 1], dtype=np.int32))
    assert render_plain(view) == "aü\\1|"
    assert unescape(render_plain(view)) == [b"a\xc3", b"\xbc"]
    color = render_color(view)
    assert "\x1b[48;5;213m" in color and ANSI.sub("", color) == "aü"  # magenta: a cut character
    listing = render_listing(view).splitlines()
    assert "starts inside 'ü' U+00FC (bytes 1-2)" in listing[2]
    html = patched_text_html(view)
    assert '<span class="cut" title="boundary inside \'ü\' U+00FC (bytes 1-2) at byte 2">ü</span>' in html


def test_invalid_utf8_stays_visible_as_escapes() -> None:
    view = build_view(b"ok\xff\xe4\xb8 \xe4\xb8\xad", SpacePatcher())
    assert render_plain(view) == "ok\\xff|\\xe4\\xb8 |中"
    assert "<em>\\xff</em>" in patched_text_html(view)


def test_zero_width_and_combining_characters_stay_visible() -> None:
    # a patch made of a zero-width space, and a combining accent that starts a patch
    view = PatchView("a\u200bbe\u0301".encode(), np.array([1, 3, 2, 2], dtype=np.int32))
    out = render_plain(view)
    assert out == "a|\\u200b|be|\\u0301"
    assert unescape(out) == [p.data for p in view]
    # inside a patch, a joiner and a combining mark are drawn as themselves (emoji, accents)
    inner = PatchView("e\u0301 x\u200dy".encode(), np.array([4, 5], dtype=np.int32))
    assert render_plain(inner) == "e\u0301 |x\u200dy"


def test_right_to_left_patches_are_isolated_in_html() -> None:
    from bytepatch.inspect import inspect_page

    page = inspect_page(build_view("abc שלום עולם def".encode(), SpacePatcher()))
    assert "unicode-bidi:isolate" in page
    text = page[page.index('<div class="text">') :]
    # no text sits outside an isolating element, so the bidi algorithm cannot reorder patches
    assert (
        re.sub(r"<(i|b)\b[^>]*>.*?</\1>|<span class=\"cut\"[^>]*>.*?</span>", "", text.split("</div>")[0])
        == '<div class="text">'
    )


@given(st.binary(max_size=40), st.data())
def test_plain_view_round_trips_any_bytes_and_boundaries(data: bytes, draw: st.DataObject) -> None:
    cuts = sorted(draw.draw(st.sets(st.integers(1, max(len(data) - 1, 1)), max_size=len(data))))
    cuts = [c for c in cuts if c < len(data)]
    edges = [0, *cuts, len(data)] if data else []
    lengths = np.diff(np.array(edges, dtype=np.int64)).astype(np.int32)
    view = PatchView(data, lengths)
    got = unescape(render_plain(view))
    assert got == ([p.data for p in view] or [b""])


@given(st.text(max_size=20), st.integers(1, 5))
def test_cells_cover_every_byte_once(text: str, k: int) -> None:
    data = text.encode("utf-8", errors="surrogatepass")
    view = build_view(data, stride(k))
    cells = list(document_cells(view.data, view.lengths))
    assert [c.start for c in cells] == list(np.cumsum([0] + [c.size for c in cells[:-1]])) if cells else True
    assert sum(c.size for c in cells) == len(data)
    offsets = set(view.offsets.tolist())
    for c in cells:
        assert all(c.start < cut < c.start + c.size for cut in c.cuts)
        assert all(cut in offsets for cut in c.cuts)
