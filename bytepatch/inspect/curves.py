"""Training curves as SVG line charts, and the `bytepatch report` page of a run.

Pure functions of the records a run writes to `RUN/log.jsonl` (one JSON object per
log or evaluation event: `{"step", "loss", "bits_per_byte", ...}` or
`{"step", "held_out_bits_per_byte", ...}`), so a report can be drawn while the run
goes on, from any copy of its log, without torch. Same drawing conventions as the
other pictures (`svg`): margins sized from the widest tick label, axis titles.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

from bytepatch.inspect.html import key_values, page
from bytepatch.inspect.svg import CHAR_PX, TITLE_PX, left_margin, nice_ticks, svg_document

Series = list[tuple[float, float]]  # (x, y) points in x order
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
WIDTH, HEIGHT = 640, 300
MARGIN = {"right": 150, "top": 20, "bottom": 48}  # the legend sits on the right


def line_chart(series: dict[str, Series], x_label: str, y_label: str, title: str) -> str:
    """A standalone SVG line chart of one or more named series (empty ones are left out)."""
    series = {name: pts for name, pts in series.items() if pts}
    xs = [x for pts in series.values() for x, _ in pts] or [0.0]
    ys = [y for pts in series.values() for _, y in pts] or [0.0]
    x_ticks = nice_ticks(max(max(xs), 1.0))
    y_lo = min(0.0, min(ys))
    y_ticks = nice_ticks(max(max(ys) - y_lo, 1e-9))
    y_ticks = [y_lo + t for t in y_ticks]
    y_labels = [f"{t:g}" for t in y_ticks]
    x0 = left_margin(y_labels)
    legend_w = 44 + CHAR_PX * max((len(name) for name in series), default=0)  # line, gap, the longest name
    plot_w, plot_h = WIDTH - x0 - max(MARGIN["right"], legend_w), HEIGHT - MARGIN["top"] - MARGIN["bottom"]
    y0 = MARGIN["top"] + plot_h

    def sx(x: float) -> float:
        return x0 + x / x_ticks[-1] * plot_w

    def sy(y: float) -> float:
        return y0 - (y - y_ticks[0]) / (y_ticks[-1] - y_ticks[0]) * plot_h

    body: list[str] = []
    for t, label in zip(y_ticks, y_labels):
        body.append(f'<line class="grid" x1="{x0:.1f}" x2="{x0 + plot_w:.1f}" y1="{sy(t):.1f}" y2="{sy(t):.1f}"/>')
        body.append(f'<text x="{x0 - 6:.1f}" y="{sy(t) + 4:.1f}" text-anchor="end">{label}</text>')
    for t in x_ticks:
        body.append(f'<text x="{sx(t):.1f}" y="{y0 + 16}" text-anchor="middle">{t:,.0f}</text>')
    for i, (name, pts) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        body.append(
            f'<polyline class="series" fill="none" stroke="{color}" stroke-width="1.5" points="{points}">'
            f"<title>{escape(name)}</title></polyline>"
        )
        if len(pts) <= 60:
            body += [
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{color}"><title>{escape(name)}: '
                f"step {x:,.0f}, {y:.4g}</title></circle>"
                for x, y in pts
            ]
        ly = MARGIN["top"] + 14 + 18 * i
        body.append(
            f'<line x1="{x0 + plot_w + 12:.1f}" x2="{x0 + plot_w + 32:.1f}" y1="{ly - 4}" y2="{ly - 4}" '
            f'stroke="{color}" stroke-width="2"/>'
        )
        body.append(f'<text class="legend" x="{x0 + plot_w + 38:.1f}" y="{ly}">{escape(name)}</text>')
    body += [
        f'<line class="axis" x1="{x0:.1f}" x2="{x0:.1f}" y1="{MARGIN["top"]}" y2="{y0}"/>',
        f'<line class="axis" x1="{x0:.1f}" x2="{x0 + plot_w:.1f}" y1="{y0}" y2="{y0}"/>',
        f'<text class="title" x="{x0 + plot_w / 2:.0f}" y="{HEIGHT - 8}" text-anchor="middle">{escape(x_label)}</text>',
        f'<text class="title" transform="translate({8 + TITLE_PX},{MARGIN["top"] + plot_h / 2:.0f}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>',
    ]
    return svg_document(WIDTH, HEIGHT, body, title)


CURVES = {"loss": "loss", "bits_per_byte": "train bits/byte", "held_out_bits_per_byte": "held-out bits/byte"}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def run_series(records: list[dict[str, Any]]) -> dict[str, Series]:
    """The curves of a run's log: training loss (nats), training and held-out bits per byte.

    Only finite values are points: a NaN or infinity (`json` reads `NaN`, `Infinity`) has
    no place on an axis; `non_finite` lists them for the summary."""
    out: dict[str, Series] = {name: [] for name in CURVES.values()}
    for r in records:
        step = r.get("step")
        if not (_is_number(step) and math.isfinite(step)):
            continue
        for key, name in CURVES.items():
            value = r.get(key)
            if _is_number(value) and math.isfinite(value):
                out[name].append((step, float(value)))
    return out


def non_finite(records: list[dict[str, Any]]) -> list[tuple[Any, str, float]]:
    """(step, key, value) of every NaN or infinite value the curves leave out."""
    return [
        (r.get("step"), key, r[key])
        for r in records
        for key in ("step", *CURVES)
        if _is_number(r.get(key)) and not math.isfinite(r[key])
    ]


def run_summary(records: list[dict[str, Any]]) -> dict[str, str]:
    """Label -> value rows: steps, first and last loss and training bits per byte, last and best
    held-out bits per byte, throughput."""
    s = run_series(records)
    rows = {"records": f"{len(records):,}"}
    if s["loss"]:
        rows["last step"] = f"{s['loss'][-1][0]:,.0f}"
        rows["training loss"] = f"{s['loss'][0][1]:.4f} at step {s['loss'][0][0]:,.0f} -> {s['loss'][-1][1]:.4f} (nats)"
    train = s["train bits/byte"]
    if train:  # the unit of the held-out row below: the loss is in nats, over EOS targets too
        rows["training bits/byte"] = f"{train[0][1]:.4f} at step {train[0][0]:,.0f} -> {train[-1][1]:.4f}"
    held = s["held-out bits/byte"]
    if held:
        best = min(held, key=lambda p: p[1])
        rows["held-out bits/byte"] = (
            f"last {held[-1][1]:.4f} (step {held[-1][0]:,.0f}), best {best[1]:.4f} (step {best[0]:,.0f})"
        )
    rates = [r["bytes_per_s"] for r in records if isinstance(r.get("bytes_per_s"), (int, float))]
    if rates:
        rows["training speed"] = f"{rates[-1]:,.0f} bytes/s (last record)"
    skipped = non_finite(records)
    if skipped:
        step, key, value = skipped[0]
        rows["not drawn"] = (
            f"{len(skipped):,} value(s) that are not finite numbers, the first {key} = {value} at step {step}"
        )
    return rows


def report_svg(records: list[dict[str, Any]]) -> str:
    """Bits per byte (training and held-out) against step, as one SVG chart."""
    s = run_series(records)
    return line_chart(
        {k: s[k] for k in ("train bits/byte", "held-out bits/byte")},
        "step",
        "bits per byte",
        "training and held-out bits per byte",
    )


def report_page(name: str, records: list[dict[str, Any]]) -> str:
    """A self-contained HTML page: the summary, bits per byte, and the training loss."""
    s = run_series(records)
    body = [
        key_values(run_summary(records)),
        "<h2>Bits per byte</h2>",
        f'<div class="plot">{report_svg(records)}</div>',
        "<h2>Training loss</h2>",
        f'<div class="plot">{line_chart({"loss": s["loss"]}, "step", "loss (nats per byte)", "training loss")}</div>',
    ]
    return page(f"bytepatch report: {name}", "\n".join(body))
