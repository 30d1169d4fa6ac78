"""One process, shards streamed: groups are patched as they are read and written as they
are patched, so reading, patching and writing overlap even inside one shard.

With `threads` = 1 everything runs on the calling thread, one group after the other.
With more, the calling thread reads and groups documents (`chunks.stream_groups`; the
files of a directory are only listed there), a pool reads, patches and compresses
groups (behind the n-gram model or a model-free rule, on `threads` threads: the n-gram
kernel's serial entry releases the GIL and starts no threading layer, and the rules are
NumPy passes; a torch model gets one thread, with its own intra-op threads), and one
writer thread appends each group's encoded record batches to its shard's file in input
order and finishes a shard at its end. At most a few groups per thread are in
flight, so memory is bounded by groups, not shards, for any thread count. The rows
never depend on `threads`: groups are cut before any thread sees them and written in
order (tested). Behind the n-gram model a group goes to the pool in parts of about 1 MB
(`ShardWriter.parts`, `_Joining`), so the threads finish the last groups of a run
together.
"""

from __future__ import annotations

import collections
import functools
import threading
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pyarrow as pa

from bytepatch.dataset.files import ONE_DOC_RAW_BYTES, ShardFile, encode_batches
from bytepatch.dataset.manifest import ShardInfo
from bytepatch.errors import OutputError
from bytepatch.progress import Progress
from bytepatch.segment.chunks import Chunk, ShardEnd
from bytepatch.segment.resume import Journal, KeptShard, check_none_left
from bytepatch.segment.worker import ShardWriter, on_torch, patches_in, shard_info


def run_streamed(
    items: Iterable[Chunk | ShardEnd],
    writer: ShardWriter,
    journal: Journal,
    finished: dict[int, tuple[Path, dict]],
    progress: Progress,
    threads: int = 1,
) -> list[ShardInfo]:
    """Patch and write the groups of `items` (from `stream_groups`), each shard recorded
    in `journal` as it is finished; shards in `finished` (an interrupted run's) are
    checked against their groups instead, and kept."""
    shards = _Shards(writer, finished)
    seen: set[int] = set()
    try:
        if threads == 1:
            for item in items:
                seen.add(item.index)
                if item.index in finished:
                    _land(shards.check(item), journal, progress)
                elif isinstance(item, Chunk):
                    _land(shards.write(item, shards.patch(item, shards.compressed(item))), journal, progress)
                else:
                    _land(shards.write(item, None), journal, progress)
        else:
            _run_on_threads(items, writer, shards, journal, progress, threads, seen)
    except BaseException:
        shards.abort()
        raise
    check_none_left(finished, seen, writer.job.layout)
    return journal.entries


def _run_on_threads(
    items: Iterable[Chunk | ShardEnd],
    writer: ShardWriter,
    shards: _Shards,
    journal: Journal,
    progress: Progress,
    threads: int,
    seen: set[int],
) -> None:
    patchers = threads if _patch_on_threads(writer) else 1
    limit = 2 * patchers + 2  # groups in flight: enough to keep every thread busy
    with (
        ThreadPoolExecutor(patchers, thread_name_prefix="bytepatch-patch") as patch_pool,
        ThreadPoolExecutor(1, thread_name_prefix="bytepatch-write") as write_pool,
    ):
        pending: collections.deque[Future] = collections.deque()
        try:
            for item in items:  # read on this thread
                seen.add(item.index)
                if item.index in shards.finished:  # a kept shard is checked here, in order
                    pending.append(_done(shards.check(item)))
                elif isinstance(item, Chunk):
                    patched = shards.submit(patch_pool, item, shards.compressed(item))
                    pending.append(write_pool.submit(shards.write, item, patched))
                else:
                    pending.append(write_pool.submit(shards.write, item, None))
                del item
                while pending and (pending[0].done() or len(pending) > limit):
                    _land(pending.popleft().result(), journal, progress)
            while pending:
                _land(pending.popleft().result(), journal, progress)
        except BaseException:
            # Let running tasks finish and drop queued ones before the caller removes the
            # shard being written.
            patch_pool.shutdown(wait=True, cancel_futures=True)
            write_pool.shutdown(wait=True, cancel_futures=True)
            raise


def _patch_on_threads(writer: ShardWriter) -> bool:
    """Whether several groups may be patched at once: not behind a torch model (it runs its own threads)."""
    return not on_torch(writer.patcher)


def _done(value: object) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


