"""The Arrow JSONL fast path gives exactly the line reader's documents, or declines."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepatch.io import InputError, ReaderConfig
from bytepatch.io.documents import Span
from bytepatch.io.jsonl_batch import DocumentBatch, read_jsonl_blocks
from bytepatch.io.text import read_jsonl

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


def _one_batch(path: Path, cfg: ReaderConfig = ReaderConfig(), span: Span | None = None) -> DocumentBatch | None:
    """A small file (or span) in one block: its batch, or None when the fast path declines
    it (the blocks reader then hands the whole input to the line reader). A block under
    Arrow's parse block is one chunk, hence one batch."""
    items = list(read_jsonl_blocks(str(path), cfg, span))
    if not items:  # an empty input: no batch and nothing left over (the line reader yields none either)
        assert list(read_jsonl(str(path), cfg, span)) == []
        return None
    if isinstance(items[0], Span):
        assert len(items) == 1 and items[0].start == (span.start if span else 0)
        return None
    assert len(items) == 1  # one block, nothing left for the line reader
    return items[0]


def _batch_docs(path: Path, cfg: ReaderConfig = ReaderConfig()):
    batch = _one_batch(path, cfg)
    if batch is None:
        return None
    data = bytes(batch.data)
    return [(i, data[a:b]) for i, a, b in zip(batch.ids, batch.offsets[:-1].tolist(), batch.offsets[1:].tolist())]


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(texts, st.integers()), min_size=1, max_size=20),
    final_newline=st.booleans(),
    ascii_only=st.booleans(),
)
def test_batch_equals_the_line_reader(tmp_path_factory, rows, final_newline, ascii_only):
    path = tmp_path_factory.mktemp("j") / "d.jsonl"
    lines = [json.dumps({"n": n, "text": t, "extra": [1, {"a": None}]}, ensure_ascii=ascii_only) for t, n in rows]
    path.write_bytes(("\n".join(lines) + ("\n" if final_newline else "")).encode())
    want = [(d.id, d.data) for d in read_jsonl(str(path), ReaderConfig())]
    assert _batch_docs(path) == want


@pytest.mark.parametrize(
    "content",
    [
        b'{"text": "a"}\n\n{"text": "b"}\n',  # blank line: line numbers would shift
        b'{"text": "a"}\n   \n',
        b'{"text": "a"}{"text": "b"}\n',  # two objects on one line
        b'{"text": "a"}\n{"other": 1}\n',  # missing field
        b'{"text": null}\n',
        b'{"text": 5}\n',
        b'{"text": "\xff"}\n',  # invalid UTF-8
        b'{"text": "\\ud800"}\n',  # lone surrogate
        b'{"text": "a"} trailing\n',
        b"[1, 2]\n",
        b"",
        # one object over two lines balancing two on one line: rows == lines, ids would be wrong
        b'{"text": "a", "meta":\n{"k": 1}}\n{"text": "b"} {"text": "c"}\n',
        b'{"text": "a", "meta": "\xff"}\n',  # invalid UTF-8 outside the text field
        b'{"text": "a", "\xfe": 1}\n',  # ... or in a key
        b'{"text": "a"}  \n',  # a line not ending in "}": the line reader judges it
    ],
)
def test_declines_what_the_line_reader_must_judge(tmp_path: Path, content: bytes):
    path = tmp_path / "d.jsonl"
    path.write_bytes(content)
    assert _batch_docs(path) is None


def test_crlf_lines_stay_on_the_fast_path(tmp_path: Path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"text": "a"}\r\n{"text": "b"}\r\n{"text": "c"}')
    assert _batch_docs(path) == [(f"{path}:1", b"a"), (f"{path}:2", b"b"), (f"{path}:3", b"c")]


def test_a_utf8_byte_order_mark_stays_on_the_fast_path(tmp_path: Path):
    """The mark failed the `{` check of line 1, so the whole file went line by line."""
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "a"}\n{"text": "b"}\n')
    docs = [(f"{path}:1", b"a"), (f"{path}:2", b"b")]
    assert _batch_docs(path) == docs
    assert [(d.id, d.data) for d in read_jsonl(str(path), ReaderConfig())] == docs


def test_declines_a_document_over_the_cap_for_the_line_reader_to_name(tmp_path: Path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"text": "0123456789"}\n{"text": "0123456789a"}\n')
    assert _batch_docs(path, ReaderConfig(max_document_bytes=11)) is not None
    assert _batch_docs(path, ReaderConfig(max_document_bytes=10)) is None


def test_declines_id_fields_and_gzip(tmp_path: Path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"text": "a", "id": "x"}\n')
    assert _batch_docs(path, ReaderConfig(id_field="id")) is None
    gz = tmp_path / "d.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert _one_batch(gz) is None
    assert _batch_docs(path, ReaderConfig(text_field="id")) == [(f"{path}:1", b"x")]


def test_a_span_reads_its_lines_with_their_numbers(tmp_path: Path):
    path = tmp_path / "d.jsonl"
    lines = [json.dumps({"text": f"row {i}"}) + "\n" for i in range(6)]
    path.write_text("".join(lines))
    start = len("".join(lines[:2]))
    end = len("".join(lines[:5]))
    span = Span("name", start, end, first_line=3)
    batch = _one_batch(path, ReaderConfig(), span)
    want = [(d.id, d.data) for d in read_jsonl(str(path), ReaderConfig(), span)]
    data = bytes(batch.data)
    got = [(i, data[a:b]) for i, a, b in zip(batch.ids, batch.offsets[:-1].tolist(), batch.offsets[1:].tolist())]
    assert got == want == [("name:3", b"row 2"), ("name:4", b"row 3"), ("name:5", b"row 4")]


