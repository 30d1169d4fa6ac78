"""Inline SVG pictures, as strings: the per-byte entropy plot (BLT paper, Figure 4 style).

Pure string building, no plotting library: the output drops into a self-contained
HTML page or is saved as a standalone `.svg`, and parses as XML. Up to `DETAIL_MAX`
bytes the entropy plot has one point per byte (labelled with its character, byte
offsets every `OFFSET_EVERY`), a horizontal line at the global threshold and a
vertical mark at every patch start, so the reader sees each boundary next to the
entropy spike that caused it. Longer documents are summarised: each pixel column
shows the min-max band and the mean of the bytes under it, with a strip of patch
density, in a fixed width.

Trade-off: the summary hides single bytes; `inspect --offset/--length` zooms into a
window of the document, which gets the detailed plot again. Axis margins are sized
from the widest tick label, so titles never overlap the labels.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

import numpy as np

from bytepatch.inspect.escape import escape_char
from bytepatch.inspect.view import PatchView

STEP = 14.0  # px per byte in the detailed plot (room for a character label)
DETAIL_MAX = 2_000  # bytes: longer documents get the summarised plot
SUMMARY_COLUMNS = 1_200  # px: the summarised plot's width
OFFSET_EVERY = 10  # bytes between offset ticks in the detailed plot
CHAR_PX = 7.0  # px per character of the 11px monospace tick labels
TITLE_PX = 12.0  # px: height of an axis title (rotated on the y axis)
HEIGHT = 290
MARGIN = {"right": 24, "top": 24, "bottom": 72}
STYLE = """
.axis{stroke:#444;stroke-width:1}
.grid{stroke:#ddd;stroke-width:1}
.patch-start{stroke:#9ab;stroke-width:1}
.threshold{stroke:#d62728;stroke-width:1.5;stroke-dasharray:6 4}
.entropy{fill:none;stroke:#1f77b4;stroke-width:1.5}
.band{fill:#1f77b4;fill-opacity:.25;stroke:none}.starts rect{fill:#555}
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


def label_width(labels: list[str], char_px: float = CHAR_PX) -> float:
    """Pixels taken by the widest tick label (monospace), so axis titles never overlap them."""
    return max((len(t) for t in labels), default=1) * char_px


def left_margin(tick_labels: list[str]) -> float:
    """Room for the y tick labels, a gap, and the rotated y-axis title to their left."""
    return 8 + TITLE_PX + 8 + label_width(tick_labels) + 6


def entropy_svg(view: PatchView) -> str:
    """The per-byte entropy plot of an entropy-patched view, as an `<svg>` string.

    Up to `DETAIL_MAX` bytes: one point per byte with its character under it. Longer:
    summarised in at most `SUMMARY_COLUMNS` columns, each drawing the minimum-maximum
    band and the mean of its bytes, so the page stays small and the plot readable.
    """
    if view.entropies is None:
        raise ValueError("this view has no entropies (only the entropy patcher has them)")
    if len(view.entropies) > DETAIL_MAX:
        return _summary_svg(view)
    h = np.asarray(view.entropies, dtype=np.float64)
    n = len(h)
    step = STEP
    threshold = view.threshold
    ticks = nice_ticks(max(float(h.max()) if n else 0.0, threshold or 0.0, 1.0))
    top = ticks[-1]
    tick_labels = [f"{t:g}" for t in ticks]
    x0 = left_margin(tick_labels)
    plot_w, plot_h = max(n * step, 200.0), HEIGHT - MARGIN["top"] - MARGIN["bottom"]
    y0 = MARGIN["top"] + plot_h

    def x(i: int | np.ndarray) -> np.ndarray | float:
        return x0 + (np.asarray(i) + 0.5) * step

    def y(v: float | np.ndarray) -> np.ndarray | float:
        return y0 - np.asarray(v) / top * plot_h

    body = _y_axis(ticks, tick_labels, x0, plot_w, y)
    for s in view.offsets.tolist():
        body.append(
            f'<line class="patch-start" x1="{x(s) - step / 2:.1f}" x2="{x(s) - step / 2:.1f}" '
            f'y1="{MARGIN["top"]}" y2="{y0}"/>'
        )
    if threshold is not None:
        body.append(_threshold_line(threshold, x0, plot_w, float(y(threshold))))
    xs, ys = x(np.arange(n)), y(h)
    points = " ".join(f"{a:.1f},{b:.2f}" for a, b in zip(xs.tolist(), ys.tolist()))
    body.append(f'<polyline class="entropy" points="{points}"/>')
    body.extend(_dots_and_labels(view, xs, ys, y0))
    every = OFFSET_EVERY
    for i in range(0, n, every):  # byte offsets under the character labels
        body.append(f'<line class="axis" x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{y0 + 22}" y2="{y0 + 34}"/>')
        body.append(f'<text x="{x(i) + 3:.1f}" y="{y0 + 34}">{view.origin + i:,}</text>')
    body += _axes(x0, plot_w, y0, plot_h, "byte offset (characters above)")
    return svg_document(x0 + plot_w + MARGIN["right"], HEIGHT, body, "per-byte entropy with patch starts and threshold")


def _summary_svg(view: PatchView) -> str:
    h = np.asarray(view.entropies, dtype=np.float64)
    n = len(h)
    per = -(-n // SUMMARY_COLUMNS)  # bytes per column
    cols = -(-n // per)
    padded = np.full(cols * per, np.nan)
    padded[:n] = h
    blocks = padded.reshape(cols, per)
    lo, hi, mean = np.nanmin(blocks, axis=1), np.nanmax(blocks, axis=1), np.nanmean(blocks, axis=1)
    starts = np.bincount(view.offsets // per, minlength=cols)[:cols]
    threshold = view.threshold
    ticks = nice_ticks(max(float(hi.max()), threshold or 0.0, 1.0))
    top = ticks[-1]
    tick_labels = [f"{t:g}" for t in ticks]
    x0 = left_margin(tick_labels)
    plot_w, plot_h = float(cols), HEIGHT - MARGIN["top"] - MARGIN["bottom"]
    y0 = MARGIN["top"] + plot_h

    def y(v: float | np.ndarray) -> np.ndarray | float:
        return y0 - np.asarray(v) / top * plot_h

    xs = x0 + np.arange(cols) + 0.5
    body = _y_axis(ticks, tick_labels, x0, plot_w, y)
    band = [f"{a:.1f},{b:.1f}" for a, b in zip(xs.tolist(), y(hi).tolist())]
    band += [f"{a:.1f},{b:.1f}" for a, b in zip(xs[::-1].tolist(), y(lo)[::-1].tolist())]
    body.append(
        f'<polygon class="band" points="{" ".join(band)}"><title>minimum to maximum entropy of the '
        f"{per:,} bytes under each pixel</title></polygon>"
    )
    if threshold is not None:
        body.append(_threshold_line(threshold, x0, plot_w, float(y(threshold))))
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs.tolist(), y(mean).tolist()))
    body.append(f'<polyline class="entropy" points="{points}"><title>mean entropy</title></polyline>')
    # Patch density as a strip under the axis: darker where patches are short.
    density = starts / per
    strip = [
        f'<rect x="{x0 + c}" y="{y0 + 2}" width="1" height="8" fill-opacity="{min(1.0, d):.2f}"/>'
        for c, d in enumerate(density.tolist())
        if d > 0
    ]
    body.append(f'<g class="starts"><title>patch starts per byte (darker: shorter patches)</title>{"".join(strip)}</g>')
    x_ticks = nice_ticks(max(view.origin + n, 1) - view.origin) if n > 1 else [0.0]
    for t in x_ticks:
        if t > n:
            break
        xt = x0 + t / per
        body.append(f'<line class="axis" x1="{xt:.1f}" x2="{xt:.1f}" y1="{y0}" y2="{y0 + 14}"/>')
        body.append(f'<text x="{xt:.1f}" y="{y0 + 26}" text-anchor="middle">{view.origin + int(t):,}</text>')
    body += _axes(x0, plot_w, y0, plot_h, f"byte offset ({per:,} bytes per pixel; band: min-max, line: mean)")
    return svg_document(
        x0 + plot_w + MARGIN["right"] + 40, HEIGHT, body, "per-byte entropy, summarised, with threshold"
    )


def _y_axis(ticks: list[float], labels: list[str], x0: float, plot_w: float, y) -> list[str]:
    out = []
    for t, label in zip(ticks, labels):
        out.append(f'<line class="grid" x1="{x0}" x2="{x0 + plot_w:.1f}" y1="{y(t):.1f}" y2="{y(t):.1f}"/>')
        out.append(f'<text x="{x0 - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{label}</text>')
    return out


def _threshold_line(threshold: float, x0: float, plot_w: float, yt: float) -> str:
    return (
        f'<line class="threshold" x1="{x0}" x2="{x0 + plot_w:.1f}" y1="{yt:.2f}" y2="{yt:.2f}">'
        f"<title>threshold {threshold:.4g} nats</title></line>"
    )


def _axes(x0: float, plot_w: float, y0: float, plot_h: float, x_title: str) -> list[str]:
    return [
        f'<line class="axis" x1="{x0}" x2="{x0}" y1="{MARGIN["top"]}" y2="{y0}"/>',
        f'<line class="axis" x1="{x0}" x2="{x0 + plot_w:.1f}" y1="{y0}" y2="{y0}"/>',
        f'<text class="title" x="{x0}" y="{HEIGHT - 8}">{escape(x_title)}</text>',
        f'<text class="title" transform="translate({8 + TITLE_PX},{MARGIN["top"] + plot_h / 2:.0f}) rotate(-90)" '
        f'text-anchor="middle">entropy (nats)</text>',
    ]


def _dots_and_labels(view: PatchView, xs: np.ndarray, ys: np.ndarray, y0: float) -> list[str]:
    starts = np.zeros(len(view.data), dtype=bool)
    starts[view.offsets] = True
    out = []
    for i, (label, a, b, s) in enumerate(zip(byte_labels(view.data), xs.tolist(), ys.tolist(), starts.tolist())):
        tip = f"byte {view.origin + i} = 0x{view.data[i]:02x}, h = {float(view.entropies[i]):.3f}"  # type: ignore[index]
        out.append(
            f'<circle class="dot{" start" if s else ""}" cx="{a:.1f}" cy="{b:.1f}" r="2.5">'
            f"<title>{escape(tip)}</title></circle>"
        )
        if label:
            out.append(f'<text class="label" x="{a:.1f}" y="{y0 + 16}" text-anchor="middle">{escape(label)}</text>')
    return out
