"""Seeing the patches: pure renderers of one patched document (terminal, HTML, SVG).

No torch, no patching policy: build a `PatchView` (`build_view`) from bytes, a patcher
and optional entropies, then render it. `bytepatch inspect` is a thin shell over this.
"""

from bytepatch.inspect.escape import escape_bytes, escaped_text, unescape
from bytepatch.inspect.html import inspect_page, patched_text_html
from bytepatch.inspect.svg import entropy_svg
from bytepatch.inspect.terminal import render_color, render_listing, render_plain
from bytepatch.inspect.view import Patch, PatchView, build_view

__all__ = [
    "Patch",
    "PatchView",
    "build_view",
    "entropy_svg",
    "escape_bytes",
    "escaped_text",
    "inspect_page",
    "patched_text_html",
    "render_color",
    "render_listing",
    "render_plain",
    "unescape",
]
