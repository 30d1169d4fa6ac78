"""The one error type for bad input: it always names the file and, where known, the
line (text/JSONL, 1-based) or row (Parquet/Arrow, 0-based)."""

from __future__ import annotations


class InputError(Exception):
    """A problem with the user's input that stops the run."""

    def __init__(self, source: str, reason: str, line: int | None = None, row: int | None = None) -> None:
        self.source, self.reason, self.line, self.row = source, reason, line, row
        where = source
        if line is not None:
            where += f":{line}"
        if row is not None:
            where += f" (row {row})"
        super().__init__(f"{where}: {reason}")
