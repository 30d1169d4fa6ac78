"""Streamed shards: a failure mid-shard leaves only whole, recorded shards, on any thread count."""

from __future__ import annotations

import json
from concurrent.futures import Future
from pathlib import Path

import pytest

from bytepatch.dataset.reader import open_dataset
from bytepatch.io import ReaderConfig
from bytepatch.segment import SegmentOptions, chunks, segment_corpus
from bytepatch.segment.worker import ShardWriter


def _corpus(tmp_path: Path) -> Path:
    src = tmp_path / "corpus.txt"
    src.write_text("".join(f"line {i}: the quick brown fox {i * 7919}\n" for i in range(4000)))
    return src


@pytest.mark.parametrize("threads", [1, 3])
def test_a_failure_mid_shard_leaves_only_whole_recorded_shards(tmp_path: Path, monkeypatch, threads: int):
    src = _corpus(tmp_path)
    monkeypatch.setattr(chunks, "GROUP_BYTES", 5_000)  # several groups per shard
    calls = []
    table = ShardWriter.table

    def failing(self, chunk, threads=None):
        calls.append(chunk.index)
        if len(calls) == 23:  # inside the third or fourth shard, not at its start
            raise RuntimeError("patching failed")
        return table(self, chunk, threads)

    monkeypatch.setattr(ShardWriter, "table", failing)
    out = tmp_path / "out"
    options = SegmentOptions(shard_size_mb=0.04, threads=threads, show_progress=False)
    spec = {"patcher": "space", "max_patch_length": None}
    with pytest.raises(RuntimeError, match="patching failed"):
        segment_corpus([str(src)], out, spec, ReaderConfig(doc_per_line=True), options)
    assert calls[21] == calls[22]  # it failed part way through a shard
    assert not (out / "manifest.json").exists() and not list(out.glob(".*.tmp"))
    recorded = [json.loads(line)["file"] for line in (out / ".bytepatch-shards.jsonl").read_text().splitlines()]
    on_disk = sorted(p.name for p in out.glob("train-*.arrow"))
    assert recorded == on_disk and len(on_disk) >= 2  # every shard left is whole and recorded
    # ... and a resumed run keeps them and finishes the rest, as one run would have.
    monkeypatch.setattr(ShardWriter, "table", table)
    resumed = SegmentOptions(shard_size_mb=0.04, threads=threads, show_progress=False, resume=True)
    segment_corpus([str(src)], out, spec, ReaderConfig(doc_per_line=True), resumed)
    whole = tmp_path / "whole"
    segment_corpus([str(src)], whole, spec, ReaderConfig(doc_per_line=True), SegmentOptions(shard_size_mb=0.04))
    as_rows = lambda d: [(r.id, r.bytes, tuple(r.patch_lengths)) for r in open_dataset(d)]  # noqa: E731
    assert as_rows(out) == as_rows(whole)


def test_after_a_failed_group_no_task_queued_behind_it_commits_its_shard(tmp_path: Path):
    """The writer thread runs the tasks queued behind a failed one before the reading thread
    sees the failure: none of them may finish the shard that lacks the failed group."""
    from bytepatch.dataset.schema import dataset_schema
    from bytepatch.io.documents import Document
    from bytepatch.patchers import PatcherSpec
    from bytepatch.segment.chunks import Chunk, ShardEnd
    from bytepatch.segment.layout import JobLayout
    from bytepatch.segment.stream import _Shards
    from bytepatch.segment.worker import ShardJob

    (tmp_path / "out").mkdir()
    layout = JobLayout(tmp_path / "out", "arrow", 1, 0)
    patcher = PatcherSpec.from_dict({"patcher": "space", "max_patch_length": None}).build()
    job = ShardJob(layout, dataset_schema(False, {}), patcher, False)
    writer = ShardWriter(job)
    shards = _Shards(writer, {})
    groups = [Chunk(0).add(Document(f"d{i}", b"some words here")) for i in range(3)]

    broken: Future = Future()  # what the patch pool hands on for a group that failed
    broken.set_exception(RuntimeError("patching failed"))

    shards.write(groups[0], shards.patch(groups[0], compress=True))
    with pytest.raises(RuntimeError, match="patching failed"):
        shards.write(groups[1], broken)
    with pytest.raises(RuntimeError, match="earlier group"):
        shards.write(groups[2], shards.patch(groups[2], compress=True))
    with pytest.raises(RuntimeError, match="earlier group"):
        shards.write(ShardEnd(0), None)
    shards.abort()
    assert not list((tmp_path / "out").iterdir())  # neither a final shard nor a temporary


