"""Ctrl-C (or SIGTERM, SIGHUP) anywhere in a command: one line on stderr, exit status
128 + the signal's number (130 for Ctrl-C), never a traceback.

Python raises KeyboardInterrupt wherever the main thread happens to be when SIGINT
arrives. Inside a Numba dispatcher or a torch call it can surface as something else
(`SystemError: CPUDispatcher(...) returned a result with an exception set`), and an
`except ValueError` on the way up can turn it into an ordinary error message. So the
handler also records that SIGINT came: whatever exception then ends the command, it
is reported as the interruption it is. Worker processes ignore SIGINT (see
`bytepatch.segment.processes`); the parent stops them.

SIGTERM (what `timeout`, Slurm and `docker stop` send) and SIGHUP (a closed terminal)
take the same path, so the run's clean-up (workers stopped, temporaries removed) runs
for them too; by default Python would just die. The first signal is the only one
acted on: later ones are ignored, so a second Ctrl-C cannot break the clean-up halfway
(SIGKILL still can, as it can anything).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from bytepatch.signals import catch_stop_signals, restore


@contextmanager
def exit_on_interrupt(message: str) -> Iterator[None]:
    """Run the block; if SIGINT, SIGTERM or SIGHUP arrives, print `message` and exit
    128 + its number (130 for SIGINT) whatever was raised."""
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        for sig in previous:  # one interruption: the clean-up it starts runs to its end
            signal.signal(sig, signal.SIG_IGN)
        received.append(signum)
        raise KeyboardInterrupt

    previous = catch_stop_signals(handler)
    try:
        yield
    except BaseException as exc:  # noqa: BLE001 - re-raised unless a stop signal came
        if received or isinstance(exc, KeyboardInterrupt):
            for sig in previous:  # nor may a later one interrupt the exit
                signal.signal(sig, signal.SIG_IGN)
            click.echo(message, err=True)
            sys.exit(128 + (received[0] if received else signal.SIGINT))
        raise
    finally:
        restore(previous)
