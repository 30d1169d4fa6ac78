"""Turns documents into a shard's rows: entropies (if needed), patch lengths, a table;
and one chunk into one written shard.

Runs in the main process (streamed shards, `stream.py`) or in worker processes
(`processes.py`). A worker process receives the job once, when it starts (an entropy
patcher's `SharedModel` pickles as a reference and loads the model in that process),
and keeps its `worker_writer` for its lifetime, since a task cannot carry a loaded model
cheaply.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pyarrow as pa

from bytepatch.dataset.files import ShardFile, write_shard_unpublished
from bytepatch.dataset.integrity import checksums
from bytepatch.dataset.manifest import ShardInfo
from bytepatch.dataset.schema import build_table, check_storable, check_storable_entropies
from bytepatch.errors import OutputError
from bytepatch.io.jsonl_batch import DocumentBatch
from bytepatch.patchers import Patcher
from bytepatch.ragged import Ragged
from bytepatch.segment import chunks
from bytepatch.segment.chunks import Chunk
from bytepatch.segment.layout import JobLayout
from bytepatch.segment.windows import DEFAULT_WINDOW, patch_long_document

PART_BYTES = 1 << 20  # document bytes one thread patches at a time beside others (`ShardWriter.parts`)

Part = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # patch lengths, patches per document, float16 entropies


@dataclass(frozen=True)
class ShardJob:
    """Everything a worker needs besides the chunk (picklable)."""

    layout: JobLayout
    schema: pa.Schema
    # An entropy patcher carries its model; a `SharedModel` pickles as a reference, so
    # each spawned worker process loads its own copy once (forked ones share the parent's).
    patcher: Patcher
    save_entropies: bool
    window: int = DEFAULT_WINDOW  # documents longer than this are patched in windows
    threads: int = 1  # threads for entropy models that offer `entropies_flat` (the n-gram model)

    def __post_init__(self) -> None:
        # 0 failed in range() ("arg 3 must not be zero"), a negative one silently patched long
        # documents whole, a float failed there too.
        w = self.window
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1:
            raise ValueError(
                f"window (bytes a long document is patched at a time) must be a positive integer, got {w!r}"
            )


class ShardWriter:
    def __init__(self, job: ShardJob, on_patched: Callable[[int], None] | None = None) -> None:
        self.job = job
        self.on_patched = on_patched  # called with the document bytes of each group once patched
        self.patcher: Patcher = job.patcher
        self.model = getattr(job.patcher, "model", None)
        self._report_lock = threading.Lock()

    def table(self, chunk: Chunk, threads: int | None = None) -> pa.Table:
        """The chunk's rows, patched, as a table of the dataset schema, on `threads` threads
        (default: the job's; 1 from a thread that runs beside others patching)."""
        offsets = chunk.offsets  # built from a list each time: once per shard, not once per group
        parts = self._patch(chunk, offsets, self.job.threads if threads is None else threads)
        return self.joined(chunk, offsets, parts)

    def parts(self, chunk: Chunk, offsets: np.ndarray) -> list[tuple[int, int]]:
        """Index ranges [i, j) of the chunk's documents that threads may patch as separate
        tasks (`patch_part`, then `joined`; worth it behind the n-gram model's GIL-free
        kernel, `in_parts`): its groups (`_groups`), cut into ranges of about PART_BYTES, so
        that the threads of a run finish its last groups together (with whole 4 MB groups,
        one of two threads sat idle for ~0.1 s at the end of a 48 MB run). A document over
        the window stays alone; documents are never cut, so the rows do not depend on the
        ranges. Joins the chunk's data (reading its files) if it is not yet."""
        groups = _groups(chunk, offsets, self.job.window)
        return [part for group in groups for part in _split(offsets, group, PART_BYTES)]

    def patch_part(self, chunk: Chunk, offsets: np.ndarray, part: tuple[int, int]) -> Part:
        """Patch documents i..j-1 of the chunk (one of `parts`), on the calling thread; the
        chunk's data is joined already (`Chunk.data` is not for several threads at once)."""
        data = np.frombuffer(chunk.data, dtype=np.uint8)
        return self._patch_group(chunk, data, offsets, part, self._keeps_entropies(), 1)

    def joined(self, chunk: Chunk, offsets: np.ndarray, parts: list[Part]) -> pa.Table:
        """The table of the chunk's rows from its parts, patched in order."""
        lengths = [p[0] for p in parts]
        counts = [p[1] for p in parts]
        kept = [p[2] for p in parts if p[2] is not None]
        # One long document is one array already: concatenating would copy it.
        flat = lengths[0] if len(lengths) == 1 else np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int32)
        patch_offsets = np.zeros(len(chunk) + 1, dtype=np.int64)
        np.cumsum(np.concatenate(counts) if counts else [], out=patch_offsets[1:])
        stored = None
        if self._keeps_entropies():
            values = kept[0] if len(kept) == 1 else np.concatenate(kept) if kept else np.zeros(0, np.float16)
            stored = (values, offsets)
        return build_table(chunk.ids, chunk.data, offsets, flat, patch_offsets, self.job.schema, stored)

    def _keeps_entropies(self) -> bool:
        return self.job.save_entropies and self.patcher.needs_entropies

    def __call__(self, chunk: Chunk) -> ShardInfo:
        """Patch the chunk and write its shard under its final name."""
        pending = self.write_unpublished(chunk)
        pending.publish()
        return pending.info

    def write_unpublished(self, chunk: Chunk) -> PendingShard:
        """Patch the chunk and write its shard complete but under a temporary name, for
        the process that holds the output directory to publish (a worker's parent)."""
        table = self.table(chunk)
        layout = self.job.layout
        path = layout.out / layout.shard_name(chunk.index)
        try:
            sums, tmp = write_shard_unpublished(table, path, layout.shard_format)
        except OSError as exc:  # disk full, quota, permissions: the temporary is already gone
            raise OutputError(f"{path}: cannot write shard: {exc}") from exc
        try:
            info = shard_info(chunk.index, path, len(chunk), chunk.nbytes, patches_in(table), sums, written=tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return PendingShard(info, tmp, path)

    def _patch(self, chunk: Chunk, offsets: np.ndarray, threads: int) -> list[Part]:
        """The chunk's groups, patched: (patch lengths, patches per document, float16
        entropies when they are kept) of each.

        Documents go in groups of about GROUP_BYTES, long ones alone and window by window,
        so the float32 entropies (4 bytes per byte) exist for one group at a time (per
        thread) and a shard's memory stays near its own size. With `threads` > 1 behind a
        GIL-free entropy kernel (`in_parts`), the groups' `parts` are patched on that many
        threads at once, as a streamed run's are (results kept in order, so the rows never
        depend on it).
        """
        keep = self._keeps_entropies()
        data = np.frombuffer(chunk.data, dtype=np.uint8)
        if threads > 1 and self.in_parts():
            parts = self.parts(chunk, offsets)
            if len(parts) > 1:
                with ThreadPoolExecutor(min(threads, len(parts)), thread_name_prefix="bytepatch-group") as pool:
                    return list(pool.map(lambda p: self._patch_group(chunk, data, offsets, p, keep, 1), parts))
        return [
            self._patch_group(chunk, data, offsets, g, keep, threads) for g in _groups(chunk, offsets, self.job.window)
        ]

    def in_parts(self) -> bool:
        """Whether groups are worth patching concurrently, and cut into `parts` for that:
        only behind an entropy model with a GIL-free flat kernel (the n-gram model).
        Model-free rules cost ~1-2 ms per MB of NumPy passes, less than the threads'
        hand-offs (measured slower on 48 MB)."""
        return self.model is not None and hasattr(self.model, "entropies_flat")

    def _patch_group(
        self, chunk: Chunk, data: np.ndarray, offsets: np.ndarray, group: tuple[int, int], keep: bool, threads: int
    ) -> Part:
        """(patch lengths, patches per document, float16 entropies if kept) of documents i..j-1."""
        i, j = group
        if j == i + 1 and offsets[j] - offsets[i] > self.job.window:
            rows, h = patch_long_document(self.patcher, chunk.doc(i), self.model, self.job.window, keep)
            check_storable(rows, chunk.ids[i])
            if keep:
                check_storable_entropies(h, np.array([0, len(h)]), chunk.ids, i)
            self._report(int(offsets[j] - offsets[i]))
            return rows, np.array([len(rows)]), h if keep else None
        docs = Ragged(data[offsets[i] : offsets[j]], offsets[i : j + 1] - offsets[i])  # no copy
        patches, h = self._patch_batch(docs, threads)
        stored = None
        if keep:
            with np.errstate(over="ignore"):  # beyond float16: refused by name just below
                stored = h.values.astype(np.float16)
            check_storable_entropies(stored, docs.offsets, chunk.ids, i)
        self._report(int(offsets[j] - offsets[i]))
        return patches.values, patches.row_lengths(), stored

    def _report(self, n_bytes: int) -> None:
        if self.on_patched is not None:
            with self._report_lock:  # groups may finish on several threads
                self.on_patched(n_bytes)

    def _patch_batch(self, docs: Ragged, threads: int) -> tuple[Ragged, Ragged | None]:
        return patch_batch(self.patcher, docs, threads)


def patch_batch(patcher: Patcher, docs: Ragged, threads: int = 1) -> tuple[Ragged, Ragged | None]:
    """(patch lengths, entropies or None) of a batch of documents, as `segment` computes
    them: the n-gram model's flat kernel on `threads` threads where it has one."""
    entropies = None
    if patcher.needs_entropies:
        model = getattr(patcher, "model", None)
        if model is None:
            raise ValueError("the entropy patcher needs an entropy model")
        flat = getattr(model, "entropies_flat", None)
        if flat is not None:  # documents stay back to back: no per-document copies
            entropies = Ragged(flat(docs.values, docs.offsets, threads=threads), docs.offsets)
        else:
            texts = [row.tobytes() for row in docs]  # one group's copy, for the model API
            entropies = Ragged.from_arrays(model.entropies(texts), dtype=np.float32)
    return patcher.patch_batch(docs, entropies), entropies


def load_kernels(patcher: Patcher) -> None:
    """Patch a few bytes the way `segment` does, so that what its groups call is loaded
    now (the n-gram model's kernels and the rule's: Numba's import and its cached code,
    ~0.5 s): the `bytepatch` command does this while its start-up pauses the cycle
    collector. A torch model is left to its first group (it may start a GPU)."""
    if on_torch(patcher):
        return
    sample = np.frombuffer(_warm_up_text(), dtype=np.uint8)
    patch_batch(patcher, Ragged(sample, np.array([0, len(sample)], dtype=np.int64)))


@dataclass(frozen=True)
class PendingShard:
    """A shard written in full under its temporary name (`tmp`), not yet under `path`."""

    info: ShardInfo
    tmp: Path
    path: Path

    def publish(self) -> None:
        """Rename it to its final name (its content is fsync'ed already)."""
        try:
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.discard()
            raise OutputError(f"{self.path}: cannot write shard: {exc}") from exc

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)


