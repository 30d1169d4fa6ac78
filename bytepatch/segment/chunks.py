"""Cuts the document stream into shards, and shards into groups.

Shard boundaries (`shard_pieces`, the one rule) depend only on the documents and the
shard size, never on the number of workers or threads, so shard k always holds the same
rows: that is what makes `--workers N` and `--threads T` produce the same dataset and
`--resume` able to skip finished shards. `chunk_documents` gathers each shard whole (for
worker processes); `stream_groups` hands it on in groups of a few MB as it is read (for
the streamed single-process run), followed by a `ShardEnd`.

A chunk or group keeps its documents in one contiguous buffer plus offsets, not as a
list of byte strings: the buffer becomes the dataset's `bytes` column without a copy,
the patch kernels read it in place, and memory is one allocation that the OS takes back
whole, rather than thousands of heap blocks that leave the heap fragmented.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generator, Iterable, Iterator, Sequence

import numpy as np

from bytepatch.io.documents import Document, FileDocument
from bytepatch.io.jsonl_batch import DocumentBatch
from bytepatch.io.line_ids import joined_ids
from bytepatch.io.sniff import HEAD_BYTES, check_text
from bytepatch.io.text import read_file_into

MAX_DOCS_PER_CHUNK = 1_000_000  # keeps per-shard id lists bounded for tiny documents
GROUP_BYTES = 4 << 20  # document bytes patched (and their entropies held) together


class Chunk:
    """Consecutive documents of one shard: their ids, and their bytes back to back in
    `data` with each one's end offset in `ends`.

    The pieces are joined into `data` on first use, not as they are added: on the thread
    that patches the chunk, which also reads the files listed but not read yet
    (`FileDocument`) straight into it. So the thread that reads and groups documents
    neither copies bytes nor opens files, and a lone document or a run of one batch is
    kept as is, without a copy.
    """

    __slots__ = ("index", "ids", "ends", "_pieces", "_data")

    def __init__(
        self,
        index: int,
        ids: Sequence[str] | None = None,
        data: bytes | bytearray | memoryview = b"",
        ends: list[int] | None = None,
    ) -> None:
        self.index = index
        self.ids: Sequence[str] = [] if ids is None else ids  # a list, or LineIds while one file's lines run on
        self.ends: list[int] = [] if ends is None else ends  # end offset of each document in `data`
        self._pieces: list[bytes | bytearray | memoryview | FileDocument] = []
        self._data: bytes | bytearray | memoryview | None = data

    def __len__(self) -> int:
        return len(self.ids)

    def __getstate__(self) -> tuple:
        # Worker processes get chunks by pickle: files not read yet go as names (the worker
        # reads them), a view of a batch's buffer as bytes.
        pieces = [p.tobytes() if isinstance(p, memoryview) else p for p in self._pieces]
        data = self._data.tobytes() if isinstance(self._data, memoryview) else self._data
        return self.index, self.ids, self.ends, pieces, data

    def __setstate__(self, state: tuple) -> None:
        self.index, self.ids, self.ends, self._pieces, self._data = state

    @property
    def nbytes(self) -> int:
        """Bytes of all its documents (without joining them)."""
        return self.ends[-1] if self.ends else 0

    @property
    def data(self) -> bytes | bytearray | memoryview:
        """Every document, back to back (joined, and listed files read, on first use)."""
        if self._data is None:
            self._data = _join(self._pieces, self.nbytes)
            self._pieces = []
        return self._data

    @property
    def offsets(self) -> np.ndarray:
        """Document offsets into `data` (int64, len = documents + 1)."""
        return np.asarray([0] + self.ends, dtype=np.int64)

    def doc(self, i: int) -> memoryview:
        start = self.ends[i - 1] if i else 0
        return memoryview(self.data)[start : self.ends[i]]

    def _add_piece(self, piece: bytes | bytearray | memoryview | FileDocument) -> None:
        if self._data is not None:  # joined already (or new): what it holds is the first piece
            self._pieces = [self._data] if len(self._data) else []
            self._data = None
        self._pieces.append(piece)

    def append(self, doc: Document | FileDocument) -> None:
        if isinstance(self.ids, list):
            self.ids.append(doc.id)
        else:
            self.ids = joined_ids(self.ids, [doc.id])
        self._add_piece(doc if isinstance(doc, FileDocument) else doc.data)
        self.ends.append(self.nbytes + doc.size)

    def add(self, piece: Document | FileDocument | tuple[DocumentBatch, int, int]) -> Chunk:
        """Append one document or a batch's documents lo..hi-1; returns the chunk."""
        if isinstance(piece, tuple):
            self.extend(*piece)
        else:
            self.append(piece)
        return self

    def extend(self, batch: DocumentBatch, lo: int, hi: int) -> None:
        """Append documents lo..hi-1 of a batch (a view of its buffer: copied when joined)."""
        a, b = int(batch.offsets[lo]), int(batch.offsets[hi])
        base = self.nbytes
        self.ids = joined_ids(self.ids, batch.ids[lo:hi])
        self._add_piece(memoryview(batch.data)[a:b])
        self.ends.extend((batch.offsets[lo + 1 : hi + 1] - a + base).tolist())


