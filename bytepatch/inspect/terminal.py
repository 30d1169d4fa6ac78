"""The terminal view of a PatchView: coloured patches, or `|` separators, plus a listing.

With colour, patches alternate between two background colours (ANSI 256-colour codes,
black text so both light and dark terminals stay readable), escapes are drawn in red,
and a newline is shown as `↵` before the line break so a newline patch stays visible.
Without colour (not a terminal, `--no-color`, `NO_COLOR`), `|` separates patches and
the text is escaped so that `escape.unescape(output)` gives back exactly the patches.

Trade-off: colours show where boundaries fall but not how long each patch is, and a
background on a bare space is easy to miss; `--verbose` adds the exact listing.
"""

from __future__ import annotations

from bytepatch.inspect.escape import escape_bytes, escaped_text
from bytepatch.inspect.view import PatchView

SEPARATOR = "|"
BACKGROUNDS = ("\x1b[48;5;153m", "\x1b[48;5;223m")  # light blue, light peach
FOREGROUND = "\x1b[38;5;16m"  # black
ESCAPE_STYLE = "\x1b[38;5;160m"  # red, for escaped bytes
RESET = "\x1b[0m"
NEWLINE_MARK = "\u21b5"
REPR_WIDTH = 48


def render_plain(view: PatchView, separator: str = SEPARATOR) -> str:
    """Patches joined by `separator`, escaped so the text can be recovered exactly."""
    return separator.join(escaped_text(p.data, separator) for p in view)


def render_color(view: PatchView) -> str:
    """Patches on alternating ANSI background colours (ends with a reset)."""
    out: list[str] = []
    for patch in view:
        bg = BACKGROUNDS[patch.index % 2]
        for text, is_escape in escape_bytes(patch.data):
            style = bg + (ESCAPE_STYLE if is_escape else FOREGROUND)
            # A line break inside a background span paints to the edge on some terminals:
            # end the colour before each newline and restart it after.
            for j, line in enumerate(text.split("\n")):
                if j:
                    out.append(f"{style}{NEWLINE_MARK}{RESET}\n")
                if line:
                    out.append(f"{style}{line}{RESET}")
    return "".join(out)


def render_listing(view: PatchView) -> str:
    """One line per patch: index, offset, length, [entropy of the first byte], bytes repr."""
    with_h = view.entropies is not None
    head = f"{'#':>6} {'offset':>8} {'len':>5} " + (f"{'h[0]':>7} " if with_h else "") + "bytes"
    lines = [head]
    for p in view:
        h = f"{p.entropy:7.3f} " if p.entropy is not None else ""
        lines.append(f"{p.index:>6} {p.offset:>8} {len(p.data):>5} {h}{short_repr(p.data)}")
    return "\n".join(lines)


def short_repr(data: bytes, width: int = REPR_WIDTH) -> str:
    """`repr(data)`, cut to `width` characters with an ellipsis (it is always ASCII)."""
    text = repr(data)
    return text if len(text) <= width else text[: width - 4] + "...'"
