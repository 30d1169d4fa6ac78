"""Run a bytepatch command whose stdout is a pipe nobody reads (`bytepatch ... | head`
once `head` has its lines): what a command does when its reader leaves."""

from __future__ import annotations

import os
import subprocess
import sys


def run_into_closed_pipe(*args: str, timeout: float = 120) -> tuple[int, bytes]:
    """(exit status, stderr) of `bytepatch ARGS` writing to a pipe whose reading end is
    closed before it starts, so its first write to stdout meets a closed pipe."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bytepatch.cli.main", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            timeout=timeout,
        )
    finally:
        os.close(write)
    return proc.returncode, proc.stderr