def test_abort_waits_for_a_write_in_progress_and_nothing_is_written_after_it(tmp_path: Path, monkeypatch):
    """A stop signal inside `ThreadPoolExecutor.submit` can leave a writer thread its pool
    does not wait for: it created the shard's file after `abort` had looked for one, and
    the interrupted run left a temporary shard behind. `abort` now waits for the write in
    progress and removes what it wrote; a write after it creates nothing."""
    import threading

    from bytepatch.dataset.files import ShardFile
    from bytepatch.dataset.schema import dataset_schema
    from bytepatch.io.documents import Document
    from bytepatch.patchers import PatcherSpec
    from bytepatch.segment.chunks import Chunk
    from bytepatch.segment.layout import JobLayout
    from bytepatch.segment.stream import _Shards
    from bytepatch.segment.worker import ShardJob

    out = tmp_path / "out"
    out.mkdir()
    patcher = PatcherSpec.from_dict({"patcher": "space", "max_patch_length": None}).build()
    shards = _Shards(
        ShardWriter(ShardJob(JobLayout(out, "arrow", 1, 0), dataset_schema(False, {}), patcher, False)), {}
    )
    groups = [Chunk(0).add(Document(f"d{i}", b"some words here")) for i in range(2)]
    creating, go_on = threading.Event(), threading.Event()
    real_init = ShardFile.__init__

    def slow_init(self, *args, **kwargs):  # the writer is creating the shard when abort comes
        creating.set()
        go_on.wait(10)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(ShardFile, "__init__", slow_init)
    writer = threading.Thread(target=shards.write, args=(groups[0], shards.patch(groups[0], compress=True)))
    writer.start()
    assert creating.wait(10)
    aborting = threading.Thread(target=shards.abort)
    aborting.start()
    aborting.join(0.2)
    assert aborting.is_alive()  # it waits for the write in progress
    go_on.set()
    writer.join(10)
    aborting.join(10)
    assert not list(out.iterdir())  # what that write created is gone
    with pytest.raises(RuntimeError, match="stopped"):
        shards.write(groups[1], shards.patch(groups[1], compress=True))
    assert not list(out.iterdir())


@pytest.mark.parametrize("threads", [2, 3])
def test_groups_in_flight_stay_bounded_whatever_the_input_size(tmp_path: Path, monkeypatch, threads: int):
    """Memory is a few groups per thread, not the shard: the reading thread waits once
    2 x threads + 2 groups are read but not yet written."""
    from bytepatch.segment import pipeline, stream

    src = _corpus(tmp_path)
    monkeypatch.setattr(chunks, "GROUP_BYTES", 2_000)  # ~60 groups in one shard
    read, written, most = [0], [0], [0]
    groups = pipeline.stream_groups

    def counted(*args, **kwargs):
        for item in groups(*args, **kwargs):
            if isinstance(item, chunks.Chunk):
                read[0] += 1
                most[0] = max(most[0], read[0] - written[0])
            yield item

    write = stream._Shards.write

    def counting_write(self, item, patched):
        out = write(self, item, patched)
        if isinstance(item, chunks.Chunk):
            written[0] += 1
        return out

    monkeypatch.setattr(pipeline, "stream_groups", counted)
    monkeypatch.setattr(stream._Shards, "write", counting_write)
    options = SegmentOptions(shard_size_mb=1, threads=threads, show_progress=False)
    spec = {"patcher": "space", "max_patch_length": None}
    segment_corpus([str(src)], tmp_path / "out", spec, ReaderConfig(doc_per_line=True), options)
    assert read[0] == written[0] > 40  # one shard of many groups
    assert most[0] <= 2 * threads + 2 + 1  # the in-flight limit, plus the group just read


def test_groups_patched_in_parts_on_threads_give_the_shards_of_one_thread(tmp_path: Path, monkeypatch):
    """Behind the n-gram model, threads patch each group in parts of about PART_BYTES (so
    they finish a run's last groups together); the shards are the same bytes as one
    thread's, entropies included."""
    from bytepatch import load_patcher
    from bytepatch.segment import worker

    src = tmp_path / "corpus.txt"
    src.write_text("".join(f"document {i}: " + "the quick brown fox jumps " * (i % 13) + "\n" for i in range(600)))
    monkeypatch.setattr(chunks, "GROUP_BYTES", 20_000)
    monkeypatch.setattr(worker, "PART_BYTES", 3_000)
    parts = []
    patch_part = ShardWriter.patch_part
    monkeypatch.setattr(ShardWriter, "patch_part", lambda self, *a: parts.append(a[2]) or patch_part(self, *a))
    patcher = load_patcher("entropy")  # the shipped n-gram model
    for threads in (1, 3):
        options = SegmentOptions(shard_size_mb=0.05, threads=threads, save_entropies=True, show_progress=False)
        segment_corpus([str(src)], tmp_path / f"t{threads}", patcher, ReaderConfig(doc_per_line=True), options)
    shards = sorted(p.name for p in (tmp_path / "t1").glob("train-*.arrow"))
    assert len(shards) >= 2 and shards == sorted(p.name for p in (tmp_path / "t3").glob("train-*.arrow"))
    for name in shards:
        assert (tmp_path / "t1" / name).read_bytes() == (tmp_path / "t3" / name).read_bytes()
    assert len(parts) > 3 * len(shards)  # only the threaded run patches parts, several per group
    assert all(i < j for i, j in parts)


