"""Plain-text and JSONL readers. Bytes are never decoded lossily: text files are kept
as the raw bytes they are; JSONL strings (which JSON defines as Unicode) are re-encoded
as UTF-8, and anything that cannot be is an error naming the line."""

from __future__ import annotations

import gzip
import io
import os
import stat
import json
import sys
import zlib
from contextlib import contextmanager
from typing import IO, Iterator

from bytepatch.io.documents import Document, FileDocument, ReaderConfig, Span
from bytepatch.io.errors import InputError
from bytepatch.io.fs import OPEN_LISTED, is_uri, no_longer_regular, open_input, open_listed, without_query
from bytepatch.io.sniff import HEAD_BYTES, binary_kind, check_text, encoding_advice, foreign_encoding
from bytepatch.io.sources import STDIN


@contextmanager
def open_binary(path: str, regular: bool = False) -> Iterator[IO[bytes]]:
    """The file (or stdin) as a binary stream, transparently gunzipped for `.gz` names
    (`regular`: the listing found a regular file, see `fs.open_listed`)."""
    if path == STDIN:
        yield sys.stdin.buffer
        return
    try:
        raw = open_input(path, regular)  # a local file, or a URI through pyarrow.fs
    except OSError as exc:
        raise InputError(path, f"cannot open: {exc.strerror or exc}") from exc
    with raw:
        if without_query(path).lower().endswith(".gz"):  # (a URI's query holds options, not a suffix)
            if not is_uri(path) and _empty_regular_file(raw):  # gzip reads it as empty, silently
                raise InputError(path, "empty file, not a gzip stream (an interrupted download?)")
            with gzip.GzipFile(fileobj=raw) as gz:
                yield gz
        else:
            yield raw


def _empty_regular_file(f: IO[bytes]) -> bool:
    """An open regular file of 0 bytes (a FIFO also has size 0, and may be read)."""
    st = os.fstat(f.fileno())
    return stat.S_ISREG(st.st_mode) and st.st_size == 0


def _display(path: str) -> str:
    return "<stdin>" if path == STDIN else path


def read_text(path: str, cfg: ReaderConfig, span: Span | None = None) -> Iterator[Document]:
    """A whole file as one document, or (doc_per_line) each line without its newline."""
    where = _display(path)
    name = span.name if span is not None else where
    sniff = cfg.input_format == "auto"  # a guessed format: say so if the bytes are not text
    regular = span is not None and span.regular
    if not cfg.doc_per_line and path != STDIN and not is_uri(path) and not path.lower().endswith(".gz"):
        data = _read_plain_file(path, cfg.max_document_bytes, regular)
        if data is not None:
            if sniff:
                check_text(where, data)
            yield Document(name, data)
            return
    lineno = None
    try:
        with open_binary(path, regular) as f:
            if not cfg.doc_per_line:
                data = _read_whole(f, cfg.max_document_bytes, where)
                if sniff:
                    check_text(where, data)
                yield Document(name, data)
                return
            lineno = span.first_line - 1 if span is not None else 0
            head = bytearray() if sniff and lineno == 0 else None  # the file's first bytes, over its first lines
            for lineno, line in _lines(f, span, cfg.max_document_bytes + 1, where):
                if head is not None:
                    head += line[: HEAD_BYTES - len(head)]
                    if len(head) == HEAD_BYTES:
                        check_text(where, head)
                        head = None
                yield Document(f"{name}:{lineno}", line[:-1] if line.endswith(b"\n") else line)
            if head is not None:
                check_text(where, head)
    except (OSError, EOFError, zlib.error) as exc:
        if lineno is None:
            raise InputError(where, f"cannot read: {exc}") from exc
        raise InputError(where, f"cannot read after line {lineno}: {exc}", line=lineno + 1) from exc


