"""Inline SVG pictures, as strings: the per-byte entropy plot (BLT paper, Figure 4 style).

Pure string building, no plotting library: the output drops into a self-contained
HTML page or is saved as a standalone `.svg`, and parses as XML. The entropy plot has
one polyline point per byte (x = byte position, labelled with its character when the
plot is wide enough), a horizontal line at the global threshold, and a vertical mark
at every patch start, so the reader sees each boundary next to the entropy spike that
caused it.

Trade-off: one point per byte makes very long documents wide (the x step shrinks to
stay under `MAX_WIDTH`, labels and dots disappear below `LABEL_STEP`); `inspect` is
for looking at a page of text, not a corpus.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

import numpy as np

from bytepatch.inspect.escape import escape_char
from bytepatch.inspect.view import PatchView

MAX_WIDTH = 40_000  # px: beyond this the x step shrinks below one label width
STEP = 14.0  # px per byte when there is room for a character label
LABEL_STEP = 8.0  # px per byte needed to draw labels and dots
DOTS_MAX = 5_000  # bytes: above this only the polyline is drawn
HEIGHT = 260
MARGIN = {"left": 56, "right": 24, "top": 24, "bottom": 44}
STYLE = """
.axis{stroke:#444;stroke-width:1}
.grid{stroke:#ddd;stroke-width:1}
.patch-start{stroke:#9ab;stroke-width:1}
.threshold{stroke:#d62728;stroke-width:1.5;stroke-dasharray:6 4}
.entropy{fill:none;stroke:#1f77b4;stroke-width:1.5}
.dot{fill:#1f77b4}.dot.start{fill:#d62728}
text{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px;fill:#333}
.label{font-size:12px}.title{font-size:12px;fill:#555}
"""
SHOWN = {" ": "\u2423", "\n": "\u21b5", "\t": "\u21e5"}  # visible stand-ins on the x axis


def svg_document(width: float, height: float, body: list[str], title: str) -> str:
    """A standalone `<svg>` element with the shared style sheet."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img">'
        f"<title>{escape(title)}</title><style>{STYLE}</style>" + "".join(body) + "</svg>"
    )


def byte_labels(data: bytes) -> list[str]:
    """A short label for every byte: its character on the first byte of each, '' after it."""
    labels: list[str] = []
    for ch in data.decode("utf-8", errors="surrogateescape"):
        size = len(ch.encode("utf-8", errors="surrogateescape"))
        if ch in SHOWN:
            label = SHOWN[ch]
        elif escape_char(ch) is not None:
            label = "\ufffd" if 0xDC80 <= ord(ch) <= 0xDCFF else "\u00b7"
        else:
            label = ch
        labels.extend([label] + [""] * (size - 1))
    return labels


def nice_ticks(top: float) -> list[float]:
    """About five round tick values from 0 up to the first one >= `top` (> 0)."""
    step = 10.0 ** math.floor(math.log10(top / 5))
    for m in (1, 2, 5, 10):
        if top / (step * m) <= 6:
            step *= m
            break
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def entropy_svg(view: PatchView) -> str:
    """The per-byte entropy plot of an entropy-patched view, as an `<svg>` string."""
    if view.entropies is None:
        raise ValueError("this view has no entropies (only the entropy patcher has them)")
    h = np.asarray(view.entropies, dtype=np.float64)
    n = len(h)
    step = min(STEP, MAX_WIDTH / max(n, 1))
    plot_w, plot_h = max(n * step, 200.0), HEIGHT - MARGIN["top"] - MARGIN["bottom"]
    threshold = view.threshold
    ticks = nice_ticks(max(float(h.max()) if n else 0.0, threshold or 0.0, 1.0))
    top = ticks[-1]
    x0, y0 = MARGIN["left"], MARGIN["top"] + plot_h

    def x(i: int | np.ndarray) -> np.ndarray | float:
        return x0 + (np.asarray(i) + 0.5) * step

    def y(v: float | np.ndarray) -> np.ndarray | float:
        return y0 - np.asarray(v) / top * plot_h

    body: list[str] = []
    for t in ticks:
        body.append(f'<line class="grid" x1="{x0}" x2="{x0 + plot_w:.1f}" y1="{y(t):.1f}" y2="{y(t):.1f}"/>')
        body.append(f'<text x="{x0 - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    for s in view.offsets.tolist():
        body.append(f'<line class="patch-start" x1="{x(s) - step / 2:.1f}" x2="{x(s) - step / 2:.1f}" '
                    f'y1="{MARGIN["top"]}" y2="{y0}"/>')  # fmt: skip
    if threshold is not None:
        body.append(f'<line class="threshold" x1="{x0}" x2="{x0 + plot_w:.1f}" y1="{y(threshold):.1f}" '
                    f'y2="{y(threshold):.1f}"><title>threshold {threshold:.4g} nats</title></line>')  # fmt: skip
    xs, ys = x(np.arange(n)), y(h)
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs.tolist(), ys.tolist()))
    body.append(f'<polyline class="entropy" points="{points}"/>')
    if step >= LABEL_STEP and n <= DOTS_MAX:
        body.extend(_dots_and_labels(view, xs, ys, y0))
    body.append(f'<line class="axis" x1="{x0}" x2="{x0}" y1="{MARGIN["top"]}" y2="{y0}"/>')
    body.append(f'<line class="axis" x1="{x0}" x2="{x0 + plot_w:.1f}" y1="{y0}" y2="{y0}"/>')
    body.append(f'<text class="title" transform="translate(14,{MARGIN["top"] + plot_h / 2:.0f}) rotate(-90)" '
                f'text-anchor="middle">entropy (nats)</text>')  # fmt: skip
    width = x0 + plot_w + MARGIN["right"]
    return svg_document(width, HEIGHT, body, "per-byte entropy with patch starts and threshold")


def _dots_and_labels(view: PatchView, xs: np.ndarray, ys: np.ndarray, y0: float) -> list[str]:
    starts = np.zeros(len(view.data), dtype=bool)
    starts[view.offsets] = True
    out = []
    for i, (label, a, b, s) in enumerate(zip(byte_labels(view.data), xs.tolist(), ys.tolist(), starts.tolist())):
        tip = f"byte {i} = 0x{view.data[i]:02x}, h = {float(view.entropies[i]):.3f}"  # type: ignore[index]
        out.append(f'<circle class="dot{" start" if s else ""}" cx="{a:.1f}" cy="{b:.1f}" r="2.5">'
                   f"<title>{escape(tip)}</title></circle>")  # fmt: skip
        if label:
            out.append(f'<text class="label" x="{a:.1f}" y="{y0 + 16}" text-anchor="middle">{escape(label)}</text>')
    return out


