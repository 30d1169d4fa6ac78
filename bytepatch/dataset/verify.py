"""Full verification of a dataset: what `bytepatch verify DATASET` runs.

Everything `Dataset.read_shard` checks on every read (names, manifest keys and totals,
size + CRC-32, row invariants, per-shard counts), plus each shard's SHA-256, the
dataset's totals recomputed from the rows themselves, and no file named as a shard
beside the listed ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bytepatch.dataset.integrity import ShardError, check_file
from bytepatch.dataset.reader import Dataset


@dataclass(frozen=True)
class VerifyReport:
    shards: int
    documents: int
    bytes: int
    patches: int
    with_checksums: int  # shards whose manifest entry carries a SHA-256 (older datasets have none)


def verify_dataset(path: str | Path) -> VerifyReport:
    """Check every file and row of the dataset at `path`; raises ValueError (ShardError
    for a shard) naming the file, and the row where one is at fault."""
    ds = Dataset(path)
    documents = n_bytes = patches = 0
    for i, entry in enumerate(ds.manifest["shards"]):
        check_file(ds.shard_files[i], entry, full=True)
        table = ds.read_shard(i)  # size, CRC-32, rows, per-shard counts
        documents += table.num_rows
        n_bytes += entry["bytes"]
        patches += entry["patches"]
    for what, got in (("documents", documents), ("bytes", n_bytes), ("patches", patches)):
        if got != ds.manifest[what]:
            raise ShardError(f"{ds.path}: the shards hold {got:,} {what}, the manifest says {ds.manifest[what]:,}")
    # After the listed shards: a shard renamed by hand (`train-00004 (copy).arrow`) is named
    # missing, not stray, whose advice (remove it) would delete the dataset's rows.
    check_no_unlisted_shards(ds)
    with_sums = sum(1 for e in ds.manifest["shards"] if e.get("sha256"))
    return VerifyReport(len(ds.shard_files), documents, n_bytes, patches, with_sums)


# What other readers take as a shard: a glob of the shards (`out/*.arrow`, `out/*.parquet`),
# and `datasets.load_dataset(DIR)`, whose train split is every name holding `train` between
# separators with a data file's extension, a further suffix allowed (datasets' patterns and
# extension filter), so `train-00000 (1).arrow`, `train-5.arrow` and `train-00000.arrow.bak`
# too; never `training-notes.md` or `train.log`, which no reader takes.
_DATA_FILE = re.compile(r"\.(?:arrow|parquet)(?:\.[^.]+)?$")


def taken_as_shard(name: str) -> bool:
    """Whether a glob of the shards or `datasets.load_dataset(DIR)` would read the entry
    `name` of a dataset directory (hidden names are skipped by both)."""
    return not name.startswith(".") and bool(_DATA_FILE.search(name))


def check_no_unlisted_shards(ds: Dataset) -> None:
    """Refuse a file named as a shard that the manifest does not list: bytepatch's readers
    skip it, but the documented glob readers and `datasets.load_dataset(DIR)` would read
    its rows with the others (a copy, a leftover of another run). Not only bytepatch's own
    names: a copy named `train-00000 (1).arrow` or `train-00000.arrow.bak` is read as well."""
    listed = {entry["file"] for entry in ds.manifest["shards"]}
    try:
        names = sorted(entry.name for entry in ds.path.iterdir())
    except OSError as exc:
        raise ShardError(f"{ds.path}: cannot list the directory ({exc})") from exc
    stray = [name for name in names if taken_as_shard(name) and name not in listed]
    if stray:
        more = f" and {len(stray) - 1} more" if len(stray) > 1 else ""
        raise ShardError(
            f"{ds.path / stray[0]}{more}: named as a shard but not listed in the manifest; other readers "
            "(a glob of the shards, datasets.load_dataset) would read its rows too: remove it, or rerun "
            "segment with --overwrite"
        )
