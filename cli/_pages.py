"""Writing a report file (an HTML page, an SVG picture) whole or not at all.

`inspect`, `stats` and `report` write pages next to what they print. The page is
encoded before anything is opened, then written under a temporary name and renamed, so
an encoding fault, a full disk or Ctrl-C never leaves an empty or half-written page
where the last good one was.
"""

from __future__ import annotations

from pathlib import Path

import click

from bytepatch.dataset.files import atomic_write
from bytepatch.io.fs import shown_path


def write_page(path: str, text: str) -> None:
    """`text` as UTF-8 at `path`, atomically; a one-line ClickException names the path."""
    data = text.encode("utf-8")  # a bug (a raw surrogate) raises here, before any file exists
    try:
        atomic_write(Path(path), lambda tmp: tmp.write_bytes(data))
    except OSError as exc:
        raise click.ClickException(f"{shown_path(path)}: cannot write: {exc.strerror or exc}") from exc