def _join(pieces: list[bytes | bytearray | memoryview | FileDocument], size: int) -> bytes | bytearray | memoryview:
    """The pieces back to back in one buffer; a lone piece in memory is kept as is."""
    if len(pieces) == 1 and not isinstance(pieces[0], FileDocument):
        return pieces[0]
    out = np.empty(size, dtype=np.uint8)  # every byte is written below: no need to zero it
    view = memoryview(out)
    pos = 0
    for piece in pieces:
        if isinstance(piece, FileDocument):
            read_file_into(piece, view[pos : pos + piece.size])
            if piece.sniff:
                check_text(piece.path, view[pos : pos + min(piece.size, HEAD_BYTES)])
            pos += piece.size
        else:
            raw = np.frombuffer(piece, dtype=np.uint8)  # any buffer (bytes, a view of any format)
            out[pos : pos + len(raw)] = raw
            pos += len(raw)
    return view


Piece = Document | FileDocument | tuple[DocumentBatch, int, int]  # a document, or documents lo..hi-1 of a batch


def shard_pieces(
    documents: Iterable[Document | FileDocument | DocumentBatch], max_bytes: int
) -> Iterator[tuple[int, Piece]]:
    """(shard index, piece) in input order: the one rule for where shards close.

    A shard takes documents while they fit in `max_bytes` (a larger single document is a
    shard of its own) and it holds fewer than MAX_DOCS_PER_CHUNK. Batches are split
    exactly where their documents, taken one by one, would have closed a shard, so the
    shards never depend on how the input was read.
    """
    index, size, count = 0, 0, 0
    for doc in documents:
        if isinstance(doc, DocumentBatch):
            lo = 0
            while lo < len(doc):
                hi = _batch_fit(size, count, doc, lo, max_bytes)
                if hi == lo:  # the next document closes this shard
                    index, size, count = index + 1, 0, 0
                    hi = max(lo + 1, _batch_fit(size, count, doc, lo, max_bytes))
                yield index, (doc, lo, hi)
                size += int(doc.offsets[hi] - doc.offsets[lo])
                count += hi - lo
                lo = hi
            continue
        if count and (size + doc.size > max_bytes or count >= MAX_DOCS_PER_CHUNK):
            index, size, count = index + 1, 0, 0
        yield index, doc
        size += doc.size
        count += 1


def chunk_documents(documents: Iterable[Document | FileDocument | DocumentBatch], max_bytes: int) -> Iterator[Chunk]:
    """Consecutive chunks of at most `max_bytes`, one per shard (`shard_pieces`)."""
    chunk = Chunk(0)
    for index, piece in shard_pieces(documents, max_bytes):
        if index != chunk.index:
            yield chunk
            chunk = Chunk(index)
        chunk.add(piece)
    if len(chunk):
        yield chunk


