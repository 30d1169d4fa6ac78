"""Which inputs `segment` lists for their group to read, and which it reads at once."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from bytepatch.io import InputError, ReaderConfig, Span, expand_sources
from bytepatch.io.documents import Document, FileDocument
from bytepatch.io.jsonl_batch import DocumentBatch
from bytepatch.segment.reading import read_documents


def _read(paths: list[str], cfg: ReaderConfig = ReaderConfig()) -> list:
    return list(read_documents([(s, Span(s.name)) for s in expand_sources(paths)], cfg))


def test_whole_plain_text_files_are_listed_for_their_group_to_read(tmp_path: Path):
    (tmp_path / "a.txt").write_bytes(b"alpha")
    (tmp_path / "b.md").write_bytes(b"")
    assert _read([str(tmp_path)]) == [
        FileDocument("a.txt", str(tmp_path / "a.txt"), 5),
        FileDocument("b.md", str(tmp_path / "b.md"), 0),
    ]


def test_everything_else_is_read_at_once(tmp_path: Path):
    (tmp_path / "a.txt.gz").write_bytes(gzip.compress(b"zipped"))
    (tmp_path / "b.jsonl").write_bytes(b'{"text": "json"}\n')
    (tmp_path / "c.txt").write_bytes(b"one\ntwo\n")
    assert _read([str(tmp_path / "a.txt.gz")]) == [Document("a.txt.gz", b"zipped")]
    [batch] = _read([str(tmp_path / "b.jsonl")])
    assert isinstance(batch, DocumentBatch) and bytes(batch.data) == b"json"
    per_line = _read([str(tmp_path / "c.txt")], ReaderConfig(doc_per_line=True))
    assert per_line == [Document("c.txt:1", b"one"), Document("c.txt:2", b"two")]


def test_a_file_over_the_cap_is_refused_by_its_reader_at_once(tmp_path: Path):
    (tmp_path / "c.txt").write_bytes(b"one\ntwo\n")
    with pytest.raises(InputError, match="max-document-bytes"):
        _read([str(tmp_path / "c.txt")], ReaderConfig(max_document_bytes=4))
