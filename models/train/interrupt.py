"""Stopping a run on request: Ctrl-C, SIGTERM or SIGHUP checkpoints after the current step
instead of losing it.

SIGTERM is what a scheduler sends before it kills a job (Slurm's preemption and time
limit, `docker stop`, torchrun passing on its own); SIGHUP a closed terminal. A signal
that was ignored when training started (`nohup` ignores SIGHUP) stays ignored.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class TrainingInterrupted(Exception):
    """Training stopped early on request (Ctrl-C or a stop signal); a checkpoint for
    `--resume` was written. `signum`: the signal that asked (the CLI exits 128 + it)."""

    def __init__(self, step: int, signum: int = signal.SIGINT) -> None:
        super().__init__(f"interrupted after step {step}; checkpoint saved, continue with --resume")
        self.step, self.signum = step, int(signum)

    def __reduce__(self) -> tuple:
        return (type(self), (self.step, self.signum))


class StopOnSignal:
    """The first stop signal asks the loop to stop after the current step (and
    checkpoint); a second one aborts."""

    def __init__(self) -> None:
        self.requested = False
        self.signum: int = signal.SIGINT
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested, self.signum = True, signum

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():  # signal handlers live on the main thread only
            for sig in STOP_SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, previous in self._previous.items():
            if previous is not None:  # None: set outside Python, cannot be put back
                signal.signal(sig, previous)
        self._previous = {}
