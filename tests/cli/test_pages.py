"""Report pages (`inspect --html`, `stats --html/--svg`, `report`) are written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from bytepatch.cli._pages import write_page


def test_a_page_is_written_whole(tmp_path: Path) -> None:
    out = tmp_path / "p.html"
    write_page(str(out), "<p>é</p>")
    assert out.read_text(encoding="utf-8") == "<p>é</p>" and [p.name for p in tmp_path.iterdir()] == ["p.html"]


def test_a_failed_write_keeps_the_old_page_and_leaves_no_temporary(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "p.html"
    out.write_text("old")

    def full_disk(self: Path, data: bytes) -> int:
        with open(self, "wb") as f:
            f.write(data[:3])
        raise OSError(28, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(click.ClickException, match=r"p\.html: cannot write: No space left on device"):
        write_page(str(out), "<p>new page</p>")
    assert out.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["p.html"]


def test_text_that_cannot_be_encoded_creates_no_file(tmp_path: Path) -> None:
    out = tmp_path / "p.html"
    with pytest.raises(UnicodeEncodeError):  # a bug: callers escape what they put in a page
        write_page(str(out), "raw \udcff")
    assert not out.exists()


def test_a_link_stays_a_link_and_a_pipe_is_written_into(tmp_path: Path) -> None:
    """The temporary-and-rename replaced a link with a file, and failed on /dev/fd/1."""
    import os
    import threading

    (tmp_path / "web").mkdir()
    real = tmp_path / "web" / "real.svg"
    real.write_text("old")
    link = tmp_path / "link.svg"
    link.symlink_to(real)
    write_page(str(link), "<svg/>")
    assert link.is_symlink() and real.read_text() == "<svg/>"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    write_page(str(fifo), "<p>through a pipe</p>")
    reader.join(10)
    assert got == [b"<p>through a pipe</p>"] and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
