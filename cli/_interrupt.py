"""Ctrl-C anywhere in a command: one line on stderr, exit status 130, never a traceback.

Python raises KeyboardInterrupt wherever the main thread happens to be when SIGINT
arrives. Inside a Numba dispatcher or a torch call it can surface as something else
(`SystemError: CPUDispatcher(...) returned a result with an exception set`), and an
`except ValueError` on the way up can turn it into an ordinary error message. So the
handler also records that SIGINT came: whatever exception then ends the command, it
is reported as the interruption it is. Worker processes ignore SIGINT (see
`bytepatch.segment.processes`); the parent stops them.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click


@contextmanager
def exit_130_on_interrupt(message: str) -> Iterator[None]:
    """Run the block; if SIGINT arrives, print `message` and exit 130 whatever was raised."""
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, handler) if main else None
    try:
        yield
    except BaseException as exc:  # noqa: BLE001 - re-raised unless SIGINT came
        if received or isinstance(exc, KeyboardInterrupt):
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the exit
            click.echo(message, err=True)
            sys.exit(130)
        raise
    finally:
        if main and previous is not None:
            signal.signal(signal.SIGINT, previous)
