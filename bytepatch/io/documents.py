"""A document as read from the corpus: its traceable id and its exact bytes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Document:
    id: str  # file, file:line, file#row, or the input's own id field
    data: bytes  # exactly as read (UTF-8 for JSON text; raw bytes for text files)


@dataclass(frozen=True)
class ReaderConfig:
    """How inputs become documents."""

    text_field: str = "text"  # JSONL field / Parquet-Arrow column holding the document
    id_field: str | None = None  # field/column to use as the document id
    doc_per_line: bool = False  # plain text: one document per line instead of per file
    input_format: str = "auto"  # auto (by suffix) | text | jsonl | parquet | arrow

    def __post_init__(self) -> None:
        if self.input_format not in FORMATS:
            raise ValueError(f"input_format must be one of {FORMATS}, got {self.input_format!r}")


FORMATS = ("auto", "text", "jsonl", "parquet", "arrow")
