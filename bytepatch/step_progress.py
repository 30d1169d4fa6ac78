"""Progress of a run counted in steps (training): step, loss, bytes/s, elapsed, ETA.

On a terminal one line is redrawn after every step (at most 5 times a second), so a
user sees the run move from its first step and during evaluation (`status`). Not on a
terminal (a pipe, a CI log, a batch job), a plain line is written at least every
`every_s` seconds and after the first step, so a log never goes quiet for long and
is never flooded. Ordinary messages (`say`) clear the redrawn line first, so the two
never mix. Pure standard library: the trainer calls it, nothing here knows torch.

Trade-off: the ETA assumes the remaining steps run at the mean speed of the steps so
far in this process (evaluation time included), which is what a user waits for. That
speed counts from `begin()` (the caller's first step), not from the set-up before it
(opening the data, reading a checkpoint); `elapsed` counts from the start.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

from bytepatch.progress import clock

DRAW_EVERY_S = 0.2  # terminal redraws at most this often


class StepProgress:
    def __init__(
        self,
        total_steps: int,
        start_step: int = 0,
        stream: TextIO | None = None,
        every_s: float = 30.0,
        clock_fn: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total = total_steps
        self.start_step = start_step
        self.every_s = every_s
        self.now = clock_fn
        self.start = clock_fn()
        self.steps_start = self.start  # where the speed (bytes/s, ETA) counts from: `begin`
        self._last_draw = -1e18
        self._last_line = -1e18
        self._drawn = False
        self.step = start_step
        self.loss: float | None = None
        self.bytes_done = 0

    def begin(self) -> None:
        """The steps start now: the time before (set-up) counts in `elapsed`, not in the speed."""
        self.steps_start = self.now()

    def update(self, step: int, loss: float | None = None, bytes_done: int | None = None) -> None:
        """Step `step` is done (with its loss, and the bytes trained on in this process so far)."""
        self.step, self.loss = step, loss if loss is not None else self.loss
        if bytes_done is not None:
            self.bytes_done = bytes_done
        now = self.now()
        if self.tty:
            if now - self._last_draw >= DRAW_EVERY_S or step >= self.total:
                self._draw(self.line(now))
                self._last_draw = now
        elif now - self._last_line >= self.every_s or step >= self.total:
            self._write(self.line(now))
            self._last_line = now

    def status(self, text: str) -> None:
        """A passing state (e.g. evaluating): shown on a terminal only, replaced by the next update."""
        if self.tty:
            self._draw(f"{self.line(self.now())}  [{text}]")

    def say(self, line: str) -> None:
        """An ordinary message line (log records, warnings)."""
        self._clear()
        self.stream.write(line + "\n")
        self.stream.flush()
        if not self.tty:
            self._last_line = self.now()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    def line(self, now: float) -> str:
        elapsed = max(now - self.start, 1e-9)
        stepping = max(now - self.steps_start, 1e-9)
        done = self.step - self.start_step
        parts = [f"step {self.step}/{self.total}"]
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4f}")
        if self.bytes_done:
            parts.append(f"{self.bytes_done / stepping:,.0f} bytes/s")
        parts.append(f"elapsed {clock(elapsed)}")
        if done > 0 and self.step < self.total:
            parts.append(f"ETA {clock((self.total - self.step) * stepping / done)}")
        return "  ".join(parts)

    def _draw(self, text: str) -> None:
        self.stream.write("\r\x1b[K" + text)
        self.stream.flush()
        self._drawn = True

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self._drawn = False
