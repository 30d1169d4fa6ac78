"""The documents of a job's parts, in input order, as fast as the format allows, counted
for the progress line and checked for ids given twice."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
from typing import Iterable, Iterator, Sequence

from bytepatch.io import InputError, ReaderConfig, Source, Span, read_source
from bytepatch.io.documents import Document, FileDocument
from bytepatch.io.fs import is_uri
from bytepatch.io.jsonl_batch import DocumentBatch, read_jsonl_blocks
from bytepatch.io.sniff import check_named_inputs
from bytepatch.io.sources import STDIN, detect_format
from bytepatch.progress import Progress


def note_unused_fields(sources: Sequence[Source], reader: ReaderConfig) -> None:
    """Warn when --text-field/--id-field name a field and no input has fields (all plain
    text): the option does nothing there, and a typo in a script would go unnoticed."""
    given = [f"--{k}-field" for k, v in (("text", reader.text_field != "text"), ("id", reader.id_field)) if v]
    if given and all(detect_format(s.path, reader.input_format) == "text" for s in sources):
        print(
            f"warning: {' and '.join(given)} appl{'y' if len(given) > 1 else 'ies'} to JSONL, Parquet and "
            "Arrow inputs; these are all "
            "plain text (one document per file or line, ids from file names and line numbers)",
            file=sys.stderr,
        )


def check_named_inputs_early(sources: Sequence[Source], reader: ReaderConfig) -> None:
    """Refuse, before anything is read or written, a listed file named as compressed data
    (`.zst`, `.xz`, ...) whose first bytes say it is (see io/sniff.py): found on reading,
    it would stop the run after patching the files listed before it."""
    if reader.input_format == "auto":
        # `check_named_inputs` sniffs only names ending in a compressed suffix, and
        # `detect_format` takes every such name as text (no reader's suffix ends so): asking
        # it per file first cost ~5 us each, 14 ms for 2,942 files, and changed nothing.
        check_named_inputs(s.path for s in sources if s.regular)


def read_documents(
    parts: Sequence[tuple[Source, Span]], reader: ReaderConfig, threads: bool = False
) -> Iterator[Document | FileDocument | DocumentBatch]:
    """Every document of `parts`, in order (`threads`: Arrow may parse JSON on its pool).
    A whole plain-text file is listed, not read (`FileDocument`): its group reads it on
    the thread that patches it, so with --threads the reading thread is not the limit on
    a directory of many files."""
    for source, span in parts:
        if source.regular and not span.regular:  # its readers refuse a FIFO put in its place since
            span = dataclasses.replace(span, regular=True)
        fmt = detect_format(source.path, reader.input_format)
        if _deferred(source, span, reader, fmt):
            sniff = reader.input_format == "auto"
            yield FileDocument(span.name, source.path, source.size, sniff, source.mtime_ns)  # type: ignore[arg-type]
        else:
            yield from read_fast(source.path, reader, span, threads, fmt)
            check_unchanged(source)


def check_unchanged(source: Source) -> None:
    """Refuse a local file that no longer has the size and mtime it was listed with (the
    size alone when no mtime is given), once its part is read. The run state (what --resume compares) records the listing, and a
    file that grew, lost whole lines or was rewritten meanwhile reads without an error:
    rows would be added or dropped silently. (Whole text files are checked by size as
    their group reads them: `io.text.read_file_into`, by size and mtime.)"""
    if not source.regular or source.size is None:
        return  # stdin, a URI, a pipe: nothing to compare with
    try:
        st = os.stat(source.path)
    except OSError as exc:
        raise InputError(
            source.path, f"changed while being read: {exc.strerror or exc}; rerun on files at rest"
        ) from exc
    if st.st_size != source.size or source.mtime_ns not in (None, st.st_mtime_ns):  # no mtime: by size alone
        now = f"now {st.st_size:,}" if st.st_size != source.size else "the same size, but modified since"
        raise InputError(
            source.path,
            f"changed while being read: listed at {source.size:,} bytes, {now}; rerun on files at rest",
        )


def _deferred(source: Source, span: Span, reader: ReaderConfig, fmt: str) -> bool:
    """Whether the part is a whole local regular text file of known size under the cap
    (anything else is read now, by the reader that names its problems)."""
    return (
        fmt == "text"
        and source.regular
        and span.whole
        and not reader.doc_per_line
        and source.size is not None
        and source.size <= reader.max_document_bytes
        and not source.path.lower().endswith(".gz")
    )


def read_fast(
    path: str, reader: ReaderConfig, span: Span | None, threads: bool = True, fmt: str | None = None
) -> Iterable[Document | DocumentBatch]:
    """A JSONL file (or split) in batches of lines wherever Arrow parses them exactly as the
    line reader would (see io/jsonl_batch.py), else document by document; the chunks are
    the same either way. `fmt`: its format, when the caller has detected it already."""
    fmt = fmt or detect_format(path, reader.input_format)
    if fmt == "jsonl" and path != STDIN and not is_uri(path):
        return _jsonl_fast(path, reader, span, threads)
    return read_source(path, reader, span, fmt)


def _jsonl_fast(
    path: str, reader: ReaderConfig, span: Span | None, threads: bool
) -> Iterator[Document | DocumentBatch]:
    for item in read_jsonl_blocks(path, reader, span, threads=threads):
        if isinstance(item, Span):  # the rest, from this line on, goes line by line
            yield from read_source(path, reader, item)
            return
        yield item


def counting(
    documents: Iterable[Document | FileDocument | DocumentBatch], progress: Progress, ids: DuplicateIds | None = None
) -> Iterable[Document | FileDocument | DocumentBatch]:
    for doc in documents:
        progress.add_read(doc.size)
        if ids is not None:
            for doc_id in doc.ids if isinstance(doc, DocumentBatch) else [doc.id]:
                ids.add(doc_id)
        yield doc
    progress.reading_done()


class DuplicateIds:
    """Notices ids given twice (legal, but it makes rows ambiguous to trace): a warning,
    not an error. Keeps 8-byte digests of at most MAX ids, so memory stays bounded."""

    MAX = 5_000_000

    def __init__(self) -> None:
        self.seen: set[bytes] = set()
        self.count = 0
        self.first: str | None = None

    def add(self, doc_id: str) -> None:
        if len(self.seen) >= self.MAX:
            return
        key = hashlib.blake2b(doc_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        if key in self.seen:
            self.count += 1
            self.first = self.first if self.first is not None else doc_id
        else:
            self.seen.add(key)

    def report(self) -> None:
        if self.count:
            print(
                f"warning: {self.count:,} document id(s) appear more than once (first: {self.first!r}); "
                "rows with one id cannot be told apart by it",
                file=sys.stderr,
            )
