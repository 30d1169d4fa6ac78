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


def _joined(items):
    """The shards a stream of groups and ShardEnds makes, as chunk views."""
    shards, current, ended = [], [], []
    for item in items:
        if isinstance(item, C.ShardEnd):
            assert item.index == len(shards) and item.index not in ended  # in order, once each
            ended.append(item.index)
            chunk = C.Chunk(item.index)
            for group in current:
                assert group.index == item.index
                chunk.add((_as_batch(group), 0, len(group)))
            shards.append(chunk)
            current = []
        else:
            current.append(item)
    assert not current  # every group is followed by its shard's end
    return _view(shards)


def _as_batch(group: C.Chunk) -> DocumentBatch:
    return DocumentBatch(group.ids, memoryview(bytes(group.data)), group.offsets)


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 12), max_size=30),
    max_bytes=st.integers(1, 40),
    cuts=st.lists(st.integers(0, 40), max_size=5),
    window=st.integers(1, 14),
    group_bytes=st.integers(1, 20),
    one_by_one=st.booleans(),
)
def test_streamed_groups_make_the_same_shards(sizes, max_bytes, cuts, window, group_bytes, one_by_one):
    docs = [Document(f"d{i}", bytes([65 + i % 26]) * n) for i, n in enumerate(sizes)]
    source = docs if one_by_one else _batches(docs, cuts)
    items = list(C.stream_groups(source, max_bytes, window, group_bytes))
    assert _joined(items) == _view(C.chunk_documents(docs, max_bytes))
    for group in (g for g in items if isinstance(g, C.Chunk)):
        sizes_in = np.diff(group.offsets)
        assert len(group) >= 1
        if len(group) > 1:  # several documents: all short, and together within a group
            assert sizes_in.max() <= window and sizes_in.sum() <= group_bytes


def test_no_documents_make_no_shard():
    assert list(C.stream_groups([], 10, 4, 4)) == []
