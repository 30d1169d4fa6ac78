"""Self-contained HTML pages: the patched text with its entropy plot, and a stats page.

One file, inline CSS, inline SVG, no scripts and no network: it opens from disk,
survives being mailed around, and is safe to publish (all document text is escaped).
Patches are elements on alternating backgrounds; hovering one shows its index (#),
byte offset (@), length (+) and first-byte entropy (h). Escaped bytes (see `escape`)
are drawn in red; a character cut by a boundary is striped, its tooltip gives offsets.

Trade-off: one element per patch keeps the page simple and searchable; short tags and
tooltips keep it to about 10 bytes of markup per input byte, and the entropy plot is
summarised for long documents (see `svg`), so a 200 KB input gives a page of a few MB.
"""

from __future__ import annotations

from html import escape

from bytepatch.inspect.cells import Cell, describe_cut, document_cells
from bytepatch.inspect.escape import terminal_safe
from bytepatch.inspect.svg import DETAIL_MAX, entropy_svg
from bytepatch.inspect.view import PatchView

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#222;max-width:80rem}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.6rem}
.meta{color:#555;font-size:.9rem}
table.kv td{padding:.1rem .8rem .1rem 0;font-size:.9rem}table.kv td:first-child{color:#666}
.text{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-all;
line-height:1.7;border:1px solid #ddd;padding:1rem;border-radius:4px}
.text i{background:#cfe3f7;font-style:normal}.text b{background:#fde0c5;font-weight:normal}
.text i,.text b,.text .cut{unicode-bidi:isolate}
.text i:hover,.text b:hover{outline:1px solid #333}
.text .cut{background:repeating-linear-gradient(135deg,#e9a3f0 0 3px,#fff 3px 6px);outline:1px dashed #a0a}
.text em{color:#c00;font-style:normal}.text u{color:#999;text-decoration:none;user-select:none}
.plot{overflow-x:auto;border:1px solid #ddd;border-radius:4px;padding:.5rem 0}
"""


def page(title: str, body: str) -> str:
    """A complete HTML document around `body` (already HTML), with the shared style."""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_outside(title)}</title><style>{CSS}</style></head>\n"
        f"<body>\n<h1>{_outside(title)}</h1>\n{body}\n</body></html>\n"
    )


def key_values(rows: dict[str, object]) -> str:
    """A two-column table of labels and values (values are escaped)."""
    cells = "".join(f"<tr><td>{_outside(k)}</td><td>{_outside(str(v))}</td></tr>" for k, v in rows.items())
    return f'<table class="kv">{cells}</table>'


def _outside(text: str) -> str:
    """Text from outside the document (a file name, a row id, metadata) as HTML: control,
    bidi and zero-width characters escaped as in the terminal summary (an override would
    reorder the heading, a raw ESC is invisible), then HTML-escaped."""
    return escape(terminal_safe(text))


def patched_text_html(view: PatchView) -> str:
    """The document as alternating-background patch elements inside a `.text` block.

    Patches alternate between `<i>` and `<b>` (restyled as plain backgrounds: short tags
    keep the page near 10 bytes of markup per input byte); a character with a boundary
    inside it stands alone between its patches as a striped `.cut` span whose tooltip
    gives the byte offsets. Every element isolates its text (`unicode-bidi: isolate`),
    so right-to-left text never reorders patches.
    """
    parts: list[str] = []
    open_patch = -1
    entropies = view.entropies
    offsets = view.offsets
    for cell in document_cells(view.data, view.lengths):
        if cell.cuts or cell.patch != open_patch:
            if open_patch >= 0:
                parts.append(PATCH_TAGS[open_patch % 2][1])
                open_patch = -1
        if cell.cuts:
            parts.append(
                f'<span class="cut" title="{_attr(describe_cut(cell, view.data, view.origin))}">'
                f"{_cell_html(cell)}</span>"
            )
            continue
        if open_patch < 0:
            i = cell.patch
            tip = f"#{view.first_index + i} @{view.origin + int(offsets[i])} +{int(view.lengths[i])}"
            if entropies is not None:
                tip += f" h={float(entropies[offsets[i]]):.2f}"
            if view.first_index + i in view.notes:
                tip += f" ({view.notes[view.first_index + i]})"
            parts.append(f'{PATCH_TAGS[i % 2][0][:-1]} title="{_attr(tip)}">')
            open_patch = i
        parts.append(_cell_html(cell))
    if open_patch >= 0:
        parts.append(PATCH_TAGS[open_patch % 2][1])
    return f'<div class="text">{"".join(parts)}</div>'


PATCH_TAGS = (("<i>", "</i>"), ("<b>", "</b>"))


def _attr(text: str) -> str:
    return escape(text, quote=False).replace('"', "&quot;")


def _cell_html(cell: Cell) -> str:
    if cell.escaped:
        return f"<em>{escape(cell.text)}</em>"
    return escape(cell.text, quote=False).replace("\n", "<u>\u21b5</u>\n")


def inspect_page(view: PatchView, title: str = "bytepatch inspect") -> str:
    """The full inspect page: settings, the patched text, and the entropy plot if any."""
    rows: dict[str, object] = {
        k: f"{v:.4g}" if isinstance(v, float) else v for k, v in view.settings.items() if v is not None
    }
    rows.update(
        {
            "bytes": f"{len(view.data):,}",
            "patches": f"{len(view.lengths):,}",
            "mean patch size": "n/a (no patches)"
            if view.mean_patch_size is None
            else f"{view.mean_patch_size:.2f} bytes",
        }
    )
    body = [
        key_values(rows),
        "<h2>Patches</h2>",
        '<p class="meta">Alternating backgrounds mark patches; hover a patch for its details. '
        "Red marks escaped bytes (invalid UTF-8, control and invisible characters); a striped character "
        "has a patch boundary inside it (hover it for the byte offsets); \u21b5 marks a newline.</p>",
        patched_text_html(view),
    ]
    if view.entropies is not None:
        legend = "Blue: entropy of each byte given the bytes before it (nats). "
        if len(view.data) > DETAIL_MAX:
            legend += (
                f"Summarised ({len(view.data):,} bytes): each pixel column shows the range (band) and mean "
                "(line) of its bytes; the grey strip is darker where patches are shorter. Use "
                "--offset/--length (at most 2,000 bytes) to see every byte"
            )
        else:
            legend += "Grey verticals: patch starts"
        legend += "; red dashed: the global threshold." if view.threshold is not None else "."
        body += [
            "<h2>Per-byte entropy</h2>",
            f'<p class="meta">{legend}</p>',
            f'<div class="plot">{entropy_svg(view)}</div>',
        ]
    return page(title, "\n".join(body))
