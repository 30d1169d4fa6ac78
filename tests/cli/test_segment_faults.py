"""Faults during `bytepatch segment`: SIGKILL then --resume, SIGINT, write errors.

Each runs the real command in a subprocess and checks the promise of DESIGN §5: no
manifest unless complete, no partial shard under a final name, and a resumed run that
equals an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bytepatch.dataset import open_dataset

BIN = [sys.executable, "-m", "bytepatch.cli.main", "segment"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """About 6 MB of real text (the stdlib sources) as one JSONL file."""
    import sysconfig

    root = tmp_path_factory.mktemp("corpus")
    path = root / "code.jsonl"
    size = 0
    with open(path, "w", encoding="utf-8") as f:
        for src in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
            text = src.read_text(encoding="utf-8", errors="replace")
            f.write(json.dumps({"text": text, "id": src.name}) + "\n")
            size += len(text)
            if size > 6e6:
                break
    return path


def rows(path: Path) -> list[tuple]:
    return sorted((r.id, r.bytes, tuple(r.patch_lengths)) for r in open_dataset(path))


def args(corpus: Path, out: Path, *extra: str) -> list[str]:
    return [*BIN, str(corpus), "-o", str(out), "--patcher", "space", "--shard-size-mb", "0.1", "-q", *extra]


def wait_for_shards(out: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(list(out.glob("part-*.arrow"))) < n:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "no shards appeared"
        time.sleep(0.02)


@pytest.mark.slow
def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path: Path, corpus: Path):
    subprocess.run(args(corpus, tmp_path / "whole"), check=True)
    out = tmp_path / "killed"
    proc = subprocess.Popen(args(corpus, out))
    wait_for_shards(out, 5, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.json").exists()
    with pytest.raises(FileNotFoundError, match="--resume"):
        open_dataset(out)
    done_before = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.arrow")}
    subprocess.run(args(corpus, out, "--resume"), check=True)
    assert rows(out) == rows(tmp_path / "whole")
    # finished shards were kept, not rewritten
    assert all((out / n).stat().st_mtime_ns == t for n, t in done_before.items())
    assert not list(out.glob(".*.tmp"))


@pytest.mark.slow
def test_sigint_stops_cleanly(tmp_path: Path, corpus: Path):
    out = tmp_path / "out"
    proc = subprocess.Popen(args(corpus, out), stderr=subprocess.PIPE)
    wait_for_shards(out, 2, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"--resume" in err
    assert not (out / "manifest.json").exists() and not list(out.glob(".*.tmp"))


def _limit_file_size() -> None:
    # Files may not exceed 200 kB: writing a bigger shard fails like a full disk does.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="needs RLIMIT_FSIZE")
def test_write_error_is_reported_and_leaves_no_complete_looking_output(tmp_path: Path, corpus: Path):
    out = tmp_path / "out"
    cmd = [*BIN, str(corpus), "-o", str(out), "--patcher", "space", "--shard-size-mb", "1", "-q"]
    proc = subprocess.run(cmd, preexec_fn=_limit_file_size, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "cannot write shard" in proc.stderr and "part-00000.arrow" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (out / "manifest.json").exists() and not list(out.glob("part-*")) and not list(out.glob(".*.tmp"))
    assert os.path.exists(out / ".bytepatch-run.json")
