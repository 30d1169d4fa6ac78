"""Stopping a run on request: Ctrl-C checkpoints after the current step instead of losing it."""

from __future__ import annotations

import signal
import threading
from typing import Any


class TrainingInterrupted(Exception):
    """Training stopped early on request (Ctrl-C); a checkpoint for `--resume` was written."""

    def __init__(self, step: int) -> None:
        super().__init__(f"interrupted after step {step}; checkpoint saved, continue with --resume")
        self.step = step


class StopOnSigint:
    """First Ctrl-C asks the loop to stop after the current step (and checkpoint); a second one aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> StopOnSigint:
        if threading.current_thread() is threading.main_thread():  # signal handlers live on the main thread only
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