def empty_shard(layout: JobLayout, schema: pa.Schema, directory: Path | None = None) -> ShardInfo:
    """Shard 0 with no rows, written (to `directory`, default the job's output) and
    published: a corpus of no documents still gives a dataset with one file holding the
    schema and metadata, so glob readers (`datasets.load_dataset(DIR)`, a
    `pa.concat_tables` over the shards) find its columns rather than no file at all, or
    manifest.json taken for the data. Not journaled: an interrupted run rewrites it."""
    path = (directory or layout.out) / layout.shard_name(0)
    try:
        shard = ShardFile(path, schema, layout.shard_format)  # as every shard: its checksums taken as written
        try:
            shard.write_empty()
        except BaseException:
            shard.abort()
            raise
        sums = shard.commit()
    except OSError as exc:
        raise OutputError(f"{path}: cannot write shard: {exc}") from exc
    return shard_info(0, path, 0, 0, 0, sums)


def shard_info(
    index: int,
    path: Path,
    rows: int,
    n_bytes: int,
    n_patches: int,
    sums: dict[str, object] | None = None,
    written: Path | None = None,
) -> ShardInfo:
    """The manifest entry of a shard just written (to `written`, if not yet at `path`):
    `sums` are its checksums taken as it was written (`ShardFile.commit`); without them
    they are read back from the page cache."""
    if sums is None:
        source = written or path
        try:
            sums = checksums(source)
        except OSError as exc:
            raise OutputError(f"{source}: cannot read back the shard just written: {exc}") from exc
    return ShardInfo(index, path.name, rows, n_bytes, n_patches, **sums)


