"""Chunks are the same whether documents arrive one by one or in batches."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepatch.io.documents import Document
from bytepatch.io.jsonl_batch import DocumentBatch
from bytepatch.segment import chunks as C


def _batches(docs: list[Document], cuts: list[int]):
    bounds = sorted({0, len(docs), *[c % (len(docs) + 1) for c in cuts]})
    for a, b in zip(bounds[:-1], bounds[1:]):
        part = docs[a:b]
        offsets = np.zeros(len(part) + 1, dtype=np.int64)
        np.cumsum([len(d.data) for d in part], out=offsets[1:])
        yield DocumentBatch([d.id for d in part], memoryview(b"".join(d.data for d in part)), offsets)


def _view(chunks):
    return [(c.index, c.ids, bytes(c.data), c.ends) for c in chunks]


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 12), max_size=30),
    max_bytes=st.integers(1, 40),
    cuts=st.lists(st.integers(0, 40), max_size=5),
    max_docs=st.integers(1, 6),
    mix=st.booleans(),
)
def test_batches_chunk_like_single_documents(sizes, max_bytes, cuts, max_docs, mix):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(C, "MAX_DOCS_PER_CHUNK", max_docs)
        _check(sizes, max_bytes, cuts, mix)


def _check(sizes, max_bytes, cuts, mix):
    docs = [Document(f"d{i}", bytes([65 + i % 26]) * n) for i, n in enumerate(sizes)]
    want = _view(C.chunk_documents(docs, max_bytes))
    items = list(_batches(docs, cuts))
    if mix and items:  # a document read alone between batches
        items.insert(1, Document("x", b"xyz"))
        docs2 = docs[: len(items[0])] + [Document("x", b"xyz")] + docs[len(items[0]) :]
        want = _view(C.chunk_documents(docs2, max_bytes))
    assert _view(C.chunk_documents(items, max_bytes)) == want
