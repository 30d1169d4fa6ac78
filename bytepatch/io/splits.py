"""Splits inside large files: cut a corpus into pieces of about `target_bytes` that
separate jobs (Slurm array tasks, Ray actors) can read independently.

A split is a `(Source, Span)`. Files in a line format (JSONL, text with one document
per line), uncompressed, are cut at line starts: one sequential pass per file finds the
first line start after every `target_bytes` and counts the lines before it, so every
split knows the number of its first line and ids are exactly those of reading the whole
file. Parquet files are cut between row groups (their metadata gives the row numbers,
nothing is read). Everything else (whole-file text documents, compressed files, Arrow
IPC, stdin) is one split per file: it cannot be cut without reading all of it.

The planning pass reads each splittable file once at memory speed (it only counts
newlines), which is small next to computing entropies for the same bytes.
"""

from __future__ import annotations

import os
import stat
from typing import Sequence

from bytepatch.io.documents import ReaderConfig, Span
from bytepatch.io.errors import InputError
from bytepatch.io.fs import is_uri, without_query
from bytepatch.io.sources import STDIN, Source, detect_format

BLOCK = 16 << 20  # bytes read at a time while counting lines


def plan_splits(sources: Sequence[Source], cfg: ReaderConfig, target_bytes: int) -> list[tuple[Source, Span]]:
    """Every source cut into splits of about `target_bytes` where its format allows, in order."""
    if target_bytes < 1:
        raise ValueError(f"split size must be at least 1 byte, got {target_bytes}")
    out: list[tuple[Source, Span]] = []
    for source in sources:
        out += [(source, span) for span in _file_splits(source, cfg, target_bytes)]
    return out


def _file_splits(source: Source, cfg: ReaderConfig, target: int) -> list[Span]:
    path = source.path
    whole = [Span(source.name, regular=source.regular)]
    if path == STDIN or without_query(path).lower().endswith(".gz") or _pipe(source):
        return whole
    fmt = detect_format(path, cfg.input_format)
    if fmt == "parquet":
        return _parquet_splits(source, target)
    if fmt == "jsonl" or (fmt == "text" and cfg.doc_per_line):
        return _line_splits(source, target)
    return whole


def _pipe(source: Source) -> bool:
    """A local input that is not a regular file (a FIFO named as an input): reading it to
    plan splits would leave nothing for the reading. Checked before anything opens it."""
    if source.regular or is_uri(source.path):
        return False
    try:
        return not stat.S_ISREG(os.stat(source.path).st_mode)
    except OSError:
        return False  # the planning pass reports it


def _line_splits(source: Source, target: int) -> list[Span]:
    """Byte ranges starting at line starts: each cut is the first line start at least
    `target` bytes after the previous one; lines are counted on the way."""
    from bytepatch.io.fs import open_input

    spans: list[Span] = []
    start, first_line, lines, base = 0, 1, 0, 0
    want = target - 1  # a cut follows the first newline at or after this offset
    try:
        with open_input(source.path, source.regular) as f:  # a FIFO since the listing: refused
            while block := f.read(BLOCK):
                i = 0  # newlines of block[:i] are counted
                while (nl := block.find(b"\n", max(i, want - base))) >= 0:
                    lines += block.count(b"\n", i, nl + 1)
                    i = nl + 1
                    spans.append(Span(source.name, start, base + i, first_line, regular=source.regular))
                    start, first_line = base + i, lines + 1
                    want = start + target - 1
                lines += block.count(b"\n", i)
                base += len(block)
    except OSError as exc:
        raise InputError(source.path, f"cannot read: {exc}") from exc
    if start < base:
        spans.append(Span(source.name, start, None, first_line, regular=source.regular))
    elif spans:  # the file ends exactly at a cut: the last range runs to the end
        last = spans.pop()
        spans.append(Span(source.name, last.start, None, last.first_line, regular=source.regular))
    return spans if len(spans) > 1 else [Span(source.name, regular=source.regular)]


def _parquet_splits(source: Source, target: int) -> list[Span]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bytepatch.io.fs import open_input

    try:
        with open_input(source.path, source.regular) as f:
            meta = pq.ParquetFile(f).metadata
    except (OSError, pa.ArrowException) as exc:
        raise InputError(source.path, f"not a readable Parquet file: {exc}") from exc
    spans: list[Span] = []
    start, first_row, size, row = 0, 0, 0, 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        size += group.total_byte_size
        row += group.num_rows
        if size >= target and g + 1 < meta.num_row_groups:
            spans.append(Span(source.name, start, g + 1, 1, first_row, regular=source.regular))
            start, first_row, size = g + 1, row, 0
    if not spans:
        return [Span(source.name, regular=source.regular)]
    return spans + [Span(source.name, start, None, 1, first_row, regular=source.regular)]
