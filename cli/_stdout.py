"""Writing to stdout for a reader that may leave early: `bytepatch inspect FILE | head`.

A Unix filter stops quietly, and successfully, when its reader closes the pipe: the
reader asked for no more. Python ignores SIGPIPE, so the next write raises
BrokenPipeError, which click turns into exit status 1 without a word. The command group
(`cli/main.py`) asks `reader_left` whether that error came from stdout's reader going
away, and then ends the command with status 0 (`leave_quietly`); a broken pipe elsewhere
(a worker's pipe, a socket) stays the fault it is.

Any other failed write to stdout (`cmd > /dev/full`, a full disk, `cmd >&-`) loses the
result, so the command fails: `guard_standard_streams` makes such a write raise
`StdoutWriteError`, which `main` turns into one line and status 1.
"""

from __future__ import annotations

import codecs
import errno
import io
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


class StdoutWriteError(OSError):
    """A write to standard output failed for another reason than its reader leaving (a
    full disk, a descriptor closed or not open for writing): the command's result is lost.
    Its message: `<stdout>: cannot write: No space left on device`."""

    def __init__(self, code: int) -> None:
        super().__init__(code, f"cannot write: {os.strerror(code)}", "<stdout>")

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


class _StdoutFile(io.FileIO):
    """fd 1, whose failed writes say they are stdout's (a broken pipe stays BrokenPipeError)."""

    def write(self, data) -> int | None:  # type: ignore[override]
        try:
            return super().write(data)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StdoutWriteError(exc.errno or errno.EIO) from None


def guard_standard_streams() -> None:
    """Before a command runs: keep fds 0-2 taken, and make a failed write to stdout a
    `StdoutWriteError`.

    Why: a standard descriptor the caller closed (`cmd >&-`, a daemon's spawn) is the
    lowest free one, so the command's first open() took it, and whatever writes to fd 1
    (a library, a C extension) wrote into that file; and Python sets `sys.stdout` to None,
    so click.echo dropped the result without a word and the command said status 0. A
    closed stdin or stdout is reopened on /dev/null the wrong way round (as gnulib's
    stdopen does: reading or writing it fails, EBADF), a closed stderr writable (what
    would be said there is lost either way). Python's stdout, when it is fd 1, is then
    rebuilt over `_StdoutFile` with the same encoding, errors and buffering (unbuffered under
    `python -u`; where the encoding is not UTF-8, characters it cannot encode are written
    as `\\uXXXX` escapes)."""
    for fd, flags in ((0, os.O_WRONLY), (1, os.O_RDONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        try:
            new = os.open(os.devnull, flags)
        except OSError:
            continue
        if new != fd:
            os.dup2(new, fd)
            os.close(new)
        if fd == 0 and sys.stdin is None:
            sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
        if fd == 2 and sys.stderr is None:
            sys.stderr = io.TextIOWrapper(
                io.FileIO(2, "w", closefd=False), errors="backslashreplace", line_buffering=True
            )
    old = sys.stdout
    if old is not None and old is not sys.__stdout__:
        return  # redirected by the caller (a test's capture): theirs
    try:
        if old is not None and old.fileno() != 1:
            return
    except (AttributeError, OSError, ValueError):
        return
    encoding = getattr(old, "encoding", None) or "utf-8"
    errors = getattr(old, "errors", None) or ("surrogateescape" if old is None else "strict")
    if errors == "strict" and not _is_utf8(encoding):
        # A Latin-1 (or other non-UTF-8) locale: text it cannot encode (stats' bars, CJK
        # in inspect) ended in a UnicodeEncodeError traceback; it is written escaped.
        errors = "backslashreplace"
    line_buffering = bool(getattr(old, "line_buffering", False))
    raw = _StdoutFile(1, "w", closefd=False)
    # `python -u` / PYTHONUNBUFFERED (many container images set it): Python's stdout is then a
    # raw file written through, and so stays, else `cmd > log 2>&1` had stdout's lines after stderr's.
    unbuffered = old is not None and isinstance(getattr(old, "buffer", None), io.RawIOBase)
    sys.stdout = io.TextIOWrapper(
        raw if unbuffered else io.BufferedWriter(raw),
        encoding=encoding,
        errors=errors,
        line_buffering=line_buffering,
        write_through=bool(getattr(old, "write_through", False)),
    )


def _is_utf8(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")
    except LookupError:
        return False


def flush_stdout() -> None:
    """Flush stdout once the command is done: raises `StdoutWriteError` where the result
    cannot be written (exit would have swallowed it, after status 0). A reader that has
    left is no failure (`leave_quietly`'s rule), nor a stream the command closed."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        pass
