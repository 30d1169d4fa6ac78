"""Writing a report file (an HTML page, an SVG picture) whole or not at all.

`inspect`, `stats` and `report` write pages next to what they print. The page is
encoded before anything is opened, then written under a temporary name and renamed, so
an encoding fault, a full disk or Ctrl-C never leaves an empty or half-written page
where the last good one was.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from bytepatch.dataset.files import atomic_write
from bytepatch.io.fs import shown_path


def write_page(path: str, text: str) -> None:
    """`text` as UTF-8 at `path`, atomically where `path` is (or will be) a regular file;
    a link is followed to the file it names (and stays a link), and a device or pipe
    (`/dev/stdout`) is written directly. A one-line ClickException names the path."""
    data = text.encode("utf-8")  # a bug (a raw surrogate) raises here, before any file exists
    given = Path(path)
    try:
        if given.exists() and not given.is_file():  # a device, a pipe (/dev/fd/1 too): no temporary beside it
            with open(given, "wb") as f:
                f.write(data)
        else:  # through a link: replace the file it names, not the link
            atomic_write(Path(os.path.realpath(path)), lambda tmp: tmp.write_bytes(data))
    except OSError as exc:
        raise click.ClickException(f"{shown_path(path)}: cannot write: {exc.strerror or exc}") from exc
