"""What `segment --engine ray` prints on the terminal, run as a user runs it (a process of
its own, which starts its own local Ray instance)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="pip install 'ray[data]' (the test extra installs it)")

pytestmark = pytest.mark.slow  # each test starts a Ray instance: ~10 s here

REPO = Path(__file__).resolve().parents[3]


def segment_on_ray(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """`bytepatch segment --engine ray` of a small corpus in a new process (Ray's console
    output is written by its own handlers and its C++ core, which CliRunner does not see)."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text("".join(f'{{"text": "document {i}"}}\n' for i in range(50)))
    command = "from bytepatch.cli.main import cli; cli()"
    argv = ["segment", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--patcher", "space", "--engine", "ray"]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # a local instance of its own
    result = subprocess.run(
        [sys.executable, "-c", command, *argv, "--ray-actors", "1", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_a_ray_run_uses_no_deprecated_ray_argument(tmp_path: Path):
    """Every run printed two deprecation warnings of Ray 2.60 (`concurrency`, and
    `ray_remote_args` for max_restarts/max_task_retries, which Ray 2.64 removes)."""
    result = segment_on_ray(tmp_path)
    assert "deprecated" not in result.stderr.lower(), result.stderr


# The one line no setting of Ray's Python side quiets: its C++ core (the driver's) logs it
# when an actor pool starts (ray-project/ray#53727), whatever the logging levels.
CONSTRUCTOR_ARGUMENTS_LINE = re.compile(r"^\[[^]]+ E \d+ \d+\] core_worker\.cc:\d+: Actor .* has constructor arguments")


def test_quiet_ray_run_prints_nothing_of_ray_but_errors(tmp_path: Path):
    """-q silenced bytepatch's progress and summary, but Ray went on printing its INFO and
    WARNING lines: "Started a local Ray instance", Ray Data's execution plan, "Progress bars
    disabled" (a warning about -q itself) and the time the run took."""
    result = segment_on_ray(tmp_path, "-q")
    printed = [line for line in result.stderr.splitlines() if not CONSTRUCTOR_ARGUMENTS_LINE.match(line)]
    assert printed == [] and result.stdout == "", result.stderr


def test_without_quiet_ray_says_what_it_does(tmp_path: Path):
    """Quiet is -q's alone: a plain run still shows Ray's lines and bytepatch's summary."""
    result = segment_on_ray(tmp_path)
    assert "Started a local Ray instance" in result.stderr and "50 documents" in result.stderr
