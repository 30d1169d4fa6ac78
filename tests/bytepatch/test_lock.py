"""The output-directory lock: exclusive while its owner lives, free once it is gone."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bytepatch.lock import LOCK_NAME, DirectoryLock, LockedError

HOLD = (
    "import sys; from bytepatch.lock import DirectoryLock; "
    "lock = DirectoryLock(sys.argv[1], 'holder'); lock.acquire(); print('locked', flush=True); sys.stdin.read()"
)


class Holder:
    """A live process holding the lock on `directory` until closed."""

    def __init__(self, directory: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(directory)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout.readline().strip() == "locked"

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture
def holder(tmp_path):
    held = []

    def start(directory: Path) -> Holder:
        held.append(Holder(directory))
        return held[-1]

    yield start
    for h in held:
        if h.proc.poll() is None:
            h.close()


def test_a_live_owner_is_refused_with_its_host_and_pid(tmp_path, holder):
    h = holder(tmp_path / "out")
    with pytest.raises(LockedError) as err:
        DirectoryLock(tmp_path / "out", "second").acquire()
    msg = str(err.value)
    assert f"pid {h.proc.pid} on host {socket.gethostname()}" in msg and "`holder`" in msg and "\n" not in msg
    h.close()
    with DirectoryLock(tmp_path / "out", "third"):  # free once the owner is gone
        assert json.loads((tmp_path / "out" / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert not (tmp_path / "out" / LOCK_NAME).exists()


def test_a_killed_owner_leaves_a_stale_lock_that_is_taken_over(tmp_path, holder):
    h = holder(tmp_path)
    h.proc.kill()
    h.proc.wait()
    assert (tmp_path / LOCK_NAME).exists()  # the file stays, naming a dead pid
    with DirectoryLock(tmp_path, "next"):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["command"] == "next"


def test_a_created_directory_is_removed_when_left_empty(tmp_path):
    with DirectoryLock(tmp_path / "a" / "b", "x"):
        assert (tmp_path / "a" / "b").is_dir()
    assert not (tmp_path / "a" / "b").exists()
    with DirectoryLock(tmp_path / "c", "x"):
        (tmp_path / "c" / "result").write_text("kept")
    assert (tmp_path / "c" / "result").exists()


def test_a_file_in_the_way_is_refused(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(LockedError, match="not a directory"):
        DirectoryLock(tmp_path / "f", "x").acquire()
