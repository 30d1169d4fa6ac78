"""The `bytepatch stats` report: a compact text summary and an HTML page.

Both are pure functions of `DatasetStats.to_dict()`, so the text, the page and the
`--json` output always show the same numbers.
"""

from __future__ import annotations

from typing import Any

from bytepatch.inspect.escape import terminal_safe
from bytepatch.inspect.histogram import histogram_svg, histogram_text
from bytepatch.inspect.html import key_values, page
from bytepatch.inspect.view import format_settings, short_fingerprint


def settings_line(patcher: dict[str, Any] | None) -> str:
    """`entropy (threshold=1.335, max_patch_length=16)`: the patcher and its set options."""
    if not patcher:
        return "unknown"
    options = format_settings({k: v for k, v in patcher.items() if k != "patcher"})
    return f"{patcher.get('patcher', '?')} ({options})" if options else str(patcher.get("patcher", "?"))


def model_line(model: dict[str, Any] | None) -> str:
    """`default (ngram, fingerprint 1a2b3c...)`, or `none` for model-free patchers."""
    if not model:
        return "none"
    fingerprint = short_fingerprint(model.get("fingerprint"))
    return f"{model.get('name', '?')} ({model.get('kind', '?')}, fingerprint {fingerprint})"


def plain_number(x: float) -> str:
    """`6`, `1303.4`, `1234567`: a quantile of patch lengths in plain digits (at most two
    decimals). `:g` wrote lengths of a million bytes or more as `1.23457e+06`, rounded to
    six digits."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def summary_rows(s: dict[str, Any]) -> dict[str, str]:
    """Label -> value rows shared by the text and HTML reports."""
    size = s["patch_size"]
    no_patches = size["mean"] is None  # only empty documents: no size to report, not zeros
    rows = {
        "documents": f"{s['documents']:,}" + (f" ({s['empty_documents']:,} empty)" if s["empty_documents"] else ""),
        "bytes": f"{s['bytes']:,}",
        "patches": f"{s['patches']:,}",
        "patch size": "n/a (no patches)"
        if no_patches
        else f"mean {size['mean']:.2f}, median {plain_number(size['median'])}, p99 {plain_number(size['p99'])}, "
        f"min {size['min']}, max {size['max']}",
        "patcher": settings_line(s["patcher"]),
        "entropy model": model_line(s["entropy_model"]),
    }
    if s.get("calibration"):
        cal = s["calibration"]
        rows["calibration"] = f"target {cal.get('target_patch_size')} -> threshold {cal.get('threshold'):.4g}"
    return rows


def stats_text(name: str, s: dict[str, Any]) -> str:
    """The terminal report: one line per summary row, then the histogram bars."""
    rows = summary_rows(s)
    width = max(len(k) for k in rows)
    # Values come from the dataset's metadata (and its directory's name): never send their control or
    # zero-width characters raw.
    lines = [f"{terminal_safe(name)}: {s['shards']} shard(s)"] + [
        f"  {k:<{width}}  {terminal_safe(v)}" for k, v in rows.items()
    ]
    return "\n".join(lines + ["  patch lengths (bytes):", histogram_text(_bins(s))])


def stats_page(name: str, s: dict[str, Any]) -> str:
    """A self-contained HTML page with the summary table and the histogram as SVG."""
    body = [key_values(summary_rows(s)), "<h2>Patch lengths</h2>", f'<div class="plot">{stats_svg(s)}</div>']
    return page(f"bytepatch stats: {name}", "\n".join(body))


def stats_svg(s: dict[str, Any]) -> str:
    """The histogram alone, as a standalone SVG picture."""
    return histogram_svg(_bins(s))


def _bins(s: dict[str, Any]) -> list[tuple[int, int, int]]:
    return [(b["low"], b["high"], b["count"]) for b in s["histogram"]]
