"""Parquet and Arrow IPC readers, streaming record batches so memory stays bounded.

The text column may be string or binary (binary is kept as is). Nulls are errors
naming the row: a null is not an empty document, and guessing would corrupt data. An
id column (`--id-field`) may be string, binary or integer; a binary id must be UTF-8.
"""

from __future__ import annotations

from typing import Generator, Iterator

import pyarrow as pa

from bytepatch.io.documents import Document, ReaderConfig, Span
from bytepatch.io.errors import InputError
from bytepatch.io.fs import open_arrow_file
from bytepatch.io.sources import Note, note_to_stderr
from bytepatch.redact import redacted

BATCH_ROWS = 1024
# The view types (pyarrow >= 16) are what polars writes by default (`write_ipc`); they read like the others.
VIEW_TYPES = tuple(make() for make in (getattr(pa, "string_view", None), getattr(pa, "binary_view", None)) if make)
TEXT_TYPES = (pa.string(), pa.large_string(), pa.binary(), pa.large_binary()) + VIEW_TYPES


def read_parquet(path: str, cfg: ReaderConfig, span: Span | None = None) -> Iterator[Document]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(open_arrow_file(path, span is not None and span.regular))
        schema = pf.schema_arrow
    except (OSError, pa.ArrowException) as exc:
        raise InputError(path, f"not a readable Parquet file: {exc}") from exc
    columns = _columns(path, schema, cfg)
    if span is None or span.whole:
        batches = lambda: pf.iter_batches(batch_size=BATCH_ROWS, columns=columns)  # noqa: E731
        yield from _documents(path, cfg, batches, span)
        return
    groups = list(range(span.start, span.end if span.end is not None else pf.num_row_groups))
    batches = lambda: pf.iter_batches(batch_size=BATCH_ROWS, columns=columns, row_groups=groups)  # noqa: E731
    yield from _documents(path, cfg, batches, span)


def read_arrow(
    path: str, cfg: ReaderConfig, span: Span | None = None, note: Note = note_to_stderr
) -> Iterator[Document]:
    """The documents of an Arrow IPC file or stream; `note` gets the warning about a stream
    that may be truncated (None: not said)."""
    try:
        source = open_arrow_file(path, span is not None and span.regular)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(path, f"cannot open: {exc}") from exc
    try:
        reader = pa.ipc.open_file(source)
        schema = reader.schema
        batches = lambda: (reader.get_batch(i) for i in range(reader.num_record_batches))  # noqa: E731
    except (OSError, pa.ArrowException) as file_exc:  # not the file format (or a damaged footer): try the stream format
        try:
            source.seek(0)
            if source.read(len(_FILE_MAGIC)) == _FILE_MAGIC:
                # The file format's magic, but no footer: the stream reader would take the
                # magic for a message length ("Expected to read 1330795073 metadata bytes").
                raise InputError(
                    path,
                    "an Arrow IPC file without a readable footer (its writer puts it last: the file "
                    f"was cut short, or is still being written): {file_exc}",
                ) from file_exc
            source.seek(0)
            stream = pa.ipc.open_stream(source)
        except (OSError, pa.ArrowException) as exc:
            raise InputError(path, f"not a readable Arrow IPC file or stream: {exc}") from exc
        schema = stream.schema
        batches = lambda: iter(stream)  # noqa: E731
        _columns(path, schema, cfg)
        rows = yield from _documents(path, cfg, batches, span)
        if note is not None and not _ends_a_stream(source):
            # Valid by the format, but every writer we know ends its streams with the marker:
            # without it the file was most likely cut between two batches.
            note(
                f"warning: {redacted(path)}: the Arrow IPC stream has no end-of-stream marker: it may be truncated "
                f"(read {rows:,} rows)"
            )
        return
    _columns(path, schema, cfg)
    yield from _documents(path, cfg, batches, span)


_FILE_MAGIC = b"ARROW1"  # how an Arrow IPC file starts (and ends); a stream never starts so
# The end-of-stream marker: continuation, then a length of 0. (A legacy-framed stream
# ends with the 4 zero bytes alone: a batch's zero padding ends so too, so they count
# only where the framing is legacy.)
_STREAM_END = b"\xff\xff\xff\xff\x00\x00\x00\x00"


def _ends_a_stream(source) -> bool:
    """Whether the IPC stream in `source` ends with the end-of-stream marker. A stream in
    the legacy framing (messages without the 0xFFFFFFFF continuation: Arrow < 0.15, or
    `use_legacy_format`, as for Spark 2) ends with 4 zero bytes instead."""
    size = source.size()
    if size < 4:
        return False
    if source.read_at(4, 0) != _STREAM_END[:4]:  # legacy framing
        return source.read_at(4, size - 4) == b"\x00\x00\x00\x00"
    return size >= len(_STREAM_END) and source.read_at(len(_STREAM_END), size - len(_STREAM_END)) == _STREAM_END


def _columns(path: str, schema: pa.Schema, cfg: ReaderConfig) -> list[str]:
    try:
        names = schema.names
    except UnicodeDecodeError as exc:  # a damaged schema: Arrow checks no field name's UTF-8
        raise InputError(path, f"a column name is not valid UTF-8 (a damaged file?): {exc}") from None
    wanted = [cfg.text_field] + ([cfg.id_field] if cfg.id_field else [])
    for col in wanted:
        if col not in names:
            raise InputError(path, f"missing column {col!r} (columns: {', '.join(names[:10])})")
        if names.count(col) > 1:  # which one is the text? Arrow allows the duplicate; we do not guess
            raise InputError(path, f"column {col!r} appears {names.count(col)} times; rename all but one")
    kind = schema.field(cfg.text_field).type
    if pa.types.is_dictionary(kind):  # e.g. pandas categoricals: decoded batch by batch
        kind = kind.value_type
    if kind not in TEXT_TYPES:
        raise InputError(path, f"column {cfg.text_field!r} has type {kind}, not string or binary")
    return wanted