def read_jsonl(path: str, cfg: ReaderConfig, span: Span | None = None) -> Iterator[Document]:
    """One document per JSON object line. Blank lines (JSON whitespace only) are not
    documents and are skipped."""
    where = _display(path)
    name = span.name if span is not None else where
    lineno = span.first_line - 1 if span is not None else 0
    started = span is not None and span.first_line > 1  # a later part of the file: not its start
    try:
        with open_binary(path, span is not None and span.regular) as f:
            # JSON escapes make a line longer than its text, up to 6 bytes per byte (a control
            # character as \u00XX); the line may hold other fields too. The text is checked after.
            limit = JSON_ESCAPE * cfg.max_document_bytes + JSON_SLACK
            for lineno, line in _lines(f, span, limit, where):
                if not line.strip(JSON_WHITESPACE):
                    continue
                yield _parse_json_line(line, where, lineno, cfg, name)
                started = True
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(where, f"cannot read after line {lineno}: {exc}", line=lineno + 1) from exc
    except InputError as exc:
        # Only the first line that holds anything tells a whole JSON document (pretty-printed,
        # an array, one object without the text field) from JSON Lines; a later bad line is a
        # bad line. A .json name is taken for JSON Lines (as `datasets` does).
        if started or cfg.input_format != "auto" or not without_query(where).lower().endswith((".json", ".json.gz")):
            raise
        if exc.reason.startswith(("malformed JSON", "expected a JSON object")):
            hint = (
                " (a .json file is read as JSON Lines, one object per line; to take JSON documents as text, "
                "pass them with --input-format text, or leave them out)"
            )
        elif exc.reason.startswith("missing field"):
            hint = " (a .json file is read as JSON Lines: --text-field names the field; a JSON document is not one)"
        else:
            raise
        raise InputError(exc.source, exc.reason + hint, exc.line, exc.row) from exc


JSON_ESCAPE = 6  # the most bytes of JSON one byte of text can take
JSON_SLACK = 1 << 20  # room for a line's other fields
# JSON's whitespace (RFC 8259): a line of only these is blank. Not bytes.strip()'s set, which
# adds vertical tab and form feed: json.loads refuses those, so such a line is malformed.
JSON_WHITESPACE = b" \t\n\r"
READ_BLOCK = 1 << 24


def _read_plain_file(path: str, cap: int, regular: bool = False) -> bytes | None:
    """A local regular file's bytes with a few bare system calls (stat, open, one read,
    close), or None when anything is unusual (an error, not a regular file, over `cap`, a
    read that does not end exactly at the size stat gave: the file changed, or a read
    over 2 GB came back short); the general path then reads the file again and reports
    what it finds. A directory of small files costs its per-file overhead: this path
    takes half of the buffered one's (~9 against ~18 us a file). `segment` lists such
    files and reads them with `read_file_into` instead; this serves the other readers
    (`iter_documents`, the Ray engine, calibration samples). The type is checked before
    opening: a FIFO opened and closed unread could lose what a writer had already put
    in it. `regular` (the listing found a regular file): a FIFO in its place since is an
    InputError (`fs.open_listed`), as is one met here between the stat and the open."""
    try:
        st = os.stat(path)
        if (not stat.S_ISREG(st.st_mode) and not regular) or st.st_size > cap:
            return None  # e.g. a FIFO named as an input: the general path reads it as a pipe
        fd = open_listed(path, True)  # a regular file a moment ago: refused, not waited on, if no longer one
    except OSError:
        return None
    try:
        data = os.read(fd, st.st_size + 1)  # +1: a file that grew is seen, not cut
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) == st.st_size else None


RECHECK_AFTER_READ_BYTES = 1 << 20  # from here a whole file's mtime is compared after its read too


