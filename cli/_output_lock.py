"""The output-directory lock as the CLI uses it: a refused lock is a one-line error."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import click

from bytepatch.lock import DirectoryLock, LockedError


@contextlib.contextmanager
def output_lock(directory: str, command: str) -> Iterator[None]:
    """Hold `directory`'s exclusive lock for the block. Under torchrun only rank 0 locks:
    the ranks of one run share the directory by design."""
    if os.environ.get("RANK", "0") != "0":
        yield
        return
    lock = DirectoryLock(directory, f"bytepatch {command}")
    try:
        lock.acquire()
    except LockedError as exc:
        raise click.ClickException(str(exc)) from None
    remove_stale_temporaries(Path(directory))
    try:
        yield
    finally:
        lock.release()


def remove_stale_temporaries(directory: Path) -> None:
    """Temporaries (".NAME.<random>.tmp") a killed run left behind: with the lock held no
    live run can be writing them, so they go (they would otherwise pile up after kills)."""
    for path in directory.glob(".*.tmp"):
        if path.is_file():
            path.unlink(missing_ok=True)
