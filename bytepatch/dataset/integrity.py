"""Integrity checks of a dataset: file names, checksums, row invariants, manifest totals.

Two levels, so the common path stays cheap:

- on every read (`Dataset.read_shard`): the shard's size and CRC-32 against the
  manifest (CRC-32 runs at memory speed; a shard is read whole anyway), and every row's
  invariants (patch lengths >= 1 summing to the document's bytes; one entropy per byte);
- `bytepatch verify`: the same plus each shard's SHA-256 and the manifest totals
  recomputed from the rows.

A damaged dataset is refused naming the shard and row, never read as other data.
"""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa

from bytepatch.dataset.schema import dataset_schema
from bytepatch.errors import ShardError

READ_BLOCK = 1 << 22
_SCHEMA = dataset_schema(True, {})  # every column a shard may hold, with its type


class Checksums:
    """Size, CRC-32 and SHA-256 of bytes given in order: a file's, as it is written."""

    def __init__(self) -> None:
        self.crc, self.sha, self.size = 0, hashlib.sha256(), 0

    def update(self, block: bytes | memoryview | pa.Buffer) -> None:
        self.crc = zlib.crc32(block, self.crc)
        self.sha.update(block)
        self.size += len(block)

    def result(self) -> dict[str, object]:
        return {"file_size": self.size, "crc32": f"{self.crc:08x}", "sha256": self.sha.hexdigest()}


def checksums(path: Path) -> dict[str, object]:
    """Size, CRC-32 and SHA-256 of a file, in one pass."""
    sums = Checksums()
    with open(path, "rb") as f:
        while block := f.read(READ_BLOCK):
            sums.update(block)
    return sums.result()


def check_plain_name(name: object, where: str) -> str:
    """A manifest's file entry must name a file inside the dataset directory, nothing else."""
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\0" in name
        or name.startswith(".")
    ):
        raise ValueError(f"{where}: {name!r} is not a plain file name inside the dataset directory")
    return name


