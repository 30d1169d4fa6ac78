"""The signals that ask a run to stop, and installing a handler for them.

SIGINT (Ctrl-C), SIGTERM (what `timeout`, Slurm and `docker stop` send) and SIGHUP (a
closed terminal). One rule for every command that handles them: a signal already
ignored when the handler would be installed stays ignored (`nohup` ignores SIGHUP, a
shell's `cmd &` SIGINT), and handlers set outside Python cannot be put back.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Callable, Iterator

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def catch_stop_signals(handler: Callable[[int, Any], None]) -> dict[int, Any]:
    """Install `handler` for each stop signal not ignored, from the main thread (the only
    one that may); returns the handlers it replaced, for `restore`."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS if signal.getsignal(sig) is not signal.SIG_IGN}


def restore(previous: dict[int, Any]) -> None:
    """Put back the handlers `catch_stop_signals` replaced."""
    for sig, handler in previous.items():
        if handler is not None:  # None: set outside Python, cannot be put back
            signal.signal(sig, handler)


@contextlib.contextmanager
def blocked(signals: list[int] | tuple[int, ...] = STOP_SIGNALS) -> Iterator[None]:
    """Hold `signals` back from this thread meanwhile, where signal masks exist (a signal
    sent to the process may still reach another of its threads). A process forked or
    spawned meanwhile starts with them held back too."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
