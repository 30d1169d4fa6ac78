"""What an interrupted run left: the journal of finished shards, and the check that a
kept shard holds exactly the documents the inputs give now.

Every shard is recorded in the journal (fsynced) with its checksums once it is written.
A resumed run keeps a shard only if it still has them, and only if its rows are the
documents just read for it: a kept shard must never stand for other input.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa

from bytepatch.dataset.files import read_arrow_table
from bytepatch.dataset.integrity import ShardError, check_rows, checksums
from bytepatch.dataset.manifest import ShardInfo
from bytepatch.dataset.schema import binary_array, string_array
from bytepatch.errors import OutputError
from bytepatch.segment.chunks import Chunk
from bytepatch.segment.layout import JobLayout


class Journal:
    """The shards this job has finished, each appended (fsynced) to a journal as it is
    done, with its checksums: a resumed run keeps a shard only if it still matches."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[ShardInfo] = []

    def append(self, info: ShardInfo, record: bool = True) -> None:
        self.entries.append(info)
        if record:
            with open(self.path, "a") as f:
                f.write(json.dumps(asdict(info)) + "\n")
                f.flush()
                os.fsync(f.fileno())


def read_journal(path: Path) -> dict[str, dict]:
    """name -> entry of each shard a previous run recorded (a torn last line is ignored)."""
    out: dict[str, dict] = {}
    if path.exists() and not path.is_file():  # reading a FIFO would block for ever
        raise OutputError(f"{path}: not a regular file, though named like this run's journal; move it away")
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return out
    for line in lines:
        try:
            entry = json.loads(line)
            out[entry["file"]] = entry
        except (ValueError, KeyError, TypeError):
            continue
    return out


def finished_shards(layout: JobLayout) -> dict[int, tuple[Path, dict]]:
    """Shards a previous (interrupted) run of this job completed, with their journal
    entries. Final names are only ever complete, but a shard is kept only if it still
    has the size and SHA-256 recorded when it was written: one damaged since (or never
    recorded, e.g. killed between rename and record) is written again."""
    journal = read_journal(layout.journal)
    finished = {}
    for path in sorted(layout.out.iterdir()):
        chunk = layout.chunk_of(path.name)
        if chunk is None:
            continue
        if not path.is_file():  # checksumming a FIFO would block for ever; a directory cannot be read
            raise OutputError(f"{path}: not a regular file, though named like a shard of this run; move it away")
        entry = journal.get(path.name)
        if entry is not None and all(entry.get(k) == v for k, v in checksums(path).items()):
            finished[chunk] = (path, entry)
        else:
            why = "does not match its recorded checksum" if entry else "was never recorded as finished"
            print(f"{path}: {why}; writing it again", file=sys.stderr)
    return finished


class KeptShard:
    """A finished shard, checked against the documents read for it now, a group (or a
    whole chunk) at a time, so it is never held beside the input whole; `info` gives its
    manifest entry once every row has been matched. Every row is validated once, when it
    is opened (its checksum was checked by `finished_shards`)."""

    def __init__(self, index: int, path: Path, recorded: dict, shard_format: str) -> None:
        self.index, self.path, self.recorded = index, path, recorded
        self.table = _read_shard(path, shard_format, ["id", "bytes", "patch_lengths"])
        try:
            _, self.n_patches = check_rows(self.table, str(path))
        except ShardError as exc:
            raise OutputError(f"{exc}; rerun with --overwrite") from None
        self.rows = 0
        self.nbytes = 0

    def check(self, documents: Chunk) -> None:
        """Refuse the shard unless its next rows are exactly these documents."""
        n = len(documents)
        rows = self.table.slice(self.rows, n)
        same = (  # compared as Arrow columns: no Python string or bytes object per row
            rows.num_rows == n
            and rows.column("id").combine_chunks().equals(string_array(documents.ids))
            and rows.column("bytes").combine_chunks().equals(binary_array(documents.data, documents.offsets))
        )
        if not same:
            self._refuse()
        self.rows += n
        self.nbytes += documents.nbytes

    def info(self) -> ShardInfo:
        if self.rows != self.table.num_rows:
            self._refuse()
        sums = {k: self.recorded[k] for k in ("file_size", "crc32", "sha256")}
        return ShardInfo(self.index, self.path.name, self.rows, self.nbytes, self.n_patches, **sums)

    def _refuse(self) -> None:
        raise OutputError(
            f"{self.path}: holds other documents than the inputs now give; the inputs changed since the "
            "interrupted run, so rerun with --overwrite"
        )


def check_none_left(finished: dict[int, tuple[Path, dict]], seen: set[int], layout: JobLayout) -> None:
    """Every finished shard must stand for a part of the inputs read now."""
    extra = sorted(finished[i][0].name for i in set(finished) - seen)
    if extra:
        raise OutputError(
            f"{layout.out}: {', '.join(extra[:3])} match no part of the inputs any more; rerun with --overwrite"
        )


def _read_shard(path: Path, shard_format: str, columns: list[str]) -> pa.Table:
    if shard_format == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path, columns=columns)
    return read_arrow_table(path, columns)
