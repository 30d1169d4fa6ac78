"""Groups the document stream into shard-sized chunks.

Chunk boundaries depend only on the documents and the shard size, never on the
number of workers, so shard k always holds the same rows: that is what makes
`--workers N` produce the same dataset and `--resume` able to skip finished shards.

A chunk keeps its documents in one contiguous buffer plus offsets, not as a list of
byte strings: the buffer becomes the dataset's `bytes` column without a copy, the
patch kernels read it in place, and memory is one allocation that the OS takes back
whole, rather than thousands of heap blocks that leave the heap fragmented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from bytepatch.io.documents import Document
from bytepatch.io.jsonl_batch import DocumentBatch

MAX_DOCS_PER_CHUNK = 1_000_000  # keeps per-shard id lists bounded for tiny documents


@dataclass
class Chunk:
    index: int
    ids: list[str] = field(default_factory=list)
    data: bytes | bytearray = b""  # every document, back to back
    ends: list[int] = field(default_factory=list)  # end offset of each document in `data`

    def __len__(self) -> int:
        return len(self.ids)

    def __getstate__(self) -> dict:
        # Pool workers get chunks by pickle; a view of a batch's buffer is sent as bytes.
        state = dict(self.__dict__)
        if isinstance(state["data"], memoryview):
            state["data"] = state["data"].tobytes()
        return state

    @property
    def offsets(self) -> np.ndarray:
        """Document offsets into `data` (int64, len = documents + 1)."""
        return np.asarray([0] + self.ends, dtype=np.int64)

    def doc(self, i: int) -> memoryview:
        start = self.ends[i - 1] if i else 0
        return memoryview(self.data)[start : self.ends[i]]

    def append(self, doc: Document) -> None:
        self.ids.append(doc.id)
        if not self.ends:
            self.data = doc.data  # a lone (maybe huge) document is kept as is, not copied
        else:
            if not isinstance(self.data, bytearray):
                self.data = bytearray(self.data)
            self.data += doc.data  # grows in place (mremap for large buffers): no copy of the rest
        self.ends.append(len(self.data))

    def extend(self, batch: DocumentBatch, lo: int, hi: int) -> None:
        """Append documents lo..hi-1 of a batch in one step (one copy of their bytes at most)."""
        a, b = int(batch.offsets[lo]), int(batch.offsets[hi])
        base = len(self.data)
        self.ids.extend(batch.ids[lo:hi])
        if not self.ends:
            self.data = batch.data[a:b]  # kept as is (a view), like a lone document
        else:
            if not isinstance(self.data, bytearray):
                self.data = bytearray(self.data)
            self.data += batch.data[a:b]
        self.ends.extend((batch.offsets[lo + 1 : hi + 1] - a + base).tolist())


def chunk_documents(documents: Iterable[Document | DocumentBatch], max_bytes: int) -> Iterator[Chunk]:
    """Consecutive chunks of at most `max_bytes` (a larger single document is its own chunk).

    Batches are split exactly where their documents, appended one by one, would have
    closed a chunk: the chunks (so the shards) never depend on how the input was read.
    """
    chunk = Chunk(0)
    for doc in documents:
        if isinstance(doc, DocumentBatch):
            lo = 0
            while lo < len(doc):
                hi = _batch_fit(chunk, doc, lo, max_bytes)
                if hi == lo:  # the next document closes this chunk
                    yield chunk
                    chunk = Chunk(chunk.index + 1)
                    hi = max(lo + 1, _batch_fit(chunk, doc, lo, max_bytes))
                chunk.extend(doc, lo, hi)
                lo = hi
            continue
        if len(chunk) and (len(chunk.data) + len(doc.data) > max_bytes or len(chunk) >= MAX_DOCS_PER_CHUNK):
            yield chunk
            chunk = Chunk(chunk.index + 1)
        chunk.append(doc)
    if len(chunk):
        yield chunk


def _batch_fit(chunk: Chunk, batch: DocumentBatch, lo: int, max_bytes: int) -> int:
    """The end of the run of batch documents from `lo` that the one-by-one rule would add to `chunk`."""
    size = len(chunk.data) + (batch.offsets[lo + 1 :] - batch.offsets[lo])  # chunk size after each document
    count = len(chunk) + np.arange(len(batch) - lo)  # documents in the chunk before each one
    refused = (count > 0) & ((size > max_bytes) | (count >= MAX_DOCS_PER_CHUNK))
    first = int(np.argmax(refused)) if refused.any() else len(batch) - lo
    return lo + first
