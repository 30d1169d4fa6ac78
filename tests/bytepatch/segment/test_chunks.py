"""Chunks are the same whether documents arrive one by one or in batches."""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepatch.io.documents import Document, FileDocument
from bytepatch.io.errors import InputError
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


def _listed(docs: list[Document], directory: Path, which: list[bool]) -> list[Document | FileDocument]:
    """The documents, those picked by `which` written to files and listed, not read."""
    out: list[Document | FileDocument] = []
    for i, (doc, as_file) in enumerate(zip(docs, which + [False] * len(docs))):
        if as_file:
            path = directory / f"{i}.txt"
            path.write_bytes(doc.data)
            out.append(FileDocument(doc.id, str(path), len(doc.data)))
        else:
            out.append(doc)
    return out


@settings(max_examples=100, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 12), max_size=20),
    which=st.lists(st.booleans(), max_size=20),
    max_bytes=st.integers(1, 40),
    window=st.integers(1, 14),
    group_bytes=st.integers(1, 20),
)
def test_files_listed_not_read_make_the_same_chunks_and_groups(sizes, which, max_bytes, window, group_bytes):
    docs = [Document(f"d{i}", bytes([65 + i % 26]) * n) for i, n in enumerate(sizes)]
    with tempfile.TemporaryDirectory() as tmp:
        listed = _listed(docs, Path(tmp), which)
        assert _view(C.chunk_documents(listed, max_bytes)) == _view(C.chunk_documents(docs, max_bytes))
        items = list(C.stream_groups(listed, max_bytes, window, group_bytes))
        want = list(C.stream_groups(docs, max_bytes, window, group_bytes))
        assert [_view([g]) if isinstance(g, C.Chunk) else g for g in items] == [
            _view([g]) if isinstance(g, C.Chunk) else g for g in want
        ]


def test_a_chunk_reads_its_files_when_its_bytes_are_first_used(tmp_path: Path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_bytes(b"first file")
    b.write_bytes(b"second")
    chunk = (
        C.Chunk(0).add(FileDocument("a", str(a), 10)).add(Document("m", b"in memory")).add(FileDocument("b", str(b), 6))
    )
    assert chunk.nbytes == 25 and chunk.ends == [10, 19, 25]
    # Pickled for a worker process before it is read: the worker reads the files.
    clone = pickle.loads(pickle.dumps(chunk))
    assert bytes(clone.data) == bytes(chunk.data) == b"first filein memorysecond"
    assert bytes(pickle.loads(pickle.dumps(chunk)).data) == b"first filein memorysecond"


def test_a_lone_document_or_batch_run_is_kept_without_a_copy():
    data = b"x" * 100
    assert C.Chunk(0).add(Document("d", data)).data is data
    batch = DocumentBatch(["a", "b"], memoryview(data), np.array([0, 40, 100]))
    view = C.Chunk(0).add((batch, 0, 2)).data
    assert isinstance(view, memoryview) and view.obj is data


@pytest.mark.parametrize(
    ("now", "message"),
    [
        (b"longer than listed", "changed while being read: listed at 6 bytes, now more"),
        (b"abc", "changed while being read: listed at 6 bytes, now 3"),
        (None, "cannot read"),
    ],
)
def test_a_file_changed_or_gone_since_it_was_listed_is_an_error_naming_it(tmp_path: Path, now, message):
    path = tmp_path / "a.txt"
    if now is not None:
        path.write_bytes(now)
    chunk = C.Chunk(0).add(Document("m", b"memory")).add(FileDocument("a.txt", str(path), 6))
    with pytest.raises(InputError, match=message) as err:
        chunk.data
    assert err.value.source == str(path)


def test_an_empty_file_that_grew_is_seen(tmp_path: Path):
    path = tmp_path / "e.txt"
    path.write_bytes(b"")
    assert bytes(C.Chunk(0).add(FileDocument("e", str(path), 0)).data) == b""
    path.write_bytes(b"now text")
    with pytest.raises(InputError, match="listed at 0 bytes, now more"):
        C.Chunk(0).add(FileDocument("e", str(path), 0)).data


def test_a_file_modified_at_its_listed_size_is_an_error_naming_it(tmp_path: Path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"listed")
    listed = path.stat().st_mtime_ns
    assert bytes(C.Chunk(0).add(FileDocument("a.txt", str(path), 6, mtime_ns=listed)).data) == b"listed"
    path.write_bytes(b"LISTED")
    os.utime(path, ns=(listed + 10**9, listed + 10**9))
    with pytest.raises(InputError, match="listed at 6 bytes, the same size, but modified since") as err:
        C.Chunk(0).add(FileDocument("a.txt", str(path), 6, mtime_ns=listed)).data
    assert err.value.source == str(path)
    assert bytes(C.Chunk(0).add(FileDocument("a.txt", str(path), 6)).data) == b"LISTED"  # no mtime: by size


def test_a_small_file_is_read_with_one_fstat(tmp_path: Path, monkeypatch):
    """A directory of small files is read once per file: the mtime check takes the fstat
    the read makes anyway (for the file type), not a second one per file (~1.4 us, 10-15%
    of reading a 2 KB file); only a file whose read takes a while is checked again after it."""
    import bytepatch.io.text as text

    path = tmp_path / "a.txt"
    path.write_bytes(b"x" * 2048)
    listed = path.stat().st_mtime_ns
    calls = []
    real = os.fstat
    monkeypatch.setattr(text.os, "fstat", lambda fd: calls.append(fd) or real(fd))
    assert bytes(C.Chunk(0).add(FileDocument("a.txt", str(path), 2048, mtime_ns=listed)).data) == b"x" * 2048
    assert len(calls) == 1


def test_a_large_file_modified_while_it_is_read_is_an_error(tmp_path: Path, monkeypatch):
    import bytepatch.io.text as text

    size = text.RECHECK_AFTER_READ_BYTES
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * size)
    listed = path.stat().st_mtime_ns
    real = os.readv

    def read_then_touch(fd, buffers):  # a writer rewriting it in place while it is read
        n = real(fd, buffers)
        os.utime(path, ns=(listed + 10**9, listed + 10**9))
        return n

    monkeypatch.setattr(text.os, "readv", read_then_touch)
    with pytest.raises(InputError, match="the same size, but modified since"):
        C.Chunk(0).add(FileDocument("big.txt", str(path), size, mtime_ns=listed)).data
