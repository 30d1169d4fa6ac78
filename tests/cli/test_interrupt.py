"""Ctrl-C during entropy `segment`, with one worker and with several: exit 130, one line.

A real SIGINT is sent to the whole process group, as a terminal's Ctrl-C is, while
shards are being patched (mostly inside the Numba n-gram kernels), at several moments.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BIN = [sys.executable, "-m", "bytepatch.cli.main", "segment"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """About 48 MB of real text (the stdlib sources, twelve times) as one JSONL file: enough
    work left after the first shard (entropy segment runs at ~15-40 MB/s per core) that no
    machine finishes before the signal."""
    import sysconfig

    path = tmp_path_factory.mktemp("corpus") / "code.jsonl"
    size = 0
    with open(path, "w", encoding="utf-8") as f:
        for copy in range(12):
            for src in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
                text = src.read_text(encoding="utf-8", errors="replace")
                f.write(json.dumps({"text": text, "id": f"{copy}/{src.name}"}) + "\n")
                size += len(text)
                if size > 4e6 * (copy + 1):
                    break
    return path


def interrupt(cmd: list[str], out: Path, delay: float) -> tuple[int, str]:
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not out.exists() or not any(
        p.suffix in (".arrow", ".parquet", ".tmp") for p in out.iterdir()
    ):  # patching began
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(delay)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("delay", [0.0, 0.3, 0.9])
def test_ctrl_c_exits_130_with_one_line_and_no_manifest(
    tmp_path: Path, corpus: Path, workers: int, delay: float
) -> None:
    out = tmp_path / "out"
    cmd = [*BIN, str(corpus), "-o", str(out), "--shard-size-mb", "0.2", "--workers", str(workers)]
    code, err = interrupt(cmd, out, delay)
    lines = [line for line in err.splitlines() if line.strip() and "\r" not in line]
    assert code == 130, err
    assert lines == ["interrupted: no manifest written; finish with --resume"], err
    assert not (out / "manifest.json").exists() and not list(out.glob(".*.tmp"))
