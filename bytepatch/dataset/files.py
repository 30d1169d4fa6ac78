"""Atomic file writes: write under a temporary name, fsync, then rename.

A reader (or a resumed run) therefore never sees a shard or manifest that looks
complete but is not: a final name always means complete content.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import threading
import uuid
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa

from bytepatch.dataset.integrity import Checksums
from bytepatch.dataset.ipc import encode_table

TMP_SUFFIX = ".tmp"
SHARD_SUFFIX = {"arrow": ".arrow", "parquet": ".parquet"}
# Any shard name bytepatch writes or wrote: train-00000, a job's train-00001-00000, and
# older versions' part-*. Counters are zero-padded to 5 digits and simply grow past 99,999.
SHARD_NAME = re.compile(r"^(?:part|train)-(\d{5,})(?:-(\d{5,}))?\.(arrow|parquet)$")


def tmp_path(path: Path) -> Path:
    # Unique across processes and hosts: jobs on a shared filesystem can share PIDs.
    return path.with_name(f".{path.name}.{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}{TMP_SUFFIX}")


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    tmp = tmp_path(path)
    try:
        write(tmp)
        publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def publish(tmp: Path, path: Path) -> None:
    """Make a fully written temporary file final: fsync its content, then rename it."""
    sync(tmp)
    os.replace(tmp, path)


def sync(path: Path) -> None:
    """fsync a file's content to disk."""
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


# Arrow shards use IPC buffer compression buffer by buffer (dataset/ipc.py): ids, offsets
# and patch lengths LZ4-compressed, document bytes and entropies raw (memory-mapped
# zero-copy by readers); a dataset without entropies takes ~1.2x its text.
COMPRESS_MAX_BYTES = 512 << 20  # larger shards are written uncompressed
ONE_DOC_RAW_BYTES = 8 << 20  # ... and so is a shard of one document patched in windows (memory bound)


def write_shard_unpublished(table: pa.Table, path: Path, fmt: str) -> tuple[dict[str, object] | None, Path]:
    """Write one shard complete and fsync'ed, but under its temporary name: (what
    `ShardFile.commit` returns, the temporary's path). Renaming it to `path` is left to
    whoever holds the output directory: a worker process's shards are published by its
    parent, so a worker that outlives a killed parent never puts a file under a final
    name in a directory that another run may own by then."""
    # Compression holds a compressed copy of each buffer while writing: for a shard made
    # of one huge document that would double peak memory, so those stay raw.
    huge = table.nbytes > COMPRESS_MAX_BYTES or (table.num_rows == 1 and table.nbytes > ONE_DOC_RAW_BYTES)
    shard = ShardFile(path, table.schema, fmt, compress=not huge)
    try:
        shard.write(table)
    except BaseException:
        shard.abort()
        raise
    return shard.commit(rename=False), shard.tmp


# Bytes appended to a shard between background fdatasyncs (`Flusher`).
SYNC_STEP = 16 << 20
_fdatasync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync


