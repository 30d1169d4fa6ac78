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

MAX_DOCS_PER_CHUNK = 1_000_000  # keeps per-shard id lists bounded for tiny documents


@dataclass
class Chunk:
    index: int
    ids: list[str] = field(default_factory=list)
    data: bytes | bytearray = b""  # every document, back to back
    ends: list[int] = field(default_factory=list)  # end offset of each document in `data`

    def __len__(self) -> int:
        return len(self.ids)

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
            if isinstance(self.data, bytes):
                self.data = bytearray(self.data)
            self.data += doc.data  # grows in place (mremap for large buffers): no copy of the rest
        self.ends.append(len(self.data))


def chunk_documents(documents: Iterable[Document], max_bytes: int) -> Iterator[Chunk]:
    """Consecutive chunks of at most `max_bytes` (a larger single document is its own chunk)."""
    chunk = Chunk(0)
    for doc in documents:
        if len(chunk) and (len(chunk.data) + len(doc.data) > max_bytes or len(chunk) >= MAX_DOCS_PER_CHUNK):
            yield chunk
            chunk = Chunk(chunk.index + 1)
        chunk.append(doc)
    if len(chunk):
        yield chunk