def _documents(path: str, cfg: ReaderConfig, batches, span: Span | None = None) -> Generator[Document, None, int]:
    """The documents of the batches, in order; returns how many rows were read."""
    import pyarrow.compute as pc  # here, not at the top: its import costs ~50 ms, which JSONL and text runs skip

    name = span.name if span is not None else path
    row = span.first_row if span is not None else 0
    try:
        for batch in batches():
            # Arrow IPC has no checksums: a damaged file can hold offsets pointing anywhere or
            # invalid UTF-8. Full validation (linear, cheap next to patching) refuses those.
            try:
                batch.validate(full=True)
            except pa.ArrowInvalid:
                _refuse_invalid_utf8(path, batch, row)
                raise
            texts = _decoded(batch.column(cfg.text_field))
            ids = _decoded(batch.column(cfg.id_field)).to_pylist() if cfg.id_field else None
            if texts.null_count:
                bad = row + texts.is_null().to_pylist().index(True)
                raise InputError(path, f"column {cfg.text_field!r} is null", row=bad)
            texts = texts.cast(pa.large_binary())
            sizes = pc.binary_length(texts).to_numpy(zero_copy_only=False)
            if len(sizes) and sizes.max() > cfg.max_document_bytes:
                bad = int((sizes > cfg.max_document_bytes).argmax())
                raise InputError(
                    path,
                    f"document of {int(sizes[bad]):,} bytes is over --max-document-bytes ({cfg.max_document_bytes:,})",
                    row=row + bad,
                )
            values = texts.to_pylist()
            for i, data in enumerate(values):
                doc_id = f"{name}#{row + i}" if ids is None else _id(path, ids[i], row + i, cfg.id_field)
                yield Document(doc_id, data)
            row += len(values)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(path, f"corrupt or truncated data after row {row}: {exc}", row=row) from exc
    return row - (span.first_row if span is not None else 0)


# A string type and the binary type of its layout: the same buffers, read without the UTF-8 rule.
_AS_BINARY = {pa.string(): pa.binary(), pa.large_string(): pa.large_binary()}
if hasattr(pa, "string_view"):
    _AS_BINARY[pa.string_view()] = pa.binary_view()


def _refuse_invalid_utf8(path: str, batch: pa.RecordBatch, first_row: int) -> None:
    """Name the first row of a string column that is not UTF-8, when that is why `batch`
    failed validation: Arrow's message ("corrupt or truncated data after row R: ... at
    string index I") named the batch's first row, and I counted from there. A
    dictionary-encoded column is checked through its dictionary: the row named is the
    first that uses a bad value (the batch's first row when none of its rows does, since
    Arrow refuses a batch whose dictionary holds one). Returns (for the caller's own
    error) when the fault is another: offsets out of bounds, say."""
    for name, column in zip(batch.schema.names, batch.columns):
        encoded = pa.types.is_dictionary(column.type)
        values = column.dictionary if encoded else column
        bad = _first_invalid_utf8(values)
        if bad is None:
            continue
        index, value, start = bad
        row, where = first_row + index, "a string column holding"
        if encoded:
            import pyarrow.compute as pc  # here: only an error pays its import

            uses = pc.indices_nonzero(pc.equal(column.indices, pa.scalar(index, column.indices.type)))
            if len(uses):
                row, where = first_row + uses[0].as_py(), "a dictionary-encoded string column holding"
            else:  # Arrow refuses the whole batch for a dictionary value none of its rows uses
                row, where = first_row, "a dictionary-encoded string column whose dictionary (from this row on) holds"
        raise InputError(
            path,
            f"column {name!r} is {where} invalid UTF-8 at byte {start} "
            f"({value[:40]!r}); store such text as binary, which is read as it is",
            row=row,
        )


def _first_invalid_utf8(values: pa.Array) -> tuple[int, bytes, int] | None:
    """(index, value, byte) of the first value of a string array that is not UTF-8; None when
    every value is, or the array is not a string one, or its offsets are unsound (another fault)."""
    binary = _AS_BINARY.get(values.type)
    if binary is None:
        return None
    raw = values.view(binary)
    try:
        raw.validate(full=True)  # the offsets are sound: each value can be read as bytes
    except pa.ArrowInvalid:
        return None
    for i, value in enumerate(raw.to_pylist()):
        try:
            if value is not None:
                value.decode("utf-8")
        except UnicodeDecodeError as exc:
            return i, value, exc.start
    return None


def _decoded(column: pa.Array) -> pa.Array:
    """A dictionary-encoded column as plain values (other columns unchanged)."""
    return column.dictionary_decode() if pa.types.is_dictionary(column.type) else column


def _id(path: str, value: object, row: int, field: str | None) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, (str, int, bytes)):
        raise InputError(path, f"id column {field!r} is {value!r}, not a string or integer", row=row)
    if not isinstance(value, bytes):
        return str(value)
    try:
        # Ids are stored as UTF-8. An escaped spelling (b"\\xff" -> "\\xff") could be a real
        # id of another row, so a binary id without one is refused, as JSONL refuses a lone surrogate.
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            path,
            f"id column {field!r} is not valid UTF-8 (byte {exc.start}: {value[:40]!r}); ids are stored as UTF-8",
            row=row,
        ) from None
