"""Writing to stdout for a reader that may leave early: `bytepatch generate ... | head -1`.

A Unix filter stops quietly, and successfully, when its reader closes the pipe: the
reader asked for no more. Python ignores SIGPIPE, so the next write raises
BrokenPipeError, which click turns into exit status 1 without a word. Here it ends the
command with status 0 instead, after pointing stdout at /dev/null: Python flushes stdout
again on exit, and that flush would fail too ("Exception ignored ... BrokenPipeError",
status 120).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import click


@contextlib.contextmanager
def reader_may_leave() -> Iterator[None]:
    """Run the block that writes to stdout; a closed pipe ends the command quietly with status 0.

    Wrap only the writes to stdout: a broken pipe elsewhere (a socket, a pipe the command
    opened itself) is a fault, not the reader of stdout going away."""
    try:
        yield
    except BrokenPipeError:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):  # stdout is no file (a test's capture): nothing is flushed to a pipe
            pass
        raise click.exceptions.Exit(0) from None