def patches_in(table: pa.Table) -> int:
    """How many patches a table's rows hold, from each chunk's list offsets: no copy of the
    lengths, no pyarrow.compute import (~50 ms)."""
    return sum(_list_values(chunk) for chunk in table.column("patch_lengths").chunks)


def _list_values(array: pa.ListArray) -> int:
    """How many values the (possibly sliced) list array's rows hold together."""
    if len(array) == 0:
        return 0
    return int(array.offsets[len(array)].as_py()) - int(array.offsets[0].as_py())


def _groups(chunk: Chunk, offsets: np.ndarray, window: int) -> Iterator[tuple[int, int]]:
    """Index ranges [i, j) of the chunk's documents in the groups `chunks.stream_groups`
    makes (one rule for both paths): about GROUP_BYTES each, a document over `window`
    bytes alone (it is patched in windows)."""
    batch = DocumentBatch(chunk.ids, memoryview(chunk.data), offsets)
    i = 0
    for group in chunks.stream_groups([batch], sys.maxsize, window):
        if isinstance(group, Chunk):
            yield i, i + len(group)
            i += len(group)


def _split(offsets: np.ndarray, group: tuple[int, int], size: int) -> Iterator[tuple[int, int]]:
    """Documents i..j-1 in ranges of about `size` bytes (whole documents; at least one each)."""
    i, j = group
    while i < j:
        # up to the first document that ends `size` or more bytes past the range's start
        k = min(int(np.searchsorted(offsets, offsets[i] + size)), j)
        yield i, k
        i = k