def _land(result: tuple[ShardInfo, bool] | None, journal: Journal, progress: Progress) -> None:
    """Record a finished shard (in input order): written now, or kept from an earlier run."""
    if result is None:
        return
    info, written = result
    journal.append(info, record=written)
    if written:
        progress.add_written(info.bytes)
    else:
        progress.skip(info.bytes)


@dataclass(frozen=True)
class _Patched:
    """A group ready to append: its record batches encoded for an Arrow shard (compressed
    on the patch thread), or its table for a Parquet one."""

    rows: list[pa.Buffer | bytes] | pa.Table  # a table for a Parquet or an uncompressed shard
    patches: int
    compress: bool  # whether its shard is compressed (decided by the shard's first group)


class _Joining:
    """One group patched as several tasks (its parts): the part that finishes last joins
    their results in order (`finish`) and resolves `future`. If any part failed, or never
    ran (cancelled by the pool's shutdown), the future holds the error of the first such
    part in order, so the error a run reports does not depend on which thread was first."""

    def __init__(self, future: Future, parts: int, finish: Callable[[list], Any]) -> None:
        self.future = future
        self._results: list = [None] * parts
        self._errors: dict[int, BaseException] = {}
        self._left = parts
        self._lock = threading.Lock()
        self._finish = finish

    def run(self, k: int, fn: Callable[..., Any], *args: Any) -> None:
        """Part `k`: `fn(*args)`, its result or its error kept for the group."""
        try:
            result = fn(*args)
        except BaseException as exc:
            self.fail([k], exc)
        else:
            self._settle(k, result, None)

    def fail(self, parts: Iterable[int], error: BaseException) -> None:
        """Parts that will not run, with the reason."""
        for k in parts:
            self._settle(k, None, error)

    def dropped(self, parts: Iterable[int], task: Future) -> None:
        """The task of `parts` is done; if the pool cancelled it, they never ran."""
        if task.cancelled():
            self.fail(parts, CancelledError())

    def _settle(self, k: int, result: Any, error: BaseException | None) -> None:
        with self._lock:
            self._results[k] = result
            if error is not None:
                self._errors[k] = error
            self._left -= 1
            if self._left:
                return
        if self._errors:
            self.future.set_exception(self._errors[min(self._errors)])
            return
        try:
            joined = self._finish(self._results)
        except BaseException as exc:
            self.future.set_exception(exc)
        else:
            self.future.set_result(joined)


@dataclass
class _Open:
    """The shard being written: its file and what it holds so far."""

    file: ShardFile
    rows: int = 0
    n_bytes: int = 0
    n_patches: int = 0


