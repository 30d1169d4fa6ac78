"""Faults during `bytepatch segment`: SIGKILL then --resume, SIGINT, write errors.

Each runs the real command in a subprocess and checks the promise of docs/design.md §5: no
manifest unless complete, no partial shard under a final name, and a resumed run that
equals an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
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


def peak_rss_kb(cmd: list[str], feed: tuple[Path, int] | None = None) -> int:
    """Peak RSS of `cmd`, measured by a fresh parent whose only child it is.

    With `feed` = (file, k), the parent writes the file's bytes k times to the command's
    stdin: a document that large never has to lie on the test machine's disk.
    """
    code = (
        "import resource, shutil, subprocess, sys\n"
        "feed, k, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3:]\n"
        "if feed:\n"
        "    chunk = open(feed, 'rb').read()\n"
        "    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)\n"
        "    for _ in range(k):\n"
        "        proc.stdin.write(chunk)\n"
        "    proc.stdin.close()\n"
        "    assert proc.wait() == 0, proc.returncode\n"
        "else:\n"
        "    subprocess.run(cmd, check=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    path, k = feed if feed else ("", 0)
    argv = [sys.executable, "-c", code, str(path), str(k), *cmd]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=600)
    return int(out.stdout.split()[-1])


def wait_for_shards(out: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(list(out.glob("train-*.arrow"))) < n:
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
    # Shards recorded as finished (with their checksums) are kept; one the kill caught
    # between its rename and its record is written again.
    recorded = {json.loads(line)["file"] for line in (out / ".bytepatch-shards.jsonl").read_text().splitlines()}
    done_before = {p.name: p.stat().st_mtime_ns for p in out.glob("train-*.arrow") if p.name in recorded}
    assert len(done_before) >= 4
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


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="needs RLIMIT_FSIZE")
def test_write_error_is_reported_and_leaves_no_complete_looking_output(tmp_path: Path, corpus: Path):
    out = tmp_path / "out"
    cmd = [*BIN, str(corpus), "-o", str(out), "--patcher", "space", "--shard-size-mb", "1", "-q"]
    proc = subprocess.run(cmd, preexec_fn=_limit_file_size, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "cannot write shard" in proc.stderr and "train-00000.arrow" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (out / "manifest.json").exists() and not list(out.glob("train-*")) and not list(out.glob(".*.tmp"))
    assert os.path.exists(out / ".bytepatch-run.json")


@pytest.mark.slow
def test_a_one_gigabyte_document(tmp_path: Path, corpus: Path):
    """One 1 GiB document: segmented in windows, with peak memory a small multiple of it."""
    import bytepatch

    text = b"".join(json.loads(line)["text"].encode() for line in corpus.read_text().splitlines()[:50])
    piece = tmp_path / "piece.txt"
    piece.write_bytes(text)
    copies = (1 << 30) // len(text) + 1
    n = copies * len(text)
    # The dataset takes ~1.4x the document; a disk without room would fail this test and,
    # once full, every test after it.
    free = shutil.disk_usage(tmp_path).free
    if free < 2 * n:
        pytest.skip(f"needs {2 * n / 1e9:.1f} GB free on the disk of {tmp_path}, has {free / 1e9:.1f} GB")
    out = tmp_path / "out"
    # Fed through stdin: the test's disk holds the dataset (1.4x the document), not the input too.
    peak_kb = peak_rss_kb([*BIN, "-", "-o", str(out), "--patcher", "space", "-q"], feed=(piece, copies))
    assert peak_kb < 3.0 * n / 1024, f"peak RSS {peak_kb / 1e6:.1f} GB for a {n / 1e9:.1f} GB document"
    table = open_dataset(out).read_shard(0)
    lengths = table.column("patch_lengths").chunk(0).values.to_numpy()
    assert lengths.sum() == n and table.num_rows == 1
    prefix = text * 3
    expected = bytepatch.space_patch_lengths(prefix)
    k = len(expected) - 1  # the last patch of the prefix may continue past it
    np.testing.assert_array_equal(lengths[:k], expected[:k])


@pytest.mark.slow
@pytest.mark.parametrize(
    "patcher",
    [
        "space",
        "stride",
        "entropy",
    ],
)
def test_one_long_document_costs_under_3x_its_size_with_every_patcher(tmp_path: Path, corpus: Path, patcher: str):
    """What one long document costs per byte: peak RSS of a 120 MB document minus that of
    an 8 MB one (both patched in windows, so both load the same code), over 112 MB."""
    text = b"".join(json.loads(line)["text"].encode() for line in corpus.read_text().splitlines()[:50])
    big, small = tmp_path / "big.txt", tmp_path / "small.txt"
    n, m = 120_000_000, 8_000_000
    big.write_bytes((text * (n // len(text) + 1))[:n])
    small.write_bytes(big.read_bytes()[:m])
    base = peak_rss_kb([*BIN, str(small), "-o", str(tmp_path / "t"), "--patcher", patcher, "-q"])
    peak = peak_rss_kb([*BIN, str(big), "-o", str(tmp_path / "b"), "--patcher", patcher, "-q"])
    cost = (peak - base) * 1024 / (n - m)
    assert cost < 3.0, f"{patcher}: {cost:.2f}x the document's size"
    table = open_dataset(tmp_path / "b").read_shard(0)
    assert table.num_rows == 1 and sum(table.column("patch_lengths")[0].as_py()) == n
