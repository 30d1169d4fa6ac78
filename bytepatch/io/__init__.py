"""Reading corpora: text, JSONL(.gz), Parquet, Arrow, directories, globs and stdin,
as a stream of `Document(id, data)`; bad input raises `InputError` naming file and line."""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

from bytepatch.io.columnar import read_arrow, read_parquet
from bytepatch.io.documents import DEFAULT_MAX_DOCUMENT_BYTES, FORMATS, Document, ReaderConfig, Span
from bytepatch.io.errors import InputError
from bytepatch.io.sources import STDIN, Note, Source, detect_format, expand_inputs, expand_sources, note_to_stderr
from bytepatch.io.text import read_jsonl, read_text

READERS: dict[str, Callable[[str, ReaderConfig, Span | None], Iterator[Document]]] = {
    "text": read_text,
    "jsonl": read_jsonl,
    "parquet": read_parquet,
    "arrow": read_arrow,
}


def read_source(
    path: str, cfg: ReaderConfig, span: Span | None = None, fmt: str | None = None, note: Note = note_to_stderr
) -> Iterator[Document]:
    """The documents of one source (a file or `-`), or of the part of it `span` names;
    ids start with `span.name` (default: the path as given). `fmt`: its format, when the
    caller has detected it already. `note`: where warnings about the input go (None: not said)."""
    fmt = fmt or detect_format(path, cfg.input_format)
    if path == STDIN and fmt in ("parquet", "arrow"):
        raise InputError("<stdin>", f"{fmt} cannot be read from stdin; pass a file")
    if fmt == "arrow":  # the one reader with a warning: a stream that may be truncated
        return read_arrow(path, cfg, span, note)
    return READERS[fmt](path, cfg, span)


def iter_documents(
    inputs: Sequence[str],
    text_field: str = "text",
    id_field: str | None = None,
    doc_per_line: bool = False,
    input_format: str = "auto",
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
) -> Iterator[Document]:
    """Every document of every input, in a deterministic order."""
    cfg = ReaderConfig(text_field, id_field, doc_per_line, input_format, max_document_bytes)
    return read_inputs(inputs, cfg)


def read_inputs(inputs: Sequence[str], cfg: ReaderConfig) -> Iterator[Document]:
    """`iter_documents` for a `ReaderConfig` already made."""
    for source in expand_sources(inputs):
        yield from read_source(source.path, cfg, Span(source.name, regular=source.regular))


__all__ = [
    "FORMATS",
    "STDIN",
    "Document",
    "InputError",
    "ReaderConfig",
    "Source",
    "Span",
    "detect_format",
    "expand_inputs",
    "expand_sources",
    "iter_documents",
    "read_inputs",
    "read_source",
]
