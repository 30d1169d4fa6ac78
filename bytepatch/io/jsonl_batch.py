"""Fast path for JSONL: a whole file parsed by `pyarrow.json` into one buffer of documents.

The line-by-line reader (`text.read_jsonl`) costs a few microseconds per document in
Python (json.loads, encode, a Document object, an append): on paragraph-sized
documents that is most of a space-patcher run. Here Arrow's C++ parser reads the file
into a string column whose data buffer *is* the documents back to back, so the
segment pipeline takes them as one `DocumentBatch` without touching each document.

It only ever returns what the line reader would: it takes a file only when every line
is one JSON object whose text field is a string (Arrow then has exactly one row per
line, so row i is line i + 1), the strings are valid UTF-8 and no id field is asked
for; anything else (a parse error, a blank line, two objects on a line, a missing
field, invalid UTF-8, a lone surrogate, a gzip file, a file over MAX_BYTES) returns
None and the caller reads the file line by line, which names the offending line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from bytepatch.io.documents import ReaderConfig, Span

MAX_BYTES = 1 << 30  # the whole file is held in memory once; larger files stream line by line
_OPEN_BRACE = ord("{")


@dataclass(frozen=True)
class DocumentBatch:
    """Documents stored back to back: row i is data[offsets[i]:offsets[i+1]], with id ids[i]."""

    ids: list[str]
    data: bytes | memoryview
    offsets: np.ndarray  # int64, len(ids) + 1, from 0 to len(data)

    def __len__(self) -> int:
        return len(self.ids)


def _lines_if_each_opens_an_object(data: bytes) -> int | None:
    """The number of lines when every line's first byte is `{` (no blank or indented
    line), else None; one pass over the newlines serves both."""
    if not data:
        return None
    raw = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(raw == 10)
    starts = newlines[newlines < len(raw) - 1] + 1  # bytes after a newline (not after the final one)
    if raw[0] != _OPEN_BRACE or not np.all(raw[starts] == _OPEN_BRACE):
        return None
    return len(newlines) + (0 if raw[-1] == 10 else 1)


def read_jsonl_batch(path: str, cfg: ReaderConfig, span: Span | None = None) -> DocumentBatch | None:
    """The documents of the file (or of the byte range `span` names, which starts and ends
    at line starts) as one batch, or None when the line reader must handle them."""
    if cfg.id_field is not None or path.lower().endswith(".gz"):
        return None
    span = span or Span(path)
    try:
        with open(path, "rb") as f:
            f.seek(span.start)
            limit = MAX_BYTES + 1 if span.end is None else min(MAX_BYTES + 1, span.end - span.start)
            data = f.read(limit)
    except OSError:
        return None  # the line reader reports it
    lines = None if len(data) > MAX_BYTES else _lines_if_each_opens_an_object(data)
    if lines is None:
        return None  # e.g. a blank line, which the line reader skips: line numbers would shift
    import pyarrow.json as pj

    schema = pa.schema([pa.field(cfg.text_field, pa.string())])
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    try:
        table = pj.read_json(pa.BufferReader(data), parse_options=options)
        column = table.column(cfg.text_field).combine_chunks()
        column.validate(full=True)  # UTF-8: Arrow's parser does not check it
    except (pa.ArrowException, ValueError):
        return None
    # Every line starts an object, so no line yields 0 rows; with as many rows as lines, no
    # line yields 2 either: row i is line i + 1. (Lone surrogates, invalid JSON: Arrow raises.)
    if table.num_rows != lines or column.null_count:
        return None  # two objects on a line, or a missing/null text field: the line reader says which
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32, count=len(column) + 1, offset=column.offset * 4)
    offsets = offsets.astype(np.int64)
    values = column.buffers()[2]
    body = memoryview(values)[offsets[0] : offsets[-1]] if len(column) else memoryview(b"")
    ids = [f"{span.name}:{i}" for i in range(span.first_line, span.first_line + len(column))]
    return DocumentBatch(ids, body, offsets - offsets[0])
