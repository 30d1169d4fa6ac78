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


def _run(args: list[str], **streams) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bytepatch.cli.main", *args], stderr=subprocess.PIPE, timeout=120, **streams
    )


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["model-info", "tiny"], ["verify", "default"], ["--version"], ["stats", "--help"]])
def test_a_full_disk_under_stdout_is_one_line_and_status_1(args: list[str]) -> None:
    """`cmd > /dev/full`: the result is lost, so the run failed; it ended in a traceback
    (an OSError out of click.echo, or out of option parsing for --help and --version)."""
    with open("/dev/full", "wb") as full:
        proc = _run(args, stdout=full)
    assert proc.returncode == 1
    assert proc.stderr.decode() == "Error: <stdout>: cannot write: No space left on device\n"


@pytest.mark.parametrize("args", [["model-info", "tiny"], ["stats", "--help"]])
def test_a_closed_stdout_is_one_line_and_status_1(args: list[str]) -> None:
    """`cmd >&-`: Python sets sys.stdout to None and click.echo then drops the result
    without a word: status 0 (then a traceback from the exit's flush, or from isatty)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; os.close(1); os.execv(sys.argv[1], sys.argv[1:])",
            sys.executable,
            "-m",
            "bytepatch.cli.main",
            *args,
        ],
        stderr=subprocess.PIPE,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.decode() == "Error: <stdout>: cannot write: Bad file descriptor\n"


def test_a_closed_stdout_is_no_file_descriptor_for_the_command_to_write_data_to(tmp_path: Path) -> None:
    """With fd 1 closed, the command's first open() took it: its own file was then
    stdout, for anything (a library, a C extension) that writes to fd 1."""
    probe = (
        "import os, sys\n"
        "from bytepatch.cli._stdout import guard_standard_streams\n"
        "guard_standard_streams()\n"
        f"fd = os.open({str(tmp_path / 'data')!r}, os.O_WRONLY | os.O_CREAT)\n"
        "sys.stderr.write(str(fd))\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; os.close(1); os.execv(sys.argv[1], sys.argv[1:])",
            sys.executable,
            "-c",
            probe,
        ],
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stderr) > 2


def test_text_a_non_utf8_stdout_cannot_encode_is_escaped_not_a_traceback() -> None:
    """A Latin-1 locale (here PYTHONIOENCODING): `inspect` of CJK text, `stats` bars
    ended in a UnicodeEncodeError traceback; such characters are now written as
    escapes (`\\u4e16`, as inspect writes its other escapes) in the stream's encoding."""
    args = [sys.executable, "-m", "bytepatch.cli.main", "inspect", "--text", "é 世界", "--patcher", "space"]
    utf8 = subprocess.run(args, capture_output=True, env=os.environ | {"PYTHONIOENCODING": "utf-8"}, timeout=120)
    latin1 = subprocess.run(args, capture_output=True, env=os.environ | {"PYTHONIOENCODING": "latin-1"}, timeout=120)
    assert latin1.returncode == 0, latin1.stderr.decode(errors="replace")
    assert b"\\u4e16\\u754c" in latin1.stdout
    assert latin1.stdout == utf8.stdout.decode().encode("latin-1", "backslashreplace")


@pytest.mark.parametrize("unbuffered", [["-u"], []])
def test_an_unbuffered_stdout_stays_unbuffered(unbuffered: list[str]) -> None:
    """`python -u` / PYTHONUNBUFFERED=1 (set in many container images): stdout was rebuilt
    block-buffered, so `cmd > log 2>&1` put what stdout said after everything on stderr
    (or lost it, killed before the exit's flush); the rebuilt stdout keeps Python's buffering."""
    probe = (
        "import sys\n"
        "from bytepatch.cli._stdout import guard_standard_streams\n"
        "guard_standard_streams()\n"
        "sys.stdout.write('out\\n')\n"
        "sys.stderr.write('err\\n')\n"
        "sys.stderr.flush()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.run(
        [sys.executable, *unbuffered, "-c", probe],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout == (
        b"out\nerr\n" if unbuffered else b"err\nout\n"
    )  # buffered: out at exit, as without the guard