def _blocks_docs(path: Path, block_bytes: int, span: Span | None = None):
    """What the pipeline reads: batches, then (after a declined block) the line reader.
    All batches are taken before any is read, as the pipeline holds several: one that
    referred to the reader's reused block would show the next block's bytes."""
    out = []
    for item in list(read_jsonl_blocks(str(path), ReaderConfig(), span, block_bytes=block_bytes)):
        if isinstance(item, Span):
            out += [(d.id, d.data) for d in read_jsonl(str(path), ReaderConfig(), item)]
            break
        data = bytes(item.data)
        out += [(i, data[a:b]) for i, a, b in zip(item.ids, item.offsets[:-1].tolist(), item.offsets[1:].tolist())]
    return out


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(texts, min_size=1, max_size=30),
    block_bytes=st.integers(1, 200),
    blank_at=st.one_of(st.none(), st.integers(0, 29)),
    final_newline=st.booleans(),
)
def test_blocks_equal_the_line_reader(tmp_path_factory, rows, block_bytes, blank_at, final_newline):
    """Any block size (lines longer than a block included), with or without a line the
    fast path must decline part way: the same documents and ids as line by line."""
    path = tmp_path_factory.mktemp("j") / "d.jsonl"
    lines = [json.dumps({"text": t}) for t in rows]
    if blank_at is not None and blank_at < len(lines):
        lines.insert(blank_at, "")
    path.write_bytes(("\n".join(lines) + ("\n" if final_newline else "")).encode())
    want = [(d.id, d.data) for d in read_jsonl(str(path), ReaderConfig())]
    assert _blocks_docs(path, block_bytes, Span(str(path))) == want


@pytest.mark.parametrize("line", [b"\x0b", b"\x0c", b"\t\x0c \r"])
def test_a_line_of_whitespace_json_does_not_know_is_refused_by_both_readers(tmp_path: Path, line: bytes):
    """JSON whitespace is space, tab, LF and CR; Python's `bytes.strip` also takes vertical
    tab and form feed, so such a line was skipped as blank (exit 0) by the line reader,
    to which the fast path hands it."""
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"text": "a"}\n \t\r\n' + line + b'\n{"text": "b"}\n')
    assert _batch_docs(path) is None  # the fast path declines it ...
    for block_bytes in (1, 15, 1 << 20):  # ... wherever a block falls; the line reader names it
        with pytest.raises(InputError, match="malformed JSON") as err:
            _blocks_docs(path, block_bytes, Span(str(path)))
        assert err.value.line == 3


def test_blocks_of_a_span_keep_its_line_numbers(tmp_path: Path):
    path = tmp_path / "d.jsonl"
    lines = [json.dumps({"text": f"row {i}"}) + "\n" for i in range(40)]
    path.write_text("".join(lines))
    span = Span("name", len("".join(lines[:7])), len("".join(lines[:31])), first_line=8)
    got = _blocks_docs(path, 50, span)
    assert got == [(f"name:{i + 1}", f"row {i}".encode()) for i in range(7, 31)]


def test_lines_longer_than_a_parse_block_stay_on_the_fast_path(tmp_path: Path, monkeypatch):
    """Arrow refuses a line longer than its parse block: the block grows to the longest line."""
    monkeypatch.setattr("bytepatch.io.jsonl_batch.PARSE_BLOCK_BYTES", 64)
    path = tmp_path / "d.jsonl"
    lines = [json.dumps({"text": "x" * n}) for n in (10, 300, 5, 1000)]
    path.write_text("\n".join(lines) + "\n")
    want = [(d.id, d.data) for d in read_jsonl(str(path), ReaderConfig())]
    assert _blocks_docs(path, 1 << 20) == want
    items = list(read_jsonl_blocks(str(path), ReaderConfig()))
    assert items and all(isinstance(item, DocumentBatch) for item in items)  # no fallback to the line reader


def test_a_block_of_several_parse_chunks_keeps_their_order_and_line_numbers(tmp_path: Path, monkeypatch):
    """Arrow parses a block in chunks; each becomes a batch (joining them would copy every
    document again), numbered from where the one before ended."""
    monkeypatch.setattr("bytepatch.io.jsonl_batch.PARSE_BLOCK_BYTES", 256)
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"text": f"row {i}"}) + "\n" for i in range(200)))
    items = list(read_jsonl_blocks(str(path), ReaderConfig()))
    assert len(items) > 1 and all(isinstance(item, DocumentBatch) for item in items)
    assert [i for item in items for i in item.ids] == [f"{path}:{n}" for n in range(1, 201)]
    assert _blocks_docs(path, 1 << 20) == [(f"{path}:{i + 1}", f"row {i}".encode()) for i in range(200)]


def test_a_span_past_the_end_of_a_shrunk_file_reads_as_the_line_reader_does(tmp_path: Path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"text": "a"}) + "\n")
    span = Span(str(path), 100, None, first_line=5)  # planned before the file shrank
    assert _blocks_docs(path, 1 << 20, span) == [(d.id, d.data) for d in read_jsonl(str(path), ReaderConfig(), span)]
