"""Writing to stdout for a reader that may leave early: `bytepatch inspect FILE | head`.

A Unix filter stops quietly, and successfully, when its reader closes the pipe: the
reader asked for no more. Python ignores SIGPIPE, so the next write raises
BrokenPipeError, which click turns into exit status 1 without a word. The command group
(`cli/main.py`) asks `reader_left` whether that error came from stdout's reader going
away, and then ends the command with status 0 (`leave_quietly`); a broken pipe elsewhere
(a worker's pipe, a socket) stays the fault it is.
"""

from __future__ import annotations

import os
import select
import sys
from typing import NoReturn

import click


def reader_left() -> bool:
    """Whether stdout is a pipe or socket that nobody reads any more (poll says so with
    POLLERR or POLLHUP on its writing end); False for a file, a terminal, a test's capture."""
    if not hasattr(select, "poll"):  # Windows: no poll on pipes; the error stays an error
        return False
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def leave_quietly() -> NoReturn:
    """End the command with status 0, stdout pointed at /dev/null: Python flushes stdout
    again on exit, and that flush would fail too ("Exception ignored ... BrokenPipeError",
    status 120)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is no file: nothing is flushed to a pipe
        pass
    raise click.exceptions.Exit(0)
