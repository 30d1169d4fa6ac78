"""escape_bytes / unescape: any bytes are shown safely and recovered exactly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bytepatch.inspect.escape import escape_bytes, escaped_text, unescape


def test_plain_text_is_shown_as_is() -> None:
    assert escape_bytes("héllo\tworld\n".encode()) == [("héllo\tworld\n", False)]


def test_invalid_utf8_and_controls_are_escaped() -> None:
    segments = escape_bytes(b"a\xffb\x1b[31m\r\x00\x07\xe2\x80\xae")
    assert segments == [
        ("a", False),
        ("\\xff", True),
        ("b", False),
        ("\\e", True),
        ("[31m", False),
        ("\\r", True),
        ("\\0", True),
        ("\\x07", True),
        ("\\u202e", True),
    ]
    # nothing that could drive a terminal survives
    shown = "".join(t for t, _ in segments)
    assert not any(ord(c) < 32 or c == "\u202e" for c in shown)


def test_a_cut_multibyte_character_shows_on_both_sides() -> None:
    euro = "€".encode()
    assert escaped_text(euro[:1], "|") + "|" + escaped_text(euro[1:], "|") == "\\xe2|\\x82\\xac"


def test_separator_and_backslash_are_quoted() -> None:
    assert escaped_text(b"a|b\\x41", "|") == "a\\|b\\\\x41"
    assert unescape("a\\|b\\\\x41|c") == [b"a|b\\x41", b"c"]


@given(st.lists(st.binary(max_size=12), min_size=1, max_size=8))
def test_round_trip_of_any_chunks(chunks: list[bytes]) -> None:
    text = "|".join(escaped_text(c, "|") for c in chunks)
    assert unescape(text) == chunks


@given(st.lists(st.text(max_size=10), min_size=1, max_size=6))
def test_round_trip_of_any_text(texts: list[str]) -> None:
    chunks = [t.encode("utf-8", errors="surrogatepass") for t in texts]
    assert unescape("|".join(escaped_text(c, "|") for c in chunks)) == chunks


def test_settings_from_a_dataset_are_escaped_in_the_summary_line():
    """An id or metadata value holding a terminal escape (a file name can) is shown, not run."""
    from bytepatch.inspect.view import format_settings

    line = format_settings({"id": "a\x1b]0;PWNED\x07b.txt", "patcher": "space\x1b[31m", "threshold": 1.23456})
    assert "\x1b" not in line and "\x07" not in line
    assert line == "id=a\\e]0;PWNED\\x07b.txt, patcher=space\\e[31m, threshold=1.235"
