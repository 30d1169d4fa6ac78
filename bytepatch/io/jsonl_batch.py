"""Fast path for JSONL: blocks of lines parsed by `pyarrow.json` into one buffer of documents.

The line-by-line reader (`text.read_jsonl`) costs a few microseconds per document in
Python (json.loads, encode, a Document object, an append): on paragraph-sized
documents that is most of a space-patcher run. Here Arrow's C++ parser reads the file
into a string column whose data buffer *is* the documents back to back, so the
segment pipeline takes them as one `DocumentBatch` without touching each document.
`read_jsonl_blocks` does this BLOCK_BYTES of whole lines at a time, so a file of any
size is held one block (and its parsed copy) at a time.

It only ever returns what the line reader would: it takes a block only when every line
is one JSON object whose text field is a string (Arrow then has exactly one row per
line, so row i is line i + 1), the whole block is valid UTF-8, no document is over
--max-document-bytes and no id field is asked for; anything else (a parse error, a
blank line, two objects on a line, an object over two lines, a missing field, invalid
UTF-8 in any field, a lone surrogate, a gzip file, a line over MAX_BYTES, a document
over the cap) hands the rest of the input, from that block's first line, to the line
reader, which names the offending line.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa

from bytepatch.io.documents import ReaderConfig, Span
from bytepatch.io.fs import open_listed
from bytepatch.io.line_ids import LineIds

MAX_BYTES = 1 << 30  # a line longer than this goes to the line reader (a block never grows past it)
BLOCK_BYTES = 8 << 20  # read_jsonl_blocks parses this much at a time: memory is bounded, not the file size
PARSE_BLOCK_BYTES = 8 << 20  # pyarrow.json's unit of (threaded) parsing
_OPEN_BRACE, _CLOSE_BRACE, _CR = ord("{"), ord("}"), ord("\r")
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class DocumentBatch:
    """Documents stored back to back: row i is data[offsets[i]:offsets[i+1]], with id ids[i]."""

    ids: Sequence[str]  # a list, or the LineIds of the lines the documents came from
    data: bytes | memoryview
    offsets: np.ndarray  # int64, len(ids) + 1, from 0 to len(data)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def size(self) -> int:
        """Bytes of all its documents."""
        return len(self.data)


def _line_stats(data: bytes | memoryview) -> tuple[int, int] | None:
    """(number of lines, longest line in bytes) when every line's first byte is `{` (no
    blank or indented line) and its last is `}` (before an optional `\r`), else None;
    one pass over the newlines serves all.

    Why both ends: with as many rows as lines, a line holding two objects could be
    balanced by one object spread over two lines, and their rows would take the wrong
    line numbers. A line break between `}` and `{` is valid JSON only between top-level
    values (inside an object or array a comma is needed), so when every line starts with
    `{` and ends with `}`, no object spans lines, and rows == lines then means one object
    per line."""
    if not len(data):
        return None
    raw = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(raw == 10)
    starts = newlines[newlines < len(raw) - 1] + 1  # bytes after a newline (not after the final one)
    if raw[0] != _OPEN_BRACE or not np.all(raw[starts] == _OPEN_BRACE):
        return None
    ends = np.append(newlines, len(raw)) if raw[-1] != 10 else newlines
    last = ends - 1  # each line's last byte: a line starts with "{", so it has one
    last -= raw[last] == _CR
    if not np.all(raw[last] == _CLOSE_BRACE):
        return None
    longest = int(np.max(np.diff(ends, prepend=-1))) if len(ends) else len(raw)
    return len(newlines) + (0 if raw[-1] == 10 else 1), longest


def _valid_utf8(data: bytes | memoryview) -> bool:
    """Whether the whole block is UTF-8 (JSON must be), every field included: the line
    reader refuses a line with invalid bytes anywhere, so the fast path must too. Arrow's
    validator, over the block as one string: ~0.5 ms per 8 MB."""
    buf = pa.py_buffer(data)
    offsets = pa.py_buffer(np.array([0, buf.size], dtype=np.int64))
    try:
        pa.LargeStringArray.from_buffers(1, offsets, buf).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def read_jsonl_blocks(
    path: str, cfg: ReaderConfig, span: Span | None = None, block_bytes: int = BLOCK_BYTES, threads: bool = True
) -> Iterator[DocumentBatch | Span]:
    """The file (or span) as batches of about `block_bytes` of whole lines, so memory stays
    bounded however large the file (`threads`: whether Arrow parses on its thread pool).
    Where a block cannot take the fast path (see the module docstring), yields instead the
    `Span` of the rest of the input, from that block's first line, for the line reader, and
    stops; the documents (and ids) are the same either way."""
    span = span or Span(path)
    if not _eligible(path, cfg) or not (span.regular or _is_regular(path)):
        yield span  # e.g. a FIFO named as an input: its size (0) is no end, the line reader reads it
        return
    pos, line, end = span.start, span.first_line, span.end
    size = block_bytes
    try:
        with open(open_listed(path, span.regular), "rb", buffering=0) as f:  # a FIFO since: refused
            if end is None:
                end = os.fstat(f.fileno()).st_size
            if pos == 0 and end > len(_UTF8_BOM) and os.pread(f.fileno(), 4, 0) == _UTF8_BOM + b"{":
                # A UTF-8 byte order mark (Windows tools write one), which the line reader steps
                # over on line 1: it failed the `{` check, sending the whole file line by line.
                pos = len(_UTF8_BOM)
            # One buffer, reused for every block: Arrow's parser copies the documents out of
            # it, and pages touched once cost far less than a fresh block each time (on a VM
            # a fresh page can cost a host fault: docs/performance.md).
            block = bytearray(max(0, min(size, end - pos)))  # a span past a shrunk file's end: none
            while pos < end:
                want = min(size, end - pos)
                if len(block) < want:
                    block = bytearray(want)  # a line longer than a block: it grew
                got = _read_at(f, memoryview(block)[:want], pos)
                if not got:
                    break  # the file shrank: the line reader reports what is left
                cut = got
                if pos + got < end:  # not the last block: end it after its last newline
                    cut = block.rfind(b"\n", 0, got) + 1  # searched from the end: cheap
                    if cut == 0:  # one line longer than the block
                        if size >= MAX_BYTES:
                            break  # the line reader judges it
                        size *= 2
                        continue
                batches = _parse_block(memoryview(block)[:cut], cfg, span.name, line, threads)
                if batches is None:
                    break
                yield from batches
                pos += cut
                line += sum(len(b) for b in batches)
                size = block_bytes
    except OSError:
        pass  # the line reader reports it
    if end is None or pos < end:
        yield Span(span.name, pos, span.end, first_line=line, regular=span.regular)


def _read_at(f, into: memoryview, pos: int) -> int:
    """Fill `into` from byte `pos` of `f` (fewer bytes only at the end of the file)."""
    f.seek(pos)
    got = 0
    while got < len(into):
        n = f.readinto(into[got:])
        if not n:
            break
        got += n
    return got


def _is_regular(path: str) -> bool:
    """A regular file (checked before opening: a FIFO opened and closed unread loses what
    its writer had put in it); an error is the line reader's to report."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True