class Flusher:
    """fdatasync of a file being appended to, in the background every `step` bytes.

    Why: the fsync before a shard's rename must write out everything not yet on disk, and
    that is serial, at the end of a run: ~1.4 ms per MB on a VM's disk (85 ms for a 60 MB
    shard, a fifth of a 48 MB space run). Synced as it grows, on a thread that only waits
    on the disk, the writes overlap the patching and the last fsync finds little left.
    One sync runs at a time. A failed one is raised by `wait`: the kernel reports a
    writeback error once, so the fsync after it could pass."""

    def __init__(self, fd: int, step: int) -> None:
        self.fd, self.step = fd, step
        self._synced = 0
        self._thread: threading.Thread | None = None
        self._error: OSError | None = None

    def wrote(self, size: int) -> None:
        """The file now holds `size` bytes: sync it if a step has been written since the last sync."""
        if size - self._synced < self.step or (self._thread is not None and self._thread.is_alive()):
            return
        self._synced = size
        self._thread = threading.Thread(target=self._sync, name="bytepatch-fsync", daemon=True)
        self._thread.start()

    def _sync(self) -> None:
        try:
            _fdatasync(self.fd)
        except OSError as exc:
            self._error = exc

    def wait(self) -> None:
        """Wait for the sync in flight (before the file is closed: its descriptor must outlive it)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error


IPC_EOS = b"\xff\xff\xff\xff\x00\x00\x00\x00"  # an Arrow IPC stream's end: continuation marker, length 0
BATCH_ROWS = 64 * 1024  # rows per record batch


def encode_batches(table: pa.Table, schema: pa.Schema) -> list[pa.Buffer | bytes]:
    """The table's record batches as encapsulated Arrow IPC messages with buffer-wise
    compression (`ipc.encode_table`), without the stream's schema message and end marker:
    the pieces `ShardFile.write_encoded` appends to a shard of `schema`. The streamed run
    encodes (and LZ4-compresses the integer buffers) here, on the thread that patched the
    group, so its one writer thread only copies bytes into the file and hashes them.

    A table whose columns differ from `schema` is refused: nothing in the format would
    tell a reader, which decodes the buffers by the schema message already written (a
    list<int64> written as list<int32> reads back as other numbers)."""
    if not table.schema.equals(schema):
        raise ValueError(
            f"a table of schema {table.schema.to_string(show_schema_metadata=False)!r} "
            f"does not fit a shard of schema {schema.to_string(show_schema_metadata=False)!r}"
        )
    return encode_table(table, BATCH_ROWS)


def _schema_message(schema: pa.Schema) -> pa.Buffer:
    """The first message of an Arrow IPC stream of `schema` (pyarrow writes it)."""
    sink = pa.BufferOutputStream()
    pa.ipc.new_stream(sink, schema).close()
    stream = sink.getvalue()
    head = stream[:8].to_pybytes()
    if len(head) < 8 or head[:4] != IPC_EOS[:4]:
        raise RuntimeError("pyarrow wrote an IPC stream that does not start with a schema message")
    # after the continuation marker, the int32 length of its metadata and the metadata
    return stream.slice(0, 8 + int.from_bytes(head[4:], "little", signed=True))


class ShardFile:
    """One shard written table by table under a temporary name: `commit` makes it final
    (fsync, then rename) and `abort` removes it, so a final name always means complete
    content, however many pieces it was written in.

    Arrow shards use the IPC *stream* format, as Hugging Face `datasets` writes and
    memory-maps `.arrow` files (`Dataset.from_file`); `read_arrow_table` reads both it and
    the file format. A compressed shard is the stream's schema message (pyarrow's), then
    the record batches of each table in order (`write`, or `write_encoded` with what
    `encode_batches` encoded on another thread), then the end marker; its buffers are
    compressed one by one (dataset/ipc.py). An uncompressed one is written by an Arrow
    stream writer straight from the tables' buffers.
    """

    def __init__(self, path: Path, schema: pa.Schema, fmt: str, compress: bool = True) -> None:
        if fmt not in SHARD_SUFFIX:
            raise ValueError(f"unknown shard format {fmt!r}")
        self.path = path
        self.fmt = fmt
        self.schema = schema
        self.tmp = tmp_path(path)
        self._sink = self._writer = None
        # Checksums of the bytes written: kept for a compressed Arrow shard, whose every byte passes here.
        self._sums: Checksums | None = None
        self._flusher: Flusher | None = None
        try:
            if fmt == "arrow":
                self._sink = pa.OSFile(str(self.tmp), "wb")
                if compress:
                    self._sums = Checksums()
                    self._flusher = Flusher(self._sink.fileno(), SYNC_STEP)
                    self._put(_schema_message(schema))
                else:  # written straight from the table's buffers: no copy of a huge document
                    self._writer = pa.ipc.new_stream(self._sink, schema)
            else:
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(str(self.tmp), schema, compression="zstd")
        except BaseException:
            self.abort()
            raise

    def write(self, table: pa.Table) -> None:
        if self._sums is not None:
            self.write_encoded(encode_batches(table, self.schema))
        elif self.fmt == "arrow":
            self._writer.write_table(table, max_chunksize=BATCH_ROWS)
        else:
            self._writer.write_table(table)

    def write_empty(self) -> None:
        """Append one record batch of no rows: readers that build columns from the batches
        (`datasets.Dataset.from_file`) fail on a stream of none, and `write` skips empty
        tables, as pyarrow's writer does."""
        batch = pa.RecordBatch.from_pylist([], schema=self.schema)
        if self.fmt == "parquet":
            self.write(pa.Table.from_batches([batch]))
        elif self._sums is None:
            self._writer.write_batch(batch)
        else:  # compressed: the encoder cuts no batch from no rows; pyarrow's message, uncompressed, is valid here
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, self.schema) as writer:
                writer.write_batch(batch)
            stream = sink.getvalue()
            self._put(stream[len(_schema_message(self.schema)) : stream.size - len(IPC_EOS)])

    def write_encoded(self, messages: list[pa.Buffer | bytes]) -> None:
        """Append record batches that `encode_batches` encoded (a compressed Arrow shard only)."""
        if self._sums is None:
            raise ValueError("encoded record batches go into compressed Arrow shards only")
        for piece in messages:
            self._put(piece)

    def _put(self, data: pa.Buffer | bytes) -> None:
        self._sink.write(data)
        self._sums.update(data)  # here, on the writer thread, while the next groups are patched
        self._flusher.wrote(self._sums.size)

    def commit(self, rename: bool = True) -> dict[str, object] | None:
        """Close, fsync and rename to the final name (`rename=False`: left at `self.tmp`
        for the caller to rename). Returns the file's size and checksums
        (`integrity.checksums`) when every byte was written through here (a compressed
        Arrow shard), else None: those are read back from the file."""
        try:
            if self._sums is not None:
                self._put(IPC_EOS)
            self._close()
            if rename:
                publish(self.tmp, self.path)
            else:
                sync(self.tmp)
        except BaseException:
            self.abort()
            raise
        return self._sums.result() if self._sums is not None else None

    def abort(self) -> None:
        """Drop the temporary file (the final name is never touched)."""
        with contextlib.suppress(Exception):
            self._close()
        self.tmp.unlink(missing_ok=True)

    def _close(self) -> None:
        writer, sink, flusher = self._writer, self._sink, self._flusher
        self._writer = self._sink = self._flusher = None
        try:
            if writer is not None:
                writer.close()
        finally:
            try:
                if flusher is not None:
                    flusher.wait()
            finally:
                if sink is not None:
                    sink.close()


def write_json(path: Path, data: dict[str, Any], indent: int | None = 2) -> None:
    """`data` as JSON, atomically; `indent=None` for files only bytepatch reads (Python's
    indenting encoder is pure Python: ~40 ms for the run state of 3,000 inputs)."""
    text = json.dumps(data, indent=indent, sort_keys=True)
    atomic_write(path, lambda target: target.write_text(text + "\n"))


ARROW_FILE_MAGIC = b"ARROW1"  # the IPC file format starts (and ends) with it; the stream format does not


def read_arrow_table(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """An Arrow IPC shard, memory-mapped (zero-copy), in either IPC format: the stream
    format bytepatch writes, or the file format of datasets written before."""
    with pa.memory_map(str(path), "r") as source:
        is_file = source.read(len(ARROW_FILE_MAGIC)) == ARROW_FILE_MAGIC
        source.seek(0)
        table = pa.ipc.open_file(source).read_all() if is_file else pa.ipc.open_stream(source).read_all()
    return table.select(columns) if columns is not None else table
