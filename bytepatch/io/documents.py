"""A document as read from the corpus: its traceable id and its exact bytes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Document:
    id: str  # file, file:line, file#row, or the input's own id field
    data: bytes  # exactly as read (UTF-8 for JSON text; raw bytes for text files)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class FileDocument:
    """A whole local regular file as one document, listed but not read yet. `segment`
    reads it straight into the buffer of the group that takes it, on the thread that
    patches that group (`segment.chunks.Chunk.data`), so the reading thread only lists
    files. `size` and `mtime_ns` are the listing's: a file that no longer has them is an
    error then (None: not compared)."""

    id: str
    path: str
    size: int
    sniff: bool = True  # its format was guessed: refuse it if its first bytes are not text (io/sniff.py)
    mtime_ns: int | None = None


DEFAULT_MAX_DOCUMENT_BYTES = 1 << 31  # 2 GiB


@dataclass(frozen=True)
class ReaderConfig:
    """How inputs become documents."""

    text_field: str = "text"  # JSONL field / Parquet-Arrow column holding the document
    id_field: str | None = None  # field/column to use as the document id
    doc_per_line: bool = False  # plain text: one document per line instead of per file
    input_format: str = "auto"  # auto (by suffix) | text | jsonl | parquet | arrow
    # One document's size cap: a gzip bomb or a runaway line stops with a clear error
    # instead of exhausting memory (a document needs about 3x its size to patch).
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES

    def __post_init__(self) -> None:
        if self.input_format not in FORMATS:
            raise ValueError(f"input_format must be one of {FORMATS}, got {self.input_format!r}")
        if (
            isinstance(self.max_document_bytes, bool)
            or not isinstance(self.max_document_bytes, int)
            or self.max_document_bytes < 1
        ):
            raise ValueError(f"--max-document-bytes must be a positive integer, got {self.max_document_bytes!r}")


@dataclass(frozen=True)
class Span:
    """Which part of one input file to read, and the name its ids start with.

    The whole file by default. A split inside a large file (`bytepatch.io.splits`) is a
    byte range starting and ending at line starts (JSONL, text with one document per
    line), with the 1-based number of its first line, or a range of Parquet row groups
    with the number of its first row, so ids are those of reading the whole file.
    """

    name: str  # id name (see `expand_sources`)
    start: int = 0  # first byte (line formats) or first row group (Parquet)
    end: int | None = None  # end byte / row group, exclusive; None: the end of the file
    first_line: int = 1  # line number at `start`
    first_row: int = 0  # row number of the first row of row group `start`
    # The listing found a local regular file (`Source.regular`): one that is no longer one
    # is refused, never opened blocking (a FIFO put in its place would hang the run).
    regular: bool = False

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.end is None


FORMATS = ("auto", "text", "jsonl", "parquet", "arrow")
