"""A progress line on stderr for work measured in bytes: done, written, MB/s, elapsed, ETA.

Shown only on a terminal, and only once a run has lasted a couple of seconds, so
quick runs, pipes and CI logs stay clean. No dependency: one carriage-return line.

"Done" is work finished (for `segment`: bytes patched), never bytes merely read, so the
ETA is truthful when reading runs ahead of the work (several workers, big chunks).
The total is an estimate until the input is read to its end: file sizes are close to
document bytes for text and JSONL, not for compressed Parquet, so the total becomes
exact (`reading_done`) as soon as the reader has seen every document.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(
        self,
        total_bytes: int | None,
        enabled: bool = True,
        stream: TextIO | None = None,
        delay_s: float = 2.0,
        label: str = "",
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.total = total_bytes
        self.label = label
        self.done = 0
        self.read = 0
        self.written = 0
        self.skipped = 0  # done by an earlier run (kept shards of a resumed run)
        self.start = time.monotonic()
        self.delay_s = delay_s
        self._last_draw = 0.0
        self._drawn = False

    def update(self, n_bytes: int) -> None:
        """`n_bytes` more bytes of work done."""
        self.set_done(self.done + n_bytes)

    def set_done(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if self.enabled and now - self.start >= self.delay_s and now - self._last_draw >= 0.2:
            self._last_draw = now
            self._draw(now)

    def add_read(self, n_bytes: int) -> None:
        """Input read (not yet done): only keeps the estimated total honest."""
        self.read += n_bytes
        if self.total is not None and self.read > self.total:
            self.total = self.read

    def reading_done(self) -> None:
        """Every document has been read: the total is now exact."""
        self.total = self.read

    def skip(self, n_bytes: int) -> None:
        """Work an earlier run did (patched and written): counted, and part of `skipped`."""
        self.skipped += n_bytes
        self.written += n_bytes
        self.update(n_bytes)

    def add_written(self, n_bytes: int) -> None:
        self.written += n_bytes
        self.set_done(self.done)

    def line(self, now: float | None = None) -> str:
        """The progress line as drawn (without the carriage return)."""
        now = time.monotonic() if now is None else now
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        line = f"{self.label} " if self.label else ""
        line += f"{self.done / 1e6:,.1f} MB"
        if self.total:
            line += f" / {self.total / 1e6:,.1f} MB ({100 * min(self.done / self.total, 1):.0f}%)"
        if self.written:
            line += f", written {self.written / 1e6:,.1f} MB"
        line += f"  {rate / 1e6:,.1f} MB/s  elapsed {clock(elapsed)}"
        if self.total and rate > 0 and self.total > self.done:
            line += f"  ETA {clock((self.total - self.done) / rate)}"
        return line

    def _draw(self, now: float) -> None:
        self.stream.write("\r\x1b[K" + self.line(now))
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def clock(seconds: float) -> str:
    """`1:02:03` or `2:03`."""
    m, s = divmod(int(seconds + 0.5), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
