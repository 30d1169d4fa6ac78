"""Reading a dataset back: rows or record batches, its metadata, and a small resumable
position (for training loaders). Any Arrow reader can read the shards directly too;
this class only adds the manifest's guarantees and the resume state."""

from __future__ import annotations

import bisect
import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa

from bytepatch.dataset.files import read_arrow_table
from bytepatch.dataset.integrity import ShardError, check_file, check_rows
from bytepatch.dataset.manifest import read_manifest
from bytepatch.dataset.metadata import DatasetMetadata
from bytepatch.dataset.schema import read_metadata
from bytepatch.errors import ConfigError
from bytepatch.io.fs import is_uri, shown_path


@dataclass
class DatasetRow:
    id: str
    bytes: bytes
    patch_lengths: list[int]
    entropies: list[float] | None = None


class Dataset:
    """A complete dataset directory (one with a manifest)."""

    def __init__(self, path: str | Path) -> None:
        if is_uri(str(path)):  # Path() would also fold "s3://" into "s3:/"
            raise ConfigError(not_local(str(path)))
        try:  # pyarrow opens files by UTF-8 name only: say so here, not as an encoding error
            str(path).encode("utf-8")
        except UnicodeEncodeError:
            if not Path(path).exists():
                raise FileNotFoundError(f"{shown_path(path)}: no such directory") from None
            raise ConfigError(
                f"{shown_path(path)}: the path is not valid UTF-8 (pyarrow cannot open it); rename it"
            ) from None
        self.path = Path(path)
        self.manifest = read_manifest(self.path)  # checks names, keys and totals
        try:  # read strictly once: stats, inspect and training rely on its types
            self._info = DatasetMetadata.from_dict(self.manifest["metadata"])
        except ValueError as exc:
            raise ConfigError(f"{self.path / 'manifest.json'}: metadata: {exc}") from exc
        self._position = (0, 0)  # (shard, row within shard) of the next row to yield
        # Built once: a 100k-shard dataset must not rebuild this list per shard read.
        self._shard_files = [self.path / s["file"] for s in self.manifest["shards"]]
        self._row_starts: list[int] | None = None  # each shard's first row, for `ds[i]`
        self._last_shard: tuple[int, pa.Table] | None = None  # the shard `ds[i]` read last

    def __len__(self) -> int:
        return self.num_rows

    def __getitem__(self, i: int) -> DatasetRow:
        """Row `i` (negative counts from the end), as iteration gives it. The shard that
        holds it is read (and checked) once and kept until a row of another is asked for,
        so walking the rows in order reads each shard once."""
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(
                f"a dataset row index is an integer, got {type(i).__name__} "
                "(for many rows: iter_batches(), read_shard(k) or to_table().slice(start, length))"
            )
        n = self.num_rows
        if not -n <= i < n:
            raise IndexError(f"row {i} out of range for dataset {self.path} of {n:,} rows")
        i = int(i) % n
        if self._row_starts is None:
            starts, total = [], 0
            for entry in self.manifest["shards"]:
                starts.append(total)
                total += entry["documents"]
            self._row_starts = starts
        shard = bisect.bisect_right(self._row_starts, i) - 1
        cached = self._last_shard
        if cached is None or cached[0] != shard:
            cached = self._last_shard = (shard, self.read_shard(shard))
        record = cached[1].slice(i - self._row_starts[shard], 1).to_pylist()[0]
        return DatasetRow(**record)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_last_shard": None}  # a worker reads the shard it needs itself

    def __repr__(self) -> str:
        patcher = self.metadata.get("patcher", {}).get("patcher")
        return (
            f"Dataset({str(self.path)!r}, rows={self.num_rows:,}, shards={len(self._shard_files)}, patcher={patcher!r})"
        )

    @property
    def metadata(self) -> dict[str, Any]:
        """How the dataset was made, as the JSON object the manifest holds (see `info`)."""
        return self.manifest["metadata"]

    @property
    def info(self) -> DatasetMetadata:
        """`metadata`, typed (read strictly when the dataset was opened: a ConfigError
        named an unknown or missing key, or a value of the wrong type)."""
        return self._info

    @property
    def num_rows(self) -> int:
        return self.manifest["documents"]

    @property
    def shard_files(self) -> list[Path]:
        return self._shard_files

    def read_shard(self, index: int) -> pa.Table:
        """Shard `index` as a table (Arrow IPC memory-mapped, zero-copy); a missing or
        damaged shard raises ShardError (a ValueError) naming its path, and so does one
        whose checksum, rows or counts disagree with the manifest (row named)."""
        n = len(self._shard_files)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"a shard index is an integer, got {type(index).__name__}")
        if not -n <= index < n:  # was the list's bare "list index out of range"
            raise IndexError(f"shard {index} out of range: dataset {self.path} has {n} shards")
        path = self._shard_files[index]
        entry = self.manifest["shards"][index]
        check_file(path, entry)
        try:
            if self.manifest["shard_format"] == "parquet":
                import pyarrow.parquet as pq

                table = pq.read_table(path)
            else:
                table = read_arrow_table(path)
        except (OSError, pa.ArrowException) as exc:
            raise ShardError(f"{path}: cannot read shard {index} of dataset {self.path} ({exc})") from exc
        n_bytes, n_patches = check_rows(table, str(path))
        if tuple(table.schema.names) != self._info.columns:
            raise ShardError(
                f"{path}: holds the columns {table.schema.names}, but the manifest lists {list(self._info.columns)}"
            )
        try:  # a shard alone says how its rows were made: the same as the manifest
            own = read_metadata(table.schema)
        except ValueError:  # none, or not JSON
            own = None
        if own != self.metadata:
            raise ShardError(f"{path}: its own metadata (how its rows were made) differs from the manifest's")
        for what, got in (("documents", table.num_rows), ("bytes", n_bytes), ("patches", n_patches)):
            if got != entry[what]:
                raise ShardError(f"{path}: holds {got:,} {what}, but the manifest lists {entry[what]:,}")
        return table

    def iter_batches(self, batch_rows: int = 1024) -> Iterator[pa.RecordBatch]:
        """Record batches from the current position on; the position advances as they go.
        A pass begun where the last one finished (every row read) starts over at the first
        row, as a data loader's next epoch does: it yielded nothing, so a second
        `for row in ds` or `list(ds)` silently saw an empty dataset."""
        if isinstance(batch_rows, bool) or not isinstance(batch_rows, (int, np.integer)):
            # 2.5 failed deep in pyarrow's slice ("'float' object cannot be interpreted as an integer")
            raise TypeError(f"batch_rows must be an integer, got {batch_rows!r}")
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
        if self._rows_left() == 0:
            self._position = (0, 0)
        shard, row = self._position
        while shard < len(self.shard_files):
            table = self.read_shard(shard)
            while row < table.num_rows:
                batch = table.slice(row, batch_rows).combine_chunks().to_batches()
                row += min(batch_rows, table.num_rows - row)
                self._position = (shard, row)
                yield from batch
            shard, row = shard + 1, 0
            self._position = (shard, row)

    def _rows_left(self) -> int:
        """Rows from the current position to the end of the dataset."""
        shard, row = self._position
        counts = [s["documents"] for s in self.manifest["shards"][shard:]]
        return sum(counts[1:]) + max(counts[0] - row, 0) if counts else 0

    def __iter__(self) -> Iterator[DatasetRow]:
        """Rows from the current position on (from the first row again once a pass has
        read them all); the position advances row by row, so a `state_dict` taken between
        rows resumes at the next one."""
        for batch in self.iter_batches():
            shard, end = self._position  # iter_batches has moved past the whole batch
            for row, record in enumerate(batch.to_pylist(), start=end - batch.num_rows + 1):
                self._position = (shard, row)
                yield DatasetRow(**record)

    def to_table(self) -> pa.Table:
        if not self.shard_files:  # a dataset of no documents: its columns, no rows
            from bytepatch.dataset.schema import dataset_schema

            return dataset_schema("entropies" in self._info.columns, self.metadata).empty_table()
        return pa.concat_tables(self.read_shard(i) for i in range(len(self.shard_files)))

    def state_dict(self) -> dict[str, int]:
        """Where iteration stands; `load_state_dict` continues from exactly there."""
        return {"shard": self._position[0], "row": self._position[1]}

    def load_state_dict(self, state: dict[str, int]) -> None:
        try:
            # operator.index: int() took 2.7 as row 2 and "3" as shard 3, silently
            shard, row = operator.index(state["shard"]), operator.index(state["row"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{self.path}: not a dataset position: {state!r}") from exc
        if not 0 <= shard <= len(self.shard_files) or row < 0:
            raise ValueError(f"{self.path}: position {state!r} is outside the dataset's {len(self.shard_files)} shards")
        rows = self.manifest["shards"][shard]["documents"] if shard < len(self.shard_files) else 0
        if row > rows:  # was taken, and the rest of the shard skipped without a word
            raise ValueError(f"{self.path}: position {state!r} is past the {rows:,} rows of shard {shard}")
        self._position = (shard, row)


def not_local(uri: str) -> str:
    """The error for a dataset given as a URI: datasets are read from local directories."""
    return (
        f"{uri}: datasets are read from a local directory, not from object storage; copy it "
        "first with the storage's own tool (`aws s3 cp --recursive`, `gcloud storage cp -r`, "
        "`huggingface-cli download`), then give that directory"
    )


def open_dataset(path: str | Path) -> Dataset:
    """Open a dataset written by `bytepatch segment`."""
    return Dataset(path)
