"""An exclusive lock on an output directory, held for a whole run.

Two runs writing one directory interleave their files and can leave a dataset whose
manifest describes shards the other run wrote. So every command that writes a
directory (segment, train, fit-entropy, train-entropy) holds this lock until it ends.

The lock is a file `.bytepatch-lock` (or a per-job name) holding the owner's host, pid,
command and start time, locked with `flock`. The kernel drops a `flock` when its
process dies, however it dies, so a lock left by a killed run is recognised as stale
without guessing from pids; a second run is refused with the owner's host and pid in
the message. After locking, the file is checked to still be the one at the path (a
releasing owner unlinks it), which makes acquire atomic against a concurrent release.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from bytepatch.errors import LockedError

LOCK_NAME = ".bytepatch-lock"


class DirectoryLock:
    """`with DirectoryLock(dir, "segment"):` holds an exclusive lock on `dir` for the block.

    The directory is created if missing (a lock needs a place to live); if this lock
    created it and it is still empty on release, it is removed again, so a run refused
    for bad input leaves nothing behind.
    """

    def __init__(self, directory: str | Path, command: str, name: str = LOCK_NAME) -> None:
        self.directory = Path(directory)
        self.command = command
        self.path = self.directory / name
        self._fd: int | None = None
        self._created_dir = False

    def acquire(self) -> None:
        if self.directory.exists() and not self.directory.is_dir():
            raise LockedError(f"{self.directory}: exists and is not a directory")
        if not self.directory.exists():
            try:
                self.directory.mkdir(parents=True)
                self._created_dir = True
            except FileExistsError:
                pass
            except OSError as exc:
                raise LockedError(f"{self.directory}: cannot create: {exc.strerror or exc}") from exc
        for _ in range(100):  # only loops while other runs release the lock under us
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise LockedError(f"{self.path}: cannot create the lock file: {exc.strerror or exc}") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise LockedError(self._held_message()) from None
                raise LockedError(f"{self.path}: cannot lock ({exc.strerror or exc})") from exc
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the previous owner unlinked it as we opened it: try the new file
                os.close(fd)
                continue
            owner = {
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "command": self.command,
                "since": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime()),
            }
            os.ftruncate(fd, 0)
            os.write(fd, (json.dumps(owner) + "\n").encode())
            self._fd = fd
            return
        raise LockedError(f"{self.path}: cannot lock, other runs keep taking it")

    def _held_message(self) -> str:
        try:
            owner = json.loads(self.path.read_text())
            who = f"`{owner.get('command')}` (pid {owner.get('pid')} on host {owner.get('host')}, since {owner.get('since')})"
        except (OSError, ValueError, AttributeError):
            who = "another process"
        return f"{self.directory}: in use by {who}; wait for that run to end (its lock is {self.path.name})"

    def release(self) -> None:
        if self._fd is None:
            return
        # Unlink while still holding the lock: a waiter that opened the old file sees
        # the inode change and retries on a fresh one.
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None
        if self._created_dir:
            try:
                self.directory.rmdir()  # only succeeds when empty
            except OSError:
                pass

    def __enter__(self) -> "DirectoryLock":
        self.acquire()
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def is_lock_file(name: str) -> bool:
    """A lock file name (never data, never the user's)."""
    return name.startswith(LOCK_NAME)
