"""Showing arbitrary bytes as text, safely and reversibly.

A document is bytes; a terminal or a web page shows text. `escape_char` decides how
one decoded character is shown: invalid UTF-8 bytes become `\\xNN`, control characters
and bidi overrides (which could rewrite a terminal or reorder a line) become `\\r`,
`\\xNN` or `\\uXXXX`. Newline and tab stay as they are. The views decode a whole
document once (`cells`); `escape_bytes` / `escaped_text` escape one chunk on its own.
`unescape` reads the plain view back, including the `\\N|` token that marks a patch
boundary N bytes inside the character before it.

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


def terminal_safe(text: str) -> str:
    """Text from a file (metadata, names, ids) made safe to print or put in a page's
    heading and tables: control characters (ESC, so no OSC/CSI sequences), zero-width
    and other format characters (BOM, bidi overrides) and line separators are shown as
    escapes, never sent raw."""
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Cs", "Zl", "Zp") and ch != " ":
            out.append(NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"))
        else:
            out.append(ch)
    return "".join(out)


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


_TOKEN = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|[1-3]\||[re0\\]|.)", re.DOTALL)
_SIMPLE = {"r": b"\r", "e": b"\x1b", "0": b"\x00", "\\": b"\\"}


def unescape(text: str, separator: str = "|") -> list[bytes]:
    """The chunks (patches) of a plain view, as the exact bytes they were made from.

    A bare `separator` is a boundary between characters; `\\N|` (N = 1..3) is a boundary
    N bytes into the character just before it (see `cells`).
    """
    out = bytearray()
    cuts: list[int] = []
    last_char = 0  # byte offset where the last character written starts
    pos = 0
    for m in _TOKEN.finditer(text):
        last_char = _plain(text[pos : m.start()], separator, out, cuts, last_char)
        token = m.group(1)
        if token[0] == "x" and len(token) == 3:
            last_char = len(out)
            out.append(int(token[1:], 16))
        elif token[0] in "uU" and len(token) in (5, 9):
            last_char = len(out)
            out += chr(int(token[1:], 16)).encode("utf-8", errors="surrogatepass")
        elif token[-1:] == "|" and token[0] in "123":
            cuts.append(last_char + int(token[0]))
        else:
            last_char = len(out)
            out += _SIMPLE.get(token, token.encode("utf-8"))
        pos = m.end()
    _plain(text[pos:], separator, out, cuts, last_char)
    edges = [0, *cuts, len(out)]
    return [bytes(out[a:b]) for a, b in zip(edges, edges[1:])]


def _plain(plain: str, separator: str, out: bytearray, cuts: list[int], last_char: int) -> int:
    """Append unescaped text, recording a cut at every separator; returns the new `last_char`."""
    for j, piece in enumerate(plain.split(separator)):
        if j:
            cuts.append(len(out))
        if piece:
            out += piece.encode("utf-8")
            last_char = len(out) - len(piece[-1].encode("utf-8"))
    return last_char
