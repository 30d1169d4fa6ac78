"""Groups the document stream into shard-sized chunks.

Chunk boundaries depend only on the documents and the shard size, never on the
number of workers, so shard k always holds the same rows: that is what makes
`--workers N` produce the same dataset and `--resume` able to skip finished shards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from bytepatch.io.documents import Document

MAX_DOCS_PER_CHUNK = 1_000_000  # keeps per-shard Python lists bounded for tiny documents


@dataclass
class Chunk:
    index: int
    ids: list[str]
    docs: list[bytes]

    @property
    def n_bytes(self) -> int:
        return sum(len(d) for d in self.docs)


def chunk_documents(documents: Iterable[Document], max_bytes: int) -> Iterator[Chunk]:
    """Consecutive chunks of at most `max_bytes` (a larger single document is its own chunk)."""
    ids: list[str] = []
    docs: list[bytes] = []
    size = 0
    index = 0
    for doc in documents:
        if docs and (size + len(doc.data) > max_bytes or len(docs) >= MAX_DOCS_PER_CHUNK):
            yield Chunk(index, ids, docs)
            index += 1
            ids, docs, size = [], [], 0
        ids.append(doc.id)
        docs.append(doc.data)
        size += len(doc.data)
    if docs:
        yield Chunk(index, ids, docs)