@dataclass(frozen=True)
class ShardEnd:
    """Marks that shard `index` has received all its documents."""

    index: int


def stream_groups(
    documents: Iterable[Document | FileDocument | DocumentBatch],
    max_bytes: int,
    window: int,
    group_bytes: int | None = None,
) -> Iterator[Chunk | ShardEnd]:
    """The shards of `chunk_documents` as they are read: groups of consecutive documents
    (chunks of at most `group_bytes`, or one larger document; a document over `window`
    bytes is a group of its own, as it is patched window by window), each followed, when
    its shard is complete, by that shard's `ShardEnd`.

    A shard never has to be held whole: its groups can be patched and written while the
    next ones are read. Concatenating a shard's groups gives its chunk exactly (tested).
    """
    limit = GROUP_BYTES if group_bytes is None else group_bytes
    group = Chunk(0)
    started = False  # whether shard 0 has a document (the input may hold none)
    for index, piece in shard_pieces(documents, max_bytes):
        started = True
        if index != group.index:
            if len(group):
                yield group
            yield ShardEnd(group.index)
            group = Chunk(index)
        if not isinstance(piece, tuple):
            group = yield from _add_document(group, piece, window, limit)
        else:
            group = yield from _add_batch(group, *piece, window, limit)
    if len(group):
        yield group
    if started:
        yield ShardEnd(group.index)


def _add_document(group: Chunk, doc: Document | FileDocument, window: int, limit: int) -> Generator[Chunk, None, Chunk]:
    """Add one document to the open group, yielding the groups it completes; returns the
    open group (`_add_batch`'s rule, without NumPy calls: thousands of files add up)."""
    long = doc.size > window
    if len(group) and (long or group.nbytes + doc.size > limit):
        yield group
        group = Chunk(group.index)
    group.append(doc)
    if long:  # alone in its group
        yield group
        group = Chunk(group.index)
    return group


def _add_batch(
    group: Chunk, batch: DocumentBatch, lo: int, hi: int, window: int, limit: int
) -> Generator[Chunk, None, Chunk]:
    """Add documents lo..hi-1 of a batch to the open group, a run at a time (each a view of
    the batch's buffer when it starts a group), yielding the groups they complete."""
    sizes = np.diff(batch.offsets[lo : hi + 1])
    base = lo
    ends = np.cumsum(sizes)  # bytes of the piece's documents up to and including each
    long_docs = np.flatnonzero(sizes > window) + base
    while lo < hi:
        if sizes[lo - base] > window:  # alone, in a group of its own
            if len(group):
                yield group
            yield Chunk(group.index).add((batch, lo, lo + 1))
            group = Chunk(group.index)
            lo += 1
            continue
        taken = int(ends[lo - base - 1]) if lo > base else 0
        stop = int(np.searchsorted(ends, taken + limit - group.nbytes, side="right")) + base
        nxt = int(np.searchsorted(long_docs, lo))
        stop = min(stop, hi, int(long_docs[nxt]) if nxt < len(long_docs) else hi)
        if stop <= lo:  # the next document does not fit this group
            if len(group):
                yield group
                group = Chunk(group.index)
                continue
            stop = lo + 1  # one document larger than a group
        group.add((batch, lo, stop))
        lo = stop
    return group


def _batch_fit(size: int, count: int, batch: DocumentBatch, lo: int, max_bytes: int) -> int:
    """The end of the run of batch documents from `lo` that the one-by-one rule would add
    to a shard of `size` bytes and `count` documents."""
    size = size + (batch.offsets[lo + 1 :] - batch.offsets[lo])  # shard size after each document
    count = count + np.arange(len(batch) - lo)  # documents in the shard before each one
    refused = (count > 0) & ((size > max_bytes) | (count >= MAX_DOCS_PER_CHUNK))
    first = int(np.argmax(refused)) if refused.any() else len(batch) - lo
    return lo + first
