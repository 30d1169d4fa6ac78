"""Drawing a patch-length histogram: text bars for the terminal, bars in SVG.

Both take the `(low, high, count)` rows of `LengthHistogram.bins()`: one row per length
up to 16, doubling ranges after that, so a long tail costs a few lines, not hundreds.
Text bars use Unicode eighth blocks for sub-character resolution.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from bytepatch.inspect.svg import TITLE_PX, left_margin, nice_ticks, svg_document

Bin = tuple[int, int, int]  # (low, high, count)
EIGHTHS = " \u258f\u258e\u258d\u258c\u258b\u258a\u2589\u2588"
BAR_WIDTH = 32  # characters for the largest bin
SVG_BAR = 28  # px per bin
SVG_HEIGHT = 300
MARGIN = {"right": 20, "top": 20, "bottom": 52}


def bin_label(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}-{high}"


def text_bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A left-aligned bar of `fraction` (0..1) of `width` characters, in eighths."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("\u2588" * full + (EIGHTHS[part] if part else "")).ljust(width)


def histogram_text(bins: list[Bin], width: int = BAR_WIDTH) -> str:
    """One line per bin: length (range), bar, count and share of all patches."""
    if not bins:
        return "  (no patches)"
    total = sum(c for _, _, c in bins) or 1
    peak = max(c for _, _, c in bins) or 1
    label_w = max(len(bin_label(lo, hi)) for lo, hi, _ in bins)
    count_w = max(len(f"{c:,}") for _, _, c in bins)
    return "\n".join(
        f"  {bin_label(lo, hi):>{label_w}} \u2502{text_bar(c / peak, width)} {c:>{count_w},} {100 * c / total:5.1f}%"
        for lo, hi, c in bins
    )


def histogram_svg(bins: list[Bin], title: str = "patch lengths") -> str:
    """A bar chart of the bins (x: patch length in bytes, y: number of patches)."""
    plot_w = max(len(bins), 4) * SVG_BAR
    plot_h = SVG_HEIGHT - MARGIN["top"] - MARGIN["bottom"]
    ticks = nice_ticks(max([c for _, _, c in bins] + [1]))
    labels = [f"{t:,.0f}" for t in ticks]
    x0, y0 = left_margin(labels), MARGIN["top"] + plot_h  # room for the widest label, then the title
    top = ticks[-1]
    body: list[str] = []
    for t, label in zip(ticks, labels):
        y = y0 - t / top * plot_h
        body.append(f'<line class="grid" x1="{x0}" x2="{x0 + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>')
        body.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    for i, (lo, hi, c) in enumerate(bins):
        h = c / top * plot_h
        x = x0 + i * SVG_BAR
        label = bin_label(lo, hi)
        body.append(
            f'<rect class="bar" x="{x + 3}" y="{y0 - h:.1f}" width="{SVG_BAR - 6}" height="{h:.1f}" '
            f'fill="#1f77b4"><title>{escape(label)} bytes: {c:,} patches</title></rect>'
        )
        body.append(
            f'<text x="{x + SVG_BAR / 2:.0f}" y="{y0 + 14}" text-anchor="end" '
            f'transform="rotate(-45 {x + SVG_BAR / 2:.0f} {y0 + 14})">{escape(label)}</text>'
        )
    if not bins:  # only empty documents: say so rather than draw an empty chart
        body.append(f'<text x="{x0 + plot_w / 2:.0f}" y="{y0 - plot_h / 2:.0f}" text-anchor="middle">no patches</text>')
    body.append(f'<line class="axis" x1="{x0}" x2="{x0}" y1="{MARGIN["top"]}" y2="{y0}"/>')
    body.append(f'<line class="axis" x1="{x0}" x2="{x0 + plot_w}" y1="{y0}" y2="{y0}"/>')
    body.append(
        f'<text class="title" x="{x0 + plot_w / 2:.0f}" y="{SVG_HEIGHT - 6}" '
        f'text-anchor="middle">patch length (bytes)</text>'
    )
    body.append(
        f'<text class="title" transform="translate({8 + TITLE_PX},{MARGIN["top"] + plot_h / 2:.0f}) rotate(-90)" '
        f'text-anchor="middle">patches</text>'
    )
    return svg_document(x0 + plot_w + MARGIN["right"], SVG_HEIGHT, body, title)
