"""The segment progress line counts bytes patched and written, never bytes merely read."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bytepatch.io import ReaderConfig
from bytepatch.progress import Progress
from bytepatch.segment import SegmentOptions, segment_corpus
from bytepatch.segment import chunks, pipeline


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Recording(Progress):
    """A Progress that draws to a fake terminal at once and records every state it shows."""

    states: list[tuple[int, int, int]] = []

    def __init__(self, total_bytes, enabled=True, stream=None, delay_s=2.0, label=""):
        super().__init__(total_bytes, enabled, Terminal(), 0.0, label)
        Recording.states = []

    def set_done(self, done: int) -> None:
        super().set_done(done)
        Recording.states.append((self.read, self.done, self.written))


@pytest.mark.parametrize("workers", [1, 2])
def test_progress_tracks_patching_and_writing(tmp_path: Path, monkeypatch, workers: int) -> None:
    src = tmp_path / "corpus.txt"
    lines = [f"line {i}: the quick brown fox jumps over the lazy dog {i * 7919}\n" for i in range(20_000)]
    src.write_text("".join(lines))
    total = sum(len(line) - 1 for line in lines)  # document bytes (one per line, newline dropped)
    monkeypatch.setattr(pipeline, "Progress", Recording)
    monkeypatch.setattr(chunks, "GROUP_BYTES", 20_000)  # several progress steps per shard
    spec = {"patcher": "space", "max_patch_length": None}
    options = SegmentOptions(shard_size_mb=0.2, workers=workers, show_progress=True)
    segment_corpus([str(src)], tmp_path / "out", spec, ReaderConfig(doc_per_line=True), options)
    states = Recording.states
    assert states[-1][1] == total and states[-1][2] == total  # all patched, all written
    assert all(done <= read for read, done, _ in states)  # never ahead of the input
    assert all(written <= done for _, done, written in states)
    dones = [d for _, d, _ in states]
    assert dones == sorted(dones)
    shards = len(list((tmp_path / "out").glob("*.arrow")))
    assert shards > 2
    if workers == 1:  # patched bytes move within a shard, not only when it is written
        assert len(set(dones)) > 2 * shards


def test_progress_line_has_elapsed_eta_and_written() -> None:
    p = Progress(10_000_000, stream=Terminal(), delay_s=0.0, label="patched")
    p.add_read(8_000_000)
    p.update(4_000_000)
    p.add_written(2_000_000)
    line = p.line(now=p.start + 2.0)
    assert line.startswith("patched 4.0 MB / 10.0 MB (40%), written 2.0 MB  2.0 MB/s  elapsed 0:02  ETA 0:03")
    p.reading_done()
    assert p.total == 8_000_000
