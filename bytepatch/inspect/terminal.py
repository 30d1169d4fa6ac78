"""The terminal view of a PatchView: coloured patches, or `|` separators, plus a listing.

All views draw the document's characters once (`cells`): a character is never split
into escaped bytes because a patch boundary falls inside it. With colour, patches
alternate between two background colours (ANSI 256-colour codes, black text so light
and dark terminals stay readable), escapes are red, a character with a boundary inside
it is drawn on magenta, and a newline is shown as `↵` before the line break so a
newline patch stays visible. Without colour (not a terminal, `--no-color`, `NO_COLOR`),
`|` separates patches, `\\N|` after a character marks a boundary N bytes into it, and
the text is escaped so that `escape.unescape(output)` gives back exactly the patches.

Trade-off: colours show where boundaries fall but not how long each patch is, and a
background on a bare space is easy to miss; `--verbose` adds the exact listing.
"""

from __future__ import annotations

from bytepatch.inspect.cells import Cell, cut_character, document_cells
from bytepatch.inspect.escape import quote_plain
from bytepatch.inspect.view import PatchView

SEPARATOR = "|"
BACKGROUNDS = ("\x1b[48;5;153m", "\x1b[48;5;223m")  # light blue, light peach
CUT_BACKGROUND = "\x1b[48;5;213m"  # magenta: a boundary falls inside this character
FOREGROUND = "\x1b[38;5;16m"  # black
ESCAPE_STYLE = "\x1b[38;5;160m"  # red, for escaped bytes
RESET = "\x1b[0m"
NEWLINE_MARK = "\u21b5"
TEXT_WIDTH = 40


def render_plain(view: PatchView, separator: str = SEPARATOR) -> str:
    """Patches joined by `separator`, escaped so the text can be recovered exactly."""
    out: list[str] = []
    expected = 0  # the patch the next cell continues
    for cell in document_cells(view.data, view.lengths):
        if cell.patch > expected:
            out.append(separator * (cell.patch - expected))
        out.append(cell.text if cell.escaped else quote_plain(cell.text, separator))
        out.extend(f"\\{c - cell.start}{separator}" for c in cell.cuts)
        expected = cell.patch + len(cell.cuts)
    if len(view.lengths) > expected + 1:  # trailing empty patches (never from a patcher)
        out.append(separator * (len(view.lengths) - expected - 1))
    return "".join(out)


def render_color(view: PatchView) -> str:
    """Patches on alternating ANSI background colours (ends with a reset)."""
    out: list[str] = []
    for cell in document_cells(view.data, view.lengths):
        bg = CUT_BACKGROUND if cell.cuts else BACKGROUNDS[cell.patch % 2]
        style = bg + (ESCAPE_STYLE if cell.escaped else FOREGROUND)
        # A line break inside a background span paints to the edge on some terminals:
        # end the colour before each newline and restart it after.
        for j, line in enumerate(cell.text.split("\n")):
            if j:
                out.append(f"{style}{NEWLINE_MARK}{RESET}\n")
            if line:
                out.append(f"{style}{line}{RESET}")
    return "".join(out)


def render_listing(view: PatchView) -> str:
    """One line per patch: index, offset, length, [entropy of the first byte], its text.

    A patch's text is the characters that start in it; a boundary inside a character is
    noted with the character, its code point and byte offsets.
    """
    with_h = view.entropies is not None
    head = f"{'#':>6} {'offset':>8} {'len':>5} " + (f"{'h[0]':>7} " if with_h else "") + "text"
    texts: dict[int, list[str]] = {}
    notes: dict[int, str] = {}
    for cell in document_cells(view.data, view.lengths):
        texts.setdefault(view.first_index + cell.patch, []).append(cell.text if cell.escaped else _listing_text(cell))
        for k, _ in enumerate(cell.cuts, start=1):
            notes[view.first_index + cell.patch + k] = f"starts inside {cut_character(cell, view.data, view.origin)}"
    lines = [head]
    for p in view:
        h = f"{p.entropy:7.3f} " if p.entropy is not None else ""
        text = _clip("".join(texts.get(p.index, [])))
        remarks = [r for r in (notes.get(p.index), view.notes.get(p.index)) if r]
        note = f"  ({'; '.join(remarks)})" if remarks else ""
        lines.append(f"{p.index:>6} {p.offset:>8} {len(p.data):>5} {h}'{text}'{note}")
    return "\n".join(lines)


def _listing_text(cell: Cell) -> str:
    return cell.text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\t", "\\t")


def _clip(text: str, width: int = TEXT_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