def read_file_into(doc: FileDocument, out: memoryview) -> None:
    """Read the file `doc` names straight into `out` (`doc.size` bytes): no bytes object
    per file, no copy. A file that cannot be read, or that no longer has the size it was
    listed with, is an InputError naming it: the documents around it were already placed
    by that size. So is one of that size modified since (its mtime, when listed with one:
    when opened, and after the read of a file of RECHECK_AFTER_READ_BYTES or more): a file
    rewritten in place would give other bytes than the run state records, as
    `segment.reading.check_unchanged` refuses for the other formats."""
    extra = bytearray(1)  # a file that grew is seen, not cut
    got = 0
    modified = False
    try:
        # Listed as a regular file: a FIFO put in its place since is refused, not waited on
        # (`fs.open_listed`, inlined: this runs once per file of a directory of small files).
        fd = os.open(doc.path, OPEN_LISTED)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise InputError(doc.path, no_longer_regular(st.st_mode))
            # Modified since the listing: this fstat (made for the type anyway) says so. Only a
            # file whose read takes a while is asked again after it: a second fstat per file
            # cost 10-15% of reading a directory of small files, for a window of microseconds.
            modified = doc.mtime_ns is not None and st.st_mtime_ns != doc.mtime_ns
            while True:  # one read, unless over ~2 GB (Linux reads at most that at once)
                n = os.readv(fd, [out[got:], extra])
                got += n
                if n == 0 or got >= doc.size:
                    break
            if doc.mtime_ns is not None and not modified and doc.size >= RECHECK_AFTER_READ_BYTES:
                modified = os.fstat(fd).st_mtime_ns != doc.mtime_ns
        finally:
            os.close(fd)
    except OSError as exc:
        raise InputError(doc.path, f"cannot read: {exc.strerror or exc}") from exc
    if got != doc.size or modified:
        now = (
            "now more" if got > doc.size else f"now {got:,}" if got != doc.size else "the same size, but modified since"
        )
        raise InputError(
            doc.path, f"changed while being read: listed at {doc.size:,} bytes, {now}; rerun on files at rest"
        )


def _read_whole(f: IO[bytes], cap: int, where: str) -> bytes | bytearray:
    """The rest of the stream, refusing more than `cap` bytes before holding them: a
    plain file by its size (then read in one allocation), a compressed file or a pipe
    block by block into one growing buffer (never a second copy)."""
    over = f"document is over --max-document-bytes ({cap:,})"
    buf = bytearray()
    if not isinstance(f, gzip.GzipFile):
        try:
            st = os.fstat(f.fileno())
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            st = None
        if st is not None and stat.S_ISREG(st.st_mode):
            if st.st_size > cap:
                raise InputError(where, f"document of {st.st_size:,} bytes is over --max-document-bytes ({cap:,})")
            # Ask for the size we know (+1 to see growth): read(cap + 1) would allocate cap
            # bytes first, and mapping and unmapping that per file costs 3x the read.
            data = f.read(st.st_size + 1)
            if len(data) <= st.st_size:
                return data
            if len(data) > cap:  # grew while we read
                raise InputError(where, over)
            buf += data  # grew, but may still fit: read on below
    while block := f.read(min(READ_BLOCK, cap + 1 - len(buf))):
        buf += block
        if len(buf) > cap:
            raise InputError(where, over + (" after decompression" if isinstance(f, gzip.GzipFile) else ""))
    return buf


