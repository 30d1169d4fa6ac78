"""Self-contained HTML pages: the patched text with its entropy plot, and a stats page.

One file, inline CSS, inline SVG, no scripts and no network: it opens from disk,
survives being mailed around, and is safe to publish (all document text is escaped).
Patches are `<span>`s on alternating backgrounds; hovering one shows its index, offset,
length and first-byte entropy. Escaped bytes (see `escape`) are drawn in red.

Trade-off: one `<span>` per patch keeps the page simple and searchable but heavy for
long documents; like the terminal view it is meant for a page of text.
"""

from __future__ import annotations

from html import escape

from bytepatch.inspect.escape import escape_bytes
from bytepatch.inspect.svg import entropy_svg
from bytepatch.inspect.view import PatchView

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#222;max-width:80rem}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.6rem}
.meta{color:#555;font-size:.9rem}
table.kv td{padding:.1rem .8rem .1rem 0;font-size:.9rem}table.kv td:first-child{color:#666}
.text{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-all;
line-height:1.7;border:1px solid #ddd;padding:1rem;border-radius:4px}
.p0{background:#cfe3f7}.p1{background:#fde0c5}
.text span:hover{outline:1px solid #333}
.esc{color:#c00}.nl{color:#999;user-select:none}
.plot{overflow-x:auto;border:1px solid #ddd;border-radius:4px;padding:.5rem 0}
"""


def page(title: str, body: str) -> str:
    """A complete HTML document around `body` (already HTML), with the shared style."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head>\n"
            f"<body>\n<h1>{escape(title)}</h1>\n{body}\n</body></html>\n")  # fmt: skip


def key_values(rows: dict[str, object]) -> str:
    """A two-column table of labels and values (values are escaped)."""
    cells = "".join(f"<tr><td>{escape(k)}</td><td>{escape(str(v))}</td></tr>" for k, v in rows.items())
    return f'<table class="kv">{cells}</table>'


def patched_text_html(view: PatchView) -> str:
    """The document as alternating-background patch spans inside a `.text` block."""
    parts: list[str] = []
    for p in view:
        tip = f"patch {p.index}: offset {p.offset}, {len(p.data)} bytes"
        if p.entropy is not None:
            tip += f", h[0] = {p.entropy:.3f} nats"
        inner = "".join(_segment_html(text, esc) for text, esc in escape_bytes(p.data))
        parts.append(f'<span class="p{p.index % 2}" title="{escape(tip)}">{inner}</span>')
    return f'<div class="text">{"".join(parts)}</div>'


def _segment_html(text: str, is_escape: bool) -> str:
    if is_escape:
        return f'<span class="esc">{escape(text)}</span>'
    return escape(text).replace("\n", '<span class="nl">\u21b5</span>\n')


def inspect_page(view: PatchView, title: str = "bytepatch inspect") -> str:
    """The full inspect page: settings, the patched text, and the entropy plot if any."""
    rows: dict[str, object] = {k: v for k, v in view.settings.items() if v is not None}
    rows.update({"bytes": f"{len(view.data):,}", "patches": f"{len(view.lengths):,}",
                 "mean patch size": f"{view.mean_patch_size:.2f} bytes"})  # fmt: skip
    body = [key_values(rows), "<h2>Patches</h2>",
            '<p class="meta">Alternating backgrounds mark patches; hover a patch for its details. '
            "Red marks escaped bytes (invalid UTF-8, control characters); \u21b5 marks a newline.</p>",
            patched_text_html(view)]  # fmt: skip
    if view.entropies is not None:
        legend = "Blue: entropy of each byte given the bytes before it (nats). Grey verticals: patch starts"
        legend += "; red dashed: the global threshold." if view.threshold is not None else "."
        body += ["<h2>Per-byte entropy</h2>", f'<p class="meta">{legend}</p>',
                 f'<div class="plot">{entropy_svg(view)}</div>']  # fmt: skip
    return page(title, "\n".join(body))
