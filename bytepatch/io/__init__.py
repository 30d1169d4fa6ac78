"""Reading corpora: text, JSONL(.gz), Parquet, Arrow, directories, globs and stdin,
as a stream of `Document(id, data)`; bad input raises `InputError` naming file and line."""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

from bytepatch.io.columnar import read_arrow, read_parquet
from bytepatch.io.documents import FORMATS, Document, ReaderConfig
from bytepatch.io.errors import InputError
from bytepatch.io.sources import STDIN, detect_format, expand_inputs
from bytepatch.io.text import read_jsonl, read_text

READERS: dict[str, Callable[[str, ReaderConfig], Iterator[Document]]] = {
    "text": read_text,
    "jsonl": read_jsonl,
    "parquet": read_parquet,
    "arrow": read_arrow,
}


def read_source(path: str, cfg: ReaderConfig) -> Iterator[Document]:
    """The documents of one source (a file or `-`)."""
    fmt = detect_format(path, cfg.input_format)
    if path == STDIN and fmt in ("parquet", "arrow"):
        raise InputError("<stdin>", f"{fmt} cannot be read from stdin; pass a file")
    return READERS[fmt](path, cfg)


def iter_documents(
    inputs: Sequence[str],
    text_field: str = "text",
    id_field: str | None = None,
    doc_per_line: bool = False,
    input_format: str = "auto",
) -> Iterator[Document]:
    """Every document of every input, in a deterministic order."""
    cfg = ReaderConfig(text_field, id_field, doc_per_line, input_format)
    for path in expand_inputs(inputs):
        yield from read_source(path, cfg)


__all__ = [
    "FORMATS",
    "STDIN",
    "Document",
    "InputError",
    "ReaderConfig",
    "detect_format",
    "expand_inputs",
    "iter_documents",
    "read_source",
]