class _Shards:
    """Patches and encodes groups (`patch`: any thread), appends them to their shard's
    file and finishes each shard at its end (`write`: one thread at a time, the writer
    thread or the caller's); checks the groups of a shard kept from an interrupted run
    (`check`: the reading thread)."""

    def __init__(self, writer: ShardWriter, finished: dict[int, tuple[Path, dict]]) -> None:
        self.writer = writer
        self.job = writer.job
        self._shard, self._compress = -1, True  # the shard of the last group read, and its compression
        self.finished = finished
        self.open: _Open | None = None
        self.kept: KeptShard | None = None
        self.failed = False
        # `write` and `abort` exclude each other, and nothing is written once aborted: a
        # stop signal inside `ThreadPoolExecutor.submit` can leave a pool thread the pool
        # does not know of (started, not yet recorded), which its shutdown does not wait
        # for; it went on to create the shard file after `abort` had looked for it.
        self._lock = threading.Lock()
        self.aborted = False

    def check(self, item: Chunk | ShardEnd) -> tuple[ShardInfo, bool] | None:
        """Match one group of a kept shard; at its end, its manifest entry."""
        if isinstance(item, ShardEnd):
            kept, self.kept = self.kept, None
            assert kept is not None, f"shard {item.index} ended before any of its documents"
            return kept.info(), False
        if self.kept is None:
            self.kept = KeptShard(item.index, *self.finished[item.index], self.job.layout.shard_format)
        self.kept.check(item)
        return None

    def compressed(self, first: Chunk) -> bool:
        """Whether the shard of group `first` is compressed, decided by its first group
        (groups come here in order, on the reading thread). Compression keeps a compressed
        copy of each buffer while it is written: a shard that starts with one huge
        document (patched in windows) stays raw (memory bound)."""
        if first.index != self._shard:
            self._shard = first.index
            self._compress = not (len(first) == 1 and first.nbytes > ONE_DOC_RAW_BYTES)
        return self._compress

    def patch(self, item: Chunk, compress: bool, threads: int | None = None) -> _Patched:
        """Patch one group on `threads` threads (default: the job's) and encode its rows for
        the shard (any thread: the patch pool, where several groups compress at once)."""
        return self._encoded(self.writer.table(item, threads), compress)

    def submit(self, pool: ThreadPoolExecutor, item: Chunk, compress: bool) -> Future:
        """Patch and encode one group on the pool: as one task, or, behind the n-gram model,
        as the writer's parts (`ShardWriter.parts`), the last of which to finish joins and
        encodes the group (`_fan_out`). Called on the reading thread, which then reads the
        group's files: behind the n-gram model that thread is otherwise idle (with the
        reading on the first part's task instead, 48 MB on 2 threads took 1.54 against
        1.51 s, 21 pairs). A read error is the group's result, reported in order."""
        if not self.writer.in_parts():
            return pool.submit(self.patch, item, compress, 1)
        patched: Future = Future()
        try:
            offsets = item.offsets
            parts = self.writer.parts(item, offsets)  # joins the group's data, reading its files
        except Exception as exc:
            patched.set_exception(exc)
            return patched
        group = _Joining(
            patched, len(parts), lambda done: self._encoded(self.writer.joined(item, offsets, done), compress)
        )
        first = pool.submit(self._fan_out, pool, group, item, offsets, parts)
        first.add_done_callback(functools.partial(group.dropped, range(len(parts))))
        return patched

    def _fan_out(
        self, pool: ThreadPoolExecutor, group: _Joining, item: Chunk, offsets: np.ndarray, parts: list[tuple[int, int]]
    ) -> None:
        """The group's first task: give its other parts to the pool, then patch the first."""
        for k in range(1, len(parts)):
            try:
                task = pool.submit(group.run, k, self.writer.patch_part, item, offsets, parts[k])
            except RuntimeError as exc:  # the pool is shutting down: the run is stopping
                group.fail(range(k, len(parts)), CancelledError(str(exc)))
                break
            task.add_done_callback(functools.partial(group.dropped, [k]))
        group.run(0, self.writer.patch_part, item, offsets, parts[0])

    def _encoded(self, table: pa.Table, compress: bool) -> _Patched:
        encode = compress and self.job.layout.shard_format == "arrow"
        rows = encode_batches(table, self.job.schema) if encode else table
        return _Patched(rows, patches_in(table), compress)

    def write(self, item: Chunk | ShardEnd, patched: _Patched | Future | None) -> tuple[ShardInfo, bool] | None:
        """Append one patched group (or its future's result); at a shard's end, commit the
        file and give its manifest entry. After a failure nothing more is written: the
        tasks queued behind it must not commit a shard that lacks the failed group."""
        if self.failed:
            raise RuntimeError("an earlier group of this run failed")
        try:
            ready = patched.result() if isinstance(patched, Future) else patched
            with self._lock:
                if self.aborted:
                    raise RuntimeError("this run was stopped")
                return self._write(item, ready)
        except BaseException:
            self.failed = True
            raise

    def _write(self, item: Chunk | ShardEnd, patched: _Patched | None) -> tuple[ShardInfo, bool] | None:
        if isinstance(item, ShardEnd):
            return self._end(item.index), True
        assert patched is not None
        if self.open is None:
            self.open = _Open(self._create(item, patched.compress))
        try:
            if isinstance(patched.rows, pa.Table):
                self.open.file.write(patched.rows)
            else:
                self.open.file.write_encoded(patched.rows)
        except OSError as exc:
            raise OutputError(f"{self.open.file.path}: cannot write shard: {exc}") from exc
        self.open.rows += len(item)
        self.open.n_bytes += item.nbytes
        self.open.n_patches += patched.patches
        return None

    def _create(self, first: Chunk, compress: bool) -> ShardFile:
        layout = self.job.layout
        path = layout.out / layout.shard_name(first.index)
        try:
            return ShardFile(path, self.job.schema, layout.shard_format, compress=compress)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write shard: {exc}") from exc

    def _end(self, index: int) -> ShardInfo:
        shard, self.open = self.open, None
        assert shard is not None, f"shard {index} ended before any of its documents"
        try:
            sums = shard.file.commit()
        except OSError as exc:  # disk full, quota, permissions: the temporary is already gone
            raise OutputError(f"{shard.file.path}: cannot write shard: {exc}") from exc
        return shard_info(index, shard.file.path, shard.rows, shard.n_bytes, shard.n_patches, sums)

    def abort(self) -> None:
        """Remove the shard being written, if any (an interrupted run leaves no partial shard),
        once a write in progress on another thread has ended; none follows."""
        with self._lock:
            self.aborted = True
            if self.open is not None:
                self.open.file.abort()
                self.open = None
