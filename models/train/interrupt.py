"""Stopping a run on request: Ctrl-C, SIGTERM or SIGHUP checkpoints after the current step
instead of losing it.

SIGTERM is what a scheduler sends before it kills a job (Slurm's preemption and time
limit, `docker stop`, torchrun passing on its own); SIGHUP a closed terminal. A signal
that was ignored when training started (`nohup` ignores SIGHUP) stays ignored.
"""

from __future__ import annotations

import signal
from typing import Any

from bytepatch.signals import catch_stop_signals, restore


class TrainingInterrupted(Exception):
    """Training stopped early on request (Ctrl-C or a stop signal); a checkpoint for
    `--resume` was written. `signum`: the signal that asked (the CLI exits 128 + it)."""

    def __init__(self, step: int, signum: int = signal.SIGINT) -> None:
        super().__init__(f"interrupted after step {step}; checkpoint saved, continue with --resume")
        self.step, self.signum = step, int(signum)

    def __reduce__(self) -> tuple:
        return (type(self), (self.step, self.signum))


class TrainingAborted(KeyboardInterrupt):
    """A second stop signal: training stops at once, without a checkpoint of the current
    step (the last one written stays, and `--resume` starts there; `checkpointed`: whether
    there is one). A KeyboardInterrupt, so that no `except Exception` on the way out can
    swallow it."""

    def __init__(self, signum: int = signal.SIGINT, checkpointed: bool = True) -> None:
        if checkpointed:
            message = (
                "stopped at once by a second signal: no checkpoint of this step; --resume starts from the last one"
            )
        else:  # a first signal does not cut a step short: two early ones can come before any checkpoint
            message = "stopped at once by a second signal, before any checkpoint was written: start the run again"
        super().__init__(message)
        self.signum, self.checkpointed = int(signum), checkpointed

    def __reduce__(self) -> tuple:
        return (type(self), (self.signum, self.checkpointed))


class StopOnSignal:
    """The first stop signal asks the loop to stop after the current step (and
    checkpoint); a second one aborts (`TrainingAborted`)."""

    def __init__(self) -> None:
        self.requested = False
        self.signum: int = signal.SIGINT
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise TrainingAborted(signum)
        self.requested, self.signum = True, signum

    def __enter__(self) -> StopOnSignal:
        self._previous = catch_stop_signals(self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        restore(self._previous)
        self._previous = {}
