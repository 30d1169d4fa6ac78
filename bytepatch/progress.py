"""A minimal progress line on stderr: bytes done, MB/s, ETA.

Shown only on a terminal, and only once a run has lasted a couple of seconds, so
quick runs, pipes and CI logs stay clean. No dependency: one carriage-return line.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total_bytes: int | None, enabled: bool = True, stream: TextIO | None = None,
                 delay_s: float = 2.0) -> None:  # fmt: skip
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.total = total_bytes
        self.done = 0
        self.start = time.monotonic()
        self.delay_s = delay_s
        self._last_draw = 0.0
        self._drawn = False

    def update(self, n_bytes: int) -> None:
        self.done += n_bytes
        now = time.monotonic()
        if self.enabled and now - self.start >= self.delay_s and now - self._last_draw >= 0.2:
            self._last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        line = f"{self.done / 1e6:,.1f} MB"
        if self.total:
            line += f" / {self.total / 1e6:,.1f} MB"
        line += f"  {rate / 1e6:,.1f} MB/s"
        if self.total and rate > 0 and self.total > self.done:
            line += f"  ETA {_clock((self.total - self.done) / rate)}"
        self.stream.write("\r\x1b[K" + line)
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds + 0.5), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