def _lines(f: IO[bytes], span: Span | None, limit: int, where: str) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of the whole stream, or of the span's byte range (which starts
    and ends at line starts). A line is read at most `limit` bytes at a time: a longer
    one is an error naming it, never a whole line (or file) held in memory."""
    first = 1
    pos, end = 0, float("inf")
    if span is not None and not span.whole:
        f.seek(span.start)
        first, pos = span.first_line, span.start
        end = span.end if span.end is not None else end
    lineno = first
    while pos < end:
        line = f.readline(limit)
        if not line:
            return
        if len(line) >= limit and not line.endswith(b"\n"):
            raise InputError(
                where,
                f"no end of line within {limit:,} bytes: the line is longer than any document under "
                "--max-document-bytes can make it",
                line=lineno,
            )
        pos += len(line)
        yield lineno, line
        lineno += 1


def _parse_json_line(line: bytes, name: str, lineno: int, cfg: ReaderConfig, id_name: str | None = None) -> Document:
    try:
        # Decoded here: json.loads(bytes) would guess UTF-16 or UTF-32 from the first bytes.
        decoded = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        _check_not_binary(line, name, lineno)
        raise InputError(name, f"invalid UTF-8 at byte {exc.start} (JSON must be UTF-8)", line=lineno) from exc
    if lineno == 1 and decoded.startswith("\ufeff"):  # a byte order mark, as some editors write
        decoded = decoded[1:]
    try:
        obj = json.loads(decoded, parse_int=_parse_int)
    except RecursionError as exc:
        raise InputError(name, "malformed JSON: nested too deeply", line=lineno) from exc
    except ValueError as exc:
        _check_not_binary(line, name, lineno)
        raise InputError(name, f"malformed JSON: {exc}", line=lineno) from exc
    if not isinstance(obj, dict):
        raise InputError(name, f"expected a JSON object, got {type(obj).__name__}", line=lineno)
    if cfg.text_field not in obj:
        keys = ", ".join(sorted(obj)[:10]) or "none"
        raise InputError(name, f"missing field {cfg.text_field!r} (fields: {keys})", line=lineno)
    text = obj[cfg.text_field]
    if not isinstance(text, str) or isinstance(text, _LongInt):
        raise InputError(name, f"field {cfg.text_field!r} is {_json_type(text)}, not a string", line=lineno)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            name, f"field {cfg.text_field!r} holds a lone surrogate at char {exc.start}", line=lineno
        ) from exc
    if len(data) > cfg.max_document_bytes:
        raise InputError(
            name,
            f"document of {len(data):,} bytes is over --max-document-bytes ({cfg.max_document_bytes:,})",
            line=lineno,
        )
    return Document(_doc_id(obj, cfg, name, lineno, id_name if id_name is not None else name), data)


def _check_not_binary(line: bytes, name: str, lineno: int) -> None:
    """A first line that is no JSON, of a file whose first bytes say it is compressed or
    binary data (a `.jsonl` that is gzip, a Parquet file among JSONL files), is refused
    saying so: "invalid UTF-8 at byte 1" sent the user looking for a bad character."""
    kind = binary_kind(line) if lineno == 1 else None
    encoding = foreign_encoding(line) if lineno == 1 and kind is None else None
    if encoding is not None:
        raise InputError(
            name,
            f"{encoding_advice(encoding)}; JSON Lines must be UTF-8: convert it (iconv -f {encoding} -t UTF-8)",
            line=lineno,
        )
    if kind is not None:
        raise InputError(
            name,
            f"looks like {kind} (its first bytes), not JSON Lines; decompress or convert it, or name it "
            "for its format (x.jsonl.gz, x.parquet, x.arrow are read as such)",
            line=lineno,
        )


def _doc_id(obj: dict, cfg: ReaderConfig, name: str, lineno: int, id_name: str) -> str:
    if cfg.id_field is None:
        return f"{id_name}:{lineno}"
    if cfg.id_field not in obj:
        raise InputError(name, f"missing id field {cfg.id_field!r}", line=lineno)
    value = obj[cfg.id_field]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(
            name, f"id field {cfg.id_field!r} is {_json_type(value)}, not a string or integer", line=lineno
        )
    doc_id = str(value)
    try:
        doc_id.encode("utf-8")  # stored as UTF-8: a lone surrogate cannot be
    except UnicodeEncodeError as exc:
        raise InputError(
            name, f"id field {cfg.id_field!r} holds a lone surrogate at char {exc.start}", line=lineno
        ) from exc
    return doc_id


class _LongInt(str):
    """A JSON integer past Python's int-from-string limit (4,300 digits), kept as its
    digits: the line is valid JSON, and Arrow's reader (the fast path) takes it too."""


def _parse_int(digits: str) -> int | _LongInt:
    try:
        return int(digits)
    except ValueError:
        return _LongInt(digits)


def _json_type(value: object) -> str:
    kinds = {dict: "an object", list: "an array", bool: "a boolean", int: "a number", float: "a number"}
    return kinds.get(
        type(value), "a number" if isinstance(value, _LongInt) else "null" if value is None else "a string"
    )