_WARM_UP_TEXT = b"Warm up: the kernels and the model load here, once, for every worker.\n" * 4


def warm_up(job: ShardJob) -> None:
    """Load the model and the kernels the job's patching calls, in this process, now:
    before a fork, so that the workers share them instead of each loading its own."""
    text = _warm_up_text()
    ShardWriter(job).table(Chunk(0, ["warm-up"], text, [len(text)]), threads=1)


def _warm_up_text() -> bytearray:
    """A few bytes to patch, writable as every reader's buffers are: Numba compiles a
    kernel once per argument type, and a read-only array (from `bytes`) is another type,
    so warming up on one left the run's own to load at its first group."""
    return bytearray(_WARM_UP_TEXT)


def worker_writer(job: ShardJob, patched: Any = None) -> ShardWriter:
    """The writer of one worker process, which ignores SIGINT from now on (the parent
    handles Ctrl-C and stops the workers); `patched` is a shared counter of the bytes
    patched by all workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    share_torch_threads(job)

    def report(n_bytes: int) -> None:
        with patched.get_lock():
            patched.value += n_bytes

    return ShardWriter(job, on_patched=report if patched is not None else None)


def share_torch_threads(job: ShardJob) -> None:
    """Give a torch entropy model this process's share of the CPUs, `job.threads` (the
    CPUs available over the workers). torch's intra-op default is every CPU the host
    reports, so each of N worker processes ran that many threads (2 workers on 2 CPUs, a
    tiny transformer LM: 1.5-10x the wall time of one thread each). For processes bytepatch owns
    (its workers; the command line's own process, `segment`); the n-gram model, with its
    GIL-free kernel, is patched on `job.threads` threads as it is."""
    # on_torch loads a shared model (a spawned worker's) and torch with it: the core never imports torch itself.
    if on_torch(job.patcher) and (torch := sys.modules.get("torch")) is not None:
        torch.set_num_threads(max(1, job.threads))


def on_torch(patcher: Patcher) -> bool:
    """Whether the patcher's entropy model computes with torch, on torch's own threads: a
    model without the n-gram model's GIL-free flat kernel (`entropies_flat`)."""
    model = getattr(patcher, "model", None)
    return model is not None and not hasattr(model, "entropies_flat")