def check_file(path: Path, entry: dict, full: bool = False) -> None:
    """The file at `path` against its manifest entry: size and CRC-32, or (full) SHA-256.

    Entries written before checksums existed carry only a size; that is all they get."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ShardError(f"{path}: cannot read shard ({exc.strerror or exc})") from exc
    if entry.get("file_size") is not None and size != entry["file_size"]:
        raise ShardError(
            f"{path}: {size:,} bytes, but the manifest records {entry['file_size']:,} (truncated or replaced)"
        )
    want_crc, want_sha = entry.get("crc32"), entry.get("sha256")
    if not want_crc and not (full and want_sha):
        return
    crc, sha = 0, hashlib.sha256() if full and want_sha else None
    with open(path, "rb") as f:
        while block := f.read(READ_BLOCK):
            crc = zlib.crc32(block, crc)
            if sha is not None:
                sha.update(block)
    if want_crc and f"{crc:08x}" != want_crc:
        raise ShardError(f"{path}: checksum mismatch (crc32 {crc:08x}, manifest {want_crc}); the file is damaged")
    if sha is not None and sha.hexdigest() != want_sha:
        raise ShardError(f"{path}: checksum mismatch (sha256 differs from the manifest); the file is damaged")


def check_rows(table: pa.Table | pa.RecordBatch, where: str, first_row: int = 0) -> tuple[int, int]:
    """Every row's invariants: patch lengths >= 1 summing to the document's byte count
    (an empty document has none); entropies, when stored, one per byte and finite.
    Returns the (bytes, patches) totals of the rows."""
    check_columns(table.schema, where)
    try:  # offsets inside the buffers, non-decreasing; ids UTF-8 (tens of microseconds a shard)
        table.validate(full=True)
    except pa.ArrowInvalid as exc:
        raise ShardError(f"{where}: not a valid Arrow table ({exc})") from exc
    names = table.schema.names
    n_bytes = _value_lengths(table.column("bytes"))
    lengths = table.column("patch_lengths")
    if _has_nulls(table, ("id", "bytes", "patch_lengths")):
        bad = next(i for c in ("id", "bytes", "patch_lengths") for i, v in enumerate(_nulls(table.column(c))) if v)
        raise ShardError(f"{where} row {first_row + bad}: null value")
    for col in ("patch_lengths", "entropies"):
        row = _first_null_item(table.column(col)) if col in names else None
        if row is not None:
            raise ShardError(f"{where} row {first_row + row}: null value inside {col}")
    values, offsets = _flat(lengths)
    values = values.astype(np.int64, copy=False)
    if len(values) and values.min() < 1:
        k = int(np.flatnonzero(values < 1)[0])
        row = int(np.searchsorted(offsets, k, side="right")) - 1
        raise ShardError(f"{where} row {first_row + row}: patch length {int(values[k])} (lengths must be >= 1)")
    # Row sums from a prefix sum: reduceat refuses a start equal to len(values), which a
    # shard ending in empty documents has, and gives an empty row a neighbour's value.
    prefix = np.zeros(len(values) + 1, np.int64)
    np.cumsum(values, out=prefix[1:])
    sums = prefix[offsets[1:]] - prefix[offsets[:-1]]
    bad = np.flatnonzero(sums != n_bytes)
    if len(bad):
        r = int(bad[0])
        raise ShardError(
            f"{where} row {first_row + r}: patch lengths sum to {int(sums[r]):,}, "
            f"but the document has {int(n_bytes[r]):,} bytes"
        )
    if "entropies" in names:
        ent_values, ent_offsets = _flat(table.column("entropies"))
        bad = np.flatnonzero(np.diff(ent_offsets) != n_bytes)
        if len(bad):
            raise ShardError(f"{where} row {first_row + int(bad[0])}: entropies do not give one value per byte")
        ent = ent_values.astype(np.float32)
        bad_ent = ~np.isfinite(ent) | (ent < 0)  # an entropy is >= 0 bits
        if bad_ent.any():
            k = int(np.flatnonzero(bad_ent)[0])
            row = int(np.searchsorted(ent_offsets, k, side="right")) - 1
            what = "is negative" if np.isfinite(ent[k]) else "is not a finite number"
            raise ShardError(f"{where} row {first_row + row}: entropy {float(ent[k])} {what}")
    return int(n_bytes.sum()), len(values)


def check_columns(schema: pa.Schema, where: str) -> None:
    """The shard's columns are the dataset schema's (docs/dataset.md), each once and of
    its type: a shard of other types can pass its checksums (they are the writer's) and
    would be read as other data, or fail halfway with an error that names nothing."""
    expected = _SCHEMA
    names = schema.names
    for col in ("id", "bytes", "patch_lengths"):
        if col not in names:
            raise ShardError(f"{where}: no column {col!r}")
    for name in names:
        if names.count(name) > 1:
            raise ShardError(f"{where}: column {name!r} appears {names.count(name)} times")
        if expected.get_field_index(name) < 0:
            raise ShardError(
                f"{where}: unexpected column {name!r} (a shard holds {', '.join(expected.names)}; the last is optional)"
            )
        got, want = schema.field(name).type, expected.field(name).type
        same = got.value_type == want.value_type if pa.types.is_list(want) and pa.types.is_list(got) else got == want
        if not same:
            raise ShardError(f"{where}: column {name!r} is {_type_name(got)}, not {_type_name(want)}")


def _type_name(kind: pa.DataType) -> str:
    return str(kind).replace("halffloat", "float16")  # Arrow's name for it; the docs say float16


def _first_null_item(column) -> int | None:
    """The row of the first null value inside a list column, if any."""
    import pyarrow.compute as pc

    base = 0
    for chunk in _chunks(column):
        items = chunk.flatten()  # the values the rows hold (a slice's own, not its buffer's)
        if items.null_count:
            k = int(np.flatnonzero(items.is_null().to_numpy(zero_copy_only=False))[0])
            return base + int(pc.list_parent_indices(chunk)[k].as_py())
        base += len(chunk)
    return None


def _has_nulls(table, columns) -> bool:
    return any(table.column(c).null_count for c in columns)


def _nulls(column) -> list[bool]:
    return column.is_null().to_pylist()


def _chunks(column) -> list:
    return column.chunks if isinstance(column, pa.ChunkedArray) else [column]


def _value_lengths(column) -> np.ndarray:
    """Byte length of every value of a binary column."""
    import pyarrow.compute as pc

    out = [pc.binary_length(c).to_numpy(zero_copy_only=False) for c in _chunks(column)]
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)


def _flat(column) -> tuple[np.ndarray, np.ndarray]:
    """(values, int64 row offsets starting at 0) of a list column, across its chunks."""
    values, offsets, base = [], [np.zeros(1, np.int64)], 0
    for chunk in _chunks(column):
        off = chunk.offsets.to_numpy().astype(np.int64)
        vals = chunk.values.to_numpy(zero_copy_only=False)[off[0] : off[-1]]
        values.append(vals)
        offsets.append(off[1:] - off[0] + base)
        base += int(off[-1] - off[0])
    flat = np.concatenate(values) if values else np.zeros(0, np.int64)
    return flat, np.concatenate(offsets)


def check_totals(manifest: dict, where: str) -> None:
    """The manifest's totals equal the sums of its shard entries."""
    for key in ("documents", "bytes", "patches"):
        total = sum(int(s.get(key, 0)) for s in manifest["shards"])
        if manifest.get(key) != total:
            raise ValueError(
                f"{where}: {key} total {manifest.get(key)!r} differs from the sum over its shards ({total:,})"
            )
