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

A KeyboardInterrupt raised inside a callback from C through ctypes is printed and
dropped, and the run would go on, deaf to further signals. Numba loading a kernel calls
back into Python that way (llvmlite's object cache), so a signal handled there is put
off: the handler returns, and a thread waits until the main thread has left the
callback, then marks the signal as come again (`_thread.interrupt_main`), for Python to
run the handler at its next check. A signal that lands inside an import is put off the
same way: C code that imports a module may clear the import's error, and the
KeyboardInterrupt with it (Arrow does, importing pandas on its first conversion of an
array to NumPy: the run went on, and with the later signals ignored, no Ctrl-C could
stop it). Python drops an exception raised where nothing can receive it (a weakref
callback, `__del__`, a callback from C) and hands it to `sys.unraisablehook`: there the
KeyboardInterrupt is not printed but marked as come again, the same way, so it is acted
on once the main thread is back in ordinary code. (Numba disposing of its types runs
weakref callbacks, and a signal put off while it loads kernels can land in one.) Should
one be lost all the same (C code that clears it, as in an import), the run goes on to its
end and the command says so.
"""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any, Callable

import click

from bytepatch.signals import catch_stop_signals, restore


# Code that C calls back through ctypes, where a raised exception is dropped.
_CALLBACK_PACKAGES = (f"{os.sep}llvmlite{os.sep}",)


def runs_in(frame: FrameType | None, is_file: Callable[[str], bool]) -> bool:
    """Whether `frame`, or a frame that called it, runs code of a file `is_file` picks."""
    while frame is not None:
        if is_file(frame.f_code.co_filename):
            return True
        frame = frame.f_back
    return False


def in_callback_from_c(frame: FrameType | None) -> bool:
    """Whether `frame` runs inside a known callback from C (see the module docstring)."""
    return runs_in(frame, lambda name: any(p in name for p in _CALLBACK_PACKAGES))


def in_import(frame: FrameType | None) -> bool:
    """Whether `frame` runs inside an import (see the module docstring)."""
    return runs_in(frame, lambda name: name.startswith("<frozen importlib"))


def _again_outside_callbacks(signum: int) -> None:
    main = threading.main_thread().ident
    while in_callback_from_c(frame := sys._current_frames().get(main)) or in_import(frame):
        time.sleep(0.001)
    _thread.interrupt_main(signum)  # does nothing if the signal is ignored by then


def _frames_of(tb: TracebackType | None) -> list[FrameType]:
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    return frames


def _again_once_left(frames: list[FrameType], signum: int, finished: threading.Event) -> None:
    main = threading.main_thread().ident
    while runs_in_any(sys._current_frames().get(main), frames):
        time.sleep(0.001)
    if not finished.is_set():  # else the block ended first, and said the signal came
        _thread.interrupt_main(signum)


def runs_in_any(frame: FrameType | None, frames: list[FrameType]) -> bool:
    """Whether `frame`, or a frame that called it, is one of `frames`."""
    while frame is not None:
        if any(frame is f for f in frames):
            return True
        frame = frame.f_back
    return False


@contextmanager
def exit_on_interrupt(message: str | Callable[[], str | None]) -> Iterator[None]:
    """Run the block; if SIGINT, SIGTERM or SIGHUP arrives, print `message` and exit
    128 + its number (130 for SIGINT) whatever was raised. A callable `message` is asked
    then, after the clean-up, when what to advise depends on how far the run got; it
    answers None when the block's output was complete before the signal came (what was
    left was to return it): the command then says so and exits 0."""
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        if in_callback_from_c(frame) or in_import(frame):
            threading.Thread(target=_again_outside_callbacks, args=(signum,), daemon=True).start()
            return
        for sig in previous:  # one interruption: the clean-up it starts runs to its end
            signal.signal(sig, signal.SIG_IGN)
        received.append(signum)
        raise KeyboardInterrupt

    def dropped(unraisable: Any) -> None:
        if received and isinstance(unraisable.exc_value, KeyboardInterrupt) and _on_main_thread():
            # Ours, raised where Python could only drop it: again, from a thread, once the
            # main thread has left this hook and the code that dropped it (here, it would
            # run at once and be dropped for good).
            signal.signal(received[0], handler)
            frames = [sys._getframe(), *_frames_of(unraisable.exc_traceback)]
            args = (frames, received[0], finished)
            threading.Thread(target=_again_once_left, args=args, daemon=True).start()
            return
        previous_hook(unraisable)

    finished = threading.Event()

    previous = catch_stop_signals(handler)
    previous_hook, sys.unraisablehook = sys.unraisablehook, dropped
    try:
        yield
        finished.set()  # a signal dropped from here on is said below, not acted on
        if received:  # its KeyboardInterrupt was lost on the way (see the module docstring)
            click.echo(
                f"note: a stop signal ({signal.Signals(received[0]).name}) came where it could not stop the run, "
                "which went on and finished; its output is complete",
                err=True,
            )
    except BaseException as exc:  # noqa: BLE001 - re-raised unless a stop signal came
        if received or isinstance(exc, KeyboardInterrupt):
            for sig in previous:  # nor may a later one interrupt the exit
                signal.signal(sig, signal.SIG_IGN)
            signum = received[0] if received else signal.SIGINT
            text = message() if callable(message) else message
            if text is None:
                name = signal.Signals(signum).name
                click.echo(
                    f"note: a stop signal ({name}) came once the run had written its output, which is complete",
                    err=True,
                )
                sys.exit(0)
            click.echo(text, err=True)
            sys.exit(128 + signum)
        raise
    finally:
        finished.set()
        sys.unraisablehook = previous_hook
        restore(previous)


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
