"""Every command that writes a directory refuses one another live run holds (issue 13.2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.bytepatch.test_lock import Holder

BIN = [sys.executable, "-m", "bytepatch.cli.main"]


def _commands(tmp: Path, out: Path) -> dict[str, list[str]]:
    text = tmp / "in.txt"
    text.write_text("some text to read " * 50)
    return {
        "segment": ["segment", str(text), "-o", str(out), "--patcher", "space", "-q"],
        "fit-entropy": ["fit-entropy", str(text), "--output", str(out), "--order", "3"],
        "train-entropy": ["train-entropy", str(text), "-o", str(out), "--preset", "tiny", "--steps", "1"],
        "train": ["train", str(tmp), "-o", str(out), "--steps", "1", "--device", "cpu"],
    }


@pytest.mark.slow
@pytest.mark.parametrize("command", ["segment", "fit-entropy", "train-entropy", "train"])
def test_a_second_run_into_a_locked_directory_is_refused(tmp_path, command):
    out = tmp_path / "out"
    holder = Holder(out)
    try:
        proc = subprocess.run(BIN + _commands(tmp_path, out)[command], capture_output=True, text=True, timeout=300)
    finally:
        holder.close()
    assert proc.returncode == 1, proc.stderr
    assert f"in use by `holder` (pid {holder.proc.pid} on host" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [".bytepatch-lock"]  # nothing beside the owner's lock


@pytest.mark.slow
def test_segment_after_a_killed_segment_run_proceeds(tmp_path):
    out = tmp_path / "out"
    holder = Holder(out)
    holder.proc.kill()
    holder.proc.wait()
    cmd = _commands(tmp_path, out)["segment"]
    proc = subprocess.run(BIN + cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (out / "manifest.json").exists() and not (out / ".bytepatch-lock").exists()