def test_a_group_in_parts_reports_the_first_failed_part_in_order_and_joins_only_when_all_succeed():
    from concurrent.futures import CancelledError
    from functools import partial

    from bytepatch.segment.stream import _Joining

    joined = []
    group = _Joining(Future(), 3, lambda results: joined.append(results) or "joined")

    def fail(message):
        raise ValueError(message)

    group.run(2, fail, "part 2")  # a later part fails first
    group.run(1, lambda: "one")
    assert not group.future.done()
    group.run(0, fail, "part 0")
    with pytest.raises(ValueError, match="part 0"):
        group.future.result(timeout=0)
    assert joined == []

    group = _Joining(Future(), 3, lambda results: results)
    for k in (2, 0, 1):
        group.run(k, lambda k=k: k * 10)
    assert group.future.result(timeout=0) == [0, 10, 20]

    group = _Joining(Future(), 2, lambda results: results)
    never_ran: Future = Future()  # a part's task cancelled by the pool's shutdown
    never_ran.add_done_callback(partial(group.dropped, [1]))
    ran: Future = Future()
    ran.add_done_callback(partial(group.dropped, [0]))
    ran.set_result(None)  # a task that ran settles its part itself, not here
    assert never_ran.cancel()
    assert not group.future.done()
    group.run(0, lambda: "zero")
    with pytest.raises(CancelledError):
        group.future.result(timeout=0)

    group = _Joining(Future(), 2, lambda results: fail("cannot join"))
    group.run(0, lambda: 0)
    group.run(1, lambda: 1)
    with pytest.raises(ValueError, match="cannot join"):
        group.future.result(timeout=0)

    group = _Joining(Future(), 3, lambda results: results)
    group.fail(range(3), OSError("its files could not be read"))
    with pytest.raises(OSError, match="could not be read"):
        group.future.result(timeout=0)


@pytest.mark.parametrize("when", ["before its first task runs", "while its first task hands out the others"])
def test_a_group_in_parts_on_a_pool_that_shuts_down_fails_and_leaves_nothing_waiting(tmp_path: Path, monkeypatch, when):
    """A stopped run shuts the patch pool down with its queue cancelled: a group whose
    parts never all ran must still resolve (the writer thread waits on it), with an error."""
    import threading
    from concurrent.futures import CancelledError, ThreadPoolExecutor

    from bytepatch import load_patcher
    from bytepatch.dataset.schema import dataset_schema
    from bytepatch.io.documents import Document
    from bytepatch.segment import worker
    from bytepatch.segment.chunks import Chunk
    from bytepatch.segment.layout import JobLayout
    from bytepatch.segment.stream import _Shards
    from bytepatch.segment.worker import ShardJob

    monkeypatch.setattr(worker, "PART_BYTES", 100)
    job = ShardJob(JobLayout(tmp_path, "arrow", 1, 0), dataset_schema(False, {}), load_patcher("entropy"), False)
    shards = _Shards(ShardWriter(job), {})
    group = Chunk(0)
    for i in range(5):
        group.add(Document(f"d{i}", b"the quick brown fox jumps over the lazy dog " * 3))
    assert len(shards.writer.parts(group, group.offsets)) == 5

    if when == "before its first task runs":
        pool = ThreadPoolExecutor(1)
        release = threading.Event()
        pool.submit(release.wait)  # the pool's one thread is busy: the group's first task stays queued
        patched = shards.submit(pool, group, compress=True)
        pool.shutdown(wait=False, cancel_futures=True)
        release.set()
    else:

        class StopsAsTheFirstTaskHandsOut(ThreadPoolExecutor):
            def submit(self, *args, **kwargs):
                if threading.current_thread() is not threading.main_thread():
                    self.shutdown(wait=False, cancel_futures=True)  # the run stops just then
                return super().submit(*args, **kwargs)

        pool = StopsAsTheFirstTaskHandsOut(1)
        patched = shards.submit(pool, group, compress=True)
    with pytest.raises(CancelledError):
        patched.result(timeout=30)
    pool.shutdown(wait=True)
