"""One document decoded once, as the characters every view draws, each exactly once.

Patches are byte ranges, characters are not: an entropy, stride or length-capped
patcher may put a boundary inside a multi-byte UTF-8 character. Decoding each patch on
its own would show such a character as escaped bytes on both sides (`Gr\\xc3|\\xbc`),
which makes most non-Latin text unreadable. Instead the whole document is decoded once
(`surrogateescape`: an invalid byte stays one visible `\\xNN`), each character is given
to the patch holding its first byte, and a boundary that falls inside a character is
recorded on that character (`Cell.cuts`, absolute byte offsets) so every renderer can
mark it (a distinct colour, a tooltip, the `\\N|` token of the plain view).

Characters that would scramble a view are escaped: control and bidi characters always
(see `escape.escape_char`), invisible format characters (zero-width space, BOM, ...)
always, joiners (ZWJ/ZWNJ) at a patch edge, and combining marks at the start of a patch
(they would otherwise draw on the previous patch's last character).

Trade-off: runs of plain characters in one patch are merged into one cell, so a 200 KB
document is a few tens of thousands of cells, not 200,000 objects.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from bytepatch.inspect.escape import escape_char

JOINERS = frozenset("\u200c\u200d")


@dataclass(frozen=True)
class Cell:
    """A run of characters drawn together: plain text, one escape, or one cut character."""

    patch: int  # index of the patch holding the cell's first byte
    start: int  # byte offset of the first byte
    size: int  # bytes covered
    text: str  # what to draw (the characters, or the escape)
    escaped: bool
    cuts: tuple[int, ...] = ()  # absolute byte offsets of patch boundaries inside this character


def char_size(ch: str) -> int:
    """UTF-8 bytes behind one `surrogateescape`-decoded character."""
    code = ord(ch)
    if code < 0x80 or 0xDC80 <= code <= 0xDCFF:
        return 1
    return 2 if code < 0x800 else 3 if code < 0x10000 else 4


def needs_escape(ch: str, first_in_patch: bool, last_in_patch: bool) -> str | None:
    """The escape for `ch` at this place in its patch, or None when drawn as itself."""
    esc = escape_char(ch)
    if esc is not None:
        return esc
    code = ord(ch)
    if code < 0x300:  # fast path: nothing below U+0300 is a format or combining character
        return None
    category = unicodedata.category(ch)
    if category == "Cf":
        if ch in JOINERS and not (first_in_patch or last_in_patch):
            return None
        return unicode_escape(code)
    if category in ("Mn", "Me") and first_in_patch:
        return unicode_escape(code)
    return None


def unicode_escape(code: int) -> str:
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def document_cells(data: bytes, lengths: np.ndarray) -> Iterator[Cell]:
    """The cells of `data` patched by `lengths`, in document order."""
    text = data.decode("utf-8", errors="surrogateescape")
    ends = np.cumsum(np.asarray(lengths, dtype=np.int64)).tolist()  # exclusive end of every patch
    patch = 0
    pos = 0  # byte offset of the current character
    run: list[str] = []
    run_start = 0
    run_patch = 0
    n = len(text)
    for i, ch in enumerate(text):
        size = char_size(ch)
        while patch < len(ends) and ends[patch] <= pos:
            patch += 1
        end = pos + size
        cuts: list[int] = []
        last_patch = patch
        while last_patch < len(ends) and ends[last_patch] < end:
            cuts.append(ends[last_patch])
            last_patch += 1
        first_in_patch = pos == 0 or (patch > 0 and ends[patch - 1] == pos)
        last_in_patch = bool(cuts) or i + 1 == n or (patch < len(ends) and ends[patch] == end)
        esc = needs_escape(ch, first_in_patch, last_in_patch)
        if esc is None and not cuts and run and run_patch == patch:
            run.append(ch)
        else:
            if run:
                yield Cell(run_patch, run_start, pos - run_start, "".join(run), False)
                run = []
            if esc is None and not cuts:
                run, run_start, run_patch = [ch], pos, patch
            else:
                yield Cell(patch, pos, size, esc if esc is not None else ch, esc is not None, tuple(cuts))
        pos = end
    if run:
        yield Cell(run_patch, run_start, pos - run_start, "".join(run), False)


def cut_character(cell: Cell, data: bytes, origin: int = 0) -> str:
    """`'ü' U+00FC (bytes 3-4)`: a character cut by a boundary, for tooltips and listings.

    `origin` is added to the offsets (the window's place in the document)."""
    ch = data[cell.start : cell.start + cell.size].decode("utf-8", errors="replace")
    start = origin + cell.start
    return f"'{cell.text}' U+{ord(ch):04X} (bytes {start}-{start + cell.size - 1})"


def describe_cut(cell: Cell, data: bytes, origin: int = 0) -> str:
    """`boundary inside 'ü' U+00FC (bytes 3-4) at byte 4`."""
    plural = "ies" if len(cell.cuts) > 1 else "y"
    at = ", ".join(str(origin + c) for c in cell.cuts)
    return f"boundar{plural} inside {cut_character(cell, data, origin)} at byte {at}"