def _eligible(path: str, cfg: ReaderConfig) -> bool:
    return cfg.id_field is None and not path.lower().endswith(".gz")


def _parse_block(
    data: bytes | memoryview, cfg: ReaderConfig, name: str, first_line: int, threads: bool = True
) -> list[DocumentBatch] | None:
    """The documents of whole JSONL lines `data` (line `first_line` first), one batch per
    chunk Arrow parsed (kept apart: joining them would copy every document once more), or
    None when the line reader must judge them. No batch refers to `data`."""
    stats = _line_stats(data)
    if stats is None or not _valid_utf8(data):
        return None  # e.g. a blank line, which the line reader skips: line numbers would shift
    lines, longest = stats
    import pyarrow.json as pj

    schema = pa.schema([pa.field(cfg.text_field, pa.string())])
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    try:
        # 8 MB parse blocks rather than Arrow's 1 MB: a quarter less CPU and wall on 24 MB of
        # paragraphs (fewer chunks to stitch), still several blocks to parse on threads. Arrow
        # refuses a line longer than a block, so a block always holds the longest line.
        read = pj.ReadOptions(block_size=max(PARSE_BLOCK_BYTES, longest + 1), use_threads=threads)
        table = pj.read_json(pa.BufferReader(data), read_options=read, parse_options=options)
        chunks = table.column(cfg.text_field).chunks  # valid UTF-8: the block was (`_valid_utf8`)
    except (pa.ArrowException, ValueError):
        return None
    # Every line starts an object, so no line yields 0 rows; with as many rows as lines, no
    # line yields 2 either: row i is line i + 1. (Lone surrogates, invalid JSON: Arrow raises.)
    if table.num_rows != lines or any(column.null_count for column in chunks):
        return None  # two objects on a line, or a missing/null text field: the line reader says which
    batches = []
    for column in chunks:
        if not len(column):
            continue
        offsets = np.frombuffer(column.buffers()[1], dtype=np.int32, count=len(column) + 1, offset=column.offset * 4)
        offsets = offsets.astype(np.int64)
        if int(np.max(np.diff(offsets))) > cfg.max_document_bytes:
            return None  # over --max-document-bytes: the line reader names the line
        body = memoryview(column.buffers()[2])[offsets[0] : offsets[-1]]
        batches.append(DocumentBatch(LineIds(name, first_line, len(column)), body, offsets - offsets[0]))
        first_line += len(column)
    return batches
