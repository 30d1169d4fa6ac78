"""Every error the core library raises for a problem the user can fix (never a bug).

One hierarchy, one module: `BytepatchError` is the root, so a caller (the CLI, a
script) can catch everything that is the user's to fix in one clause and let real bugs
surface as tracebacks. Each subclass says which side of the pipeline is at fault:

    BytepatchError
    ├── InputError    a corpus file/row cannot be read (names file and line/row)
    ├── OutputError   the output directory cannot be used or written
    │   └── LockedError   another live run holds the output directory's lock
    ├── ConfigError   a JSON record or config with unknown, missing or bad keys (also a ValueError)
    │   └── PatcherOptionError   patcher options that do not go together (the CLI: a usage error)
    └── ShardError    a dataset shard is missing, truncated or unreadable (also a ValueError)

`ConfigError` and `ShardError` are also `ValueError`s because callers written before this
module caught them as such. The model layer (`bytepatch.models.errors`) and the CLI
(`bytepatch.cli.errors`) build on this root.
"""

from __future__ import annotations

from bytepatch.redact import redacted


class BytepatchError(Exception):
    """A problem the user can fix: bad input, a bad setting, an unusable output."""


class InputError(BytepatchError):
    """A problem with the user's input that stops the run.

    It always names the file and, where known, the line (text/JSONL, 1-based) or row
    (Parquet/Arrow, 0-based). A URI's secrets are hidden (`bytepatch.redact`), in the
    fields too: a caller may show them.
    """

    def __init__(self, source: str, reason: str, line: int | None = None, row: int | None = None) -> None:
        source, reason = redacted(source), redacted(reason)
        self.source, self.reason, self.line, self.row = source, reason, line, row
        where = source
        if line is not None:
            where += f":{line}"
        if row is not None:
            where += f" (row {row})"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self) -> tuple:
        # Pickled from a worker process to the parent: rebuilt from the fields, since
        # Exception's default would call __init__ with the message alone.
        return (type(self), (self.source, self.reason, self.line, self.row))


class OutputError(BytepatchError):
    """The output directory cannot be used as asked, or writing to it failed."""


class LockedError(OutputError):
    """The directory is locked by another live run (or cannot be locked at all)."""


class ConfigError(BytepatchError, ValueError):
    """A config or metadata record with unknown or missing keys, or a value of the wrong kind."""


class PatcherOptionError(ConfigError):
    """Patcher options that do not go together (the CLI shows it as a usage error)."""


class ShardError(BytepatchError, ValueError):
    """A shard listed in the manifest is missing, truncated or otherwise unreadable."""
