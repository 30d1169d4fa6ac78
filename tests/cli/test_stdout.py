"""cli/_stdout.py: telling the reader of stdout going away from any other broken pipe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.closed_pipe import run_into_closed_pipe

PROBE = "from bytepatch.cli._stdout import reader_left; import sys; sys.stderr.write(str(reader_left()))"


def _reader_left(stdout) -> str:
    return subprocess.run([sys.executable, "-c", PROBE], stdout=stdout, stderr=subprocess.PIPE, text=True).stderr


def test_reader_left_only_for_a_pipe_nobody_reads(tmp_path: Path) -> None:
    read, write = os.pipe()
    try:
        assert _reader_left(write) == "False"  # a reader is there: a broken pipe is some other fault
        os.close(read)
        assert _reader_left(write) == "True"
    finally:
        os.close(write)
    with open(tmp_path / "out.txt", "wb") as f:
        assert _reader_left(f) == "False"


@pytest.mark.parametrize("args", [["verify", "default"], ["model-info", "tiny"]])
def test_commands_stop_quietly_when_the_reader_closes_the_pipe(args: list[str]) -> None:
    """Any command: the group ends it with status 0 (click said nothing, status 1)."""
    assert run_into_closed_pipe(*args) == (0, b"")
