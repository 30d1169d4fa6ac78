"""Showing arbitrary bytes as text, safely and reversibly.

A document is bytes (DESIGN §1); a terminal or a web page shows text. `escape_bytes`
decodes one chunk (one patch) as UTF-8 and splits it into segments of plain text and
*escapes*: invalid UTF-8 bytes become `\\xNN`, control characters and bidi overrides
(which could rewrite a terminal or reorder a line) become `\\r`, `\\xNN` or `\\uXXXX`.
Newline and tab stay as they are. A chunk is decoded on its own, so a patch boundary
that cuts a multi-byte character shows up as escaped bytes on both sides: the cut is
visible, not hidden.

Trade-off: escapes look like the text `\\x80` would. Renderers therefore style escape
segments differently, and the plain (no colour) view also escapes `\\` and the
separator so that `unescape` recovers the exact bytes.
"""

from __future__ import annotations

import re
import unicodedata

KEEP = frozenset("\n\t")  # control characters shown as themselves
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
NAMED = {"\r": "\\r", "\x1b": "\\e", "\x00": "\\0"}

Segment = tuple[str, bool]  # (text, is_escape)


def escape_char(ch: str) -> str | None:
    """The escape of one decoded character, or None when it is shown as itself."""
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not valid UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if ch in KEEP:
        return None
    if ch in NAMED:
        return NAMED[ch]
    if code < 0x80 and unicodedata.category(ch) == "Cc":
        return f"\\x{code:02x}"
    if ch in BIDI or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
        return f"\\u{code:04x}"
    return None


def escape_bytes(chunk: bytes) -> list[Segment]:
    """`chunk` as (text, is_escape) segments; plain runs are merged, escapes stand alone."""
    out: list[Segment] = []
    plain: list[str] = []
    for ch in chunk.decode("utf-8", errors="surrogateescape"):
        esc = escape_char(ch)
        if esc is None:
            plain.append(ch)
            continue
        if plain:
            out.append(("".join(plain), False))
            plain = []
        out.append((esc, True))
    if plain:
        out.append(("".join(plain), False))
    return out


def quote_plain(text: str, separator: str) -> str:
    """Plain text made unambiguous next to escapes and separators (`\\` and `separator`)."""
    return text.replace("\\", "\\\\").replace(separator, "\\" + separator)


def escaped_text(chunk: bytes, separator: str) -> str:
    """One chunk as unambiguous plain text: the inverse of `unescape` for that separator."""
    return "".join(s if esc else quote_plain(s, separator) for s, esc in escape_bytes(chunk))


_TOKEN = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|[re0\\]|.)", re.DOTALL)
_SIMPLE = {"r": b"\r", "e": b"\x1b", "0": b"\x00", "\\": b"\\"}


def unescape(text: str, separator: str = "|") -> list[bytes]:
    """The chunks (patches) of a plain view, as the exact bytes they were made from."""
    chunks: list[bytes] = []
    current = bytearray()
    pos = 0
    for m in _TOKEN.finditer(text):
        current += _split(text[pos : m.start()], separator, chunks, current)
        token = m.group(1)
        if token.startswith("x"):
            current.append(int(token[1:], 16))
        elif token.startswith("u") and len(token) == 5:
            current += chr(int(token[1:], 16)).encode("utf-8")
        else:
            current += _SIMPLE.get(token, token.encode("utf-8"))
        pos = m.end()
    current += _split(text[pos:], separator, chunks, current)
    chunks.append(bytes(current))
    return chunks


def _split(plain: str, separator: str, chunks: list[bytes], current: bytearray) -> bytes:
    """Cut unescaped text at separators: full chunks go to `chunks`, the tail is returned."""
    *done, tail = plain.split(separator)
    for piece in done:
        current += piece.encode("utf-8")
        chunks.append(bytes(current))
        current.clear()
    return tail.encode("utf-8")
