"""The manifest: the dataset's table of contents, written last.

Its presence is what makes a dataset complete. It lists every shard with its row,
byte and patch counts, and repeats the metadata every shard's schema carries.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bytepatch.dataset.files import SHARD_NAME, write_json
from bytepatch.dataset.integrity import check_plain_name, check_totals
from bytepatch.dataset.schema import FORMAT_VERSION

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ShardInfo:
    index: int
    file: str
    documents: int
    bytes: int
    patches: int
    file_size: int
    crc32: str | None = None  # checked on every read (cheap)
    sha256: str | None = None  # checked by `bytepatch verify`


def build_manifest(metadata: dict[str, Any], shards: list[ShardInfo], shard_format: str) -> dict:
    """The manifest of a dataset made of `shards`, listed in natural file-name order
    (numbers compared as numbers: train-99999 before train-100000). The manifest's order
    is the dataset's row order."""
    shards = sorted(shards, key=lambda s: natural_key(s.file))
    return {
        "format": "bytepatch-dataset",
        "format_version": FORMAT_VERSION,
        "shard_format": shard_format,
        "metadata": metadata,
        "documents": sum(s.documents for s in shards),
        "bytes": sum(s.bytes for s in shards),
        "patches": sum(s.patches for s in shards),
        "shards": [asdict(s) for s in shards],
    }


def natural_key(name: str) -> tuple:
    """Sort key comparing digit runs as numbers."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def write_manifest(directory: Path, metadata: dict[str, Any], shards: list[ShardInfo], shard_format: str) -> dict:
    manifest = build_manifest(metadata, shards, shard_format)
    write_json(directory / MANIFEST, manifest)
    return manifest


def read_manifest(directory: Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    if not Path(directory).exists():  # say what is wrong: a missing directory has no manifest either
        raise FileNotFoundError(f"{directory}: no such directory")
    if not path.exists():
        raise FileNotFoundError(
            f"{directory}: not a complete bytepatch dataset, no {MANIFEST}{unfinished_hint(directory)}"
        )
    if not path.is_file():  # a FIFO would block the read for ever, a directory fails it obscurely
        raise ValueError(f"{path}: not a regular file, so not a manifest; move it away")
    try:
        manifest = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ValueError(f"{path}: not a readable manifest ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != "bytepatch-dataset":
        raise ValueError(f"{path}: not a bytepatch manifest")
    version = manifest.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"{path}: format_version is {version!r}, not an integer")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path}: format version {version} is newer than this bytepatch reads")
    check_manifest(manifest, str(path))
    return manifest


JOB_MANIFEST = re.compile(r"^manifest-(\d{5,})-of-(\d{5,})\.json$")  # one `--num-shards` job's


def unfinished_hint(directory: str | Path) -> str:
    """Why a directory has no manifest, for the error naming it: `--num-shards` jobs of which
    some have not finished (the last to finish writes the manifest: `--resume` is not what
    it needs), else perhaps an interrupted run."""
    try:
        names = [entry.name for entry in Path(directory).iterdir()]
    except OSError:  # not a directory, or unreadable: nothing to add
        return ""
    jobs: dict[int, set[int]] = {}
    for name in names:
        m = JOB_MANIFEST.match(name)
        if m:
            jobs.setdefault(int(m.group(2)), set()).add(int(m.group(1)))
    if len(jobs) == 1:
        ((k, done),) = jobs.items()
        missing = [j for j in range(k) if j not in done]
        if missing:
            shown = ", ".join(map(str, missing[:8])) + (", ..." if len(missing) > 8 else "")
            return (
                f" ({len(done)} of {k} `--num-shards {k}` jobs have finished; the last to finish writes "
                f"{MANIFEST}: run or finish the others, --shard-index {shown})"
            )
    return " (an interrupted run? finish it with `bytepatch segment ... --resume`)"


_COUNTS = ("documents", "bytes", "patches")


def check_manifest(manifest: dict[str, Any], where: str) -> None:
    """Every key a reader relies on, with its type; shard entries are plain file names,
    listed once each, in name order, each `index` (where given) the number its name
    ends with; the totals are the sums over the shards."""
    for key, kind in (("metadata", dict), ("shards", list), ("shard_format", str)):
        if not isinstance(manifest.get(key), kind):
            raise ValueError(f"{where}: {key!r} is missing or not a {kind.__name__}")
    if manifest["shard_format"] not in ("arrow", "parquet"):
        raise ValueError(f"{where}: unknown shard_format {manifest['shard_format']!r}")
    for key in _COUNTS:
        _count(manifest.get(key), f"{where}: {key!r}")
    seen: set[str] = set()
    for i, entry in enumerate(manifest["shards"]):
        at = f"{where}: shard entry {i}"
        if not isinstance(entry, dict):
            raise ValueError(f"{at} is not an object")
        name = check_plain_name(entry.get("file"), at)
        if name in seen:
            raise ValueError(f"{at}: {name!r} is listed twice")
        seen.add(name)
        _check_index(entry.get("index"), name, at)
        for key in (*_COUNTS, "file_size"):
            _count(entry.get(key), f"{at} ({name}) {key!r}")
        for key in ("crc32", "sha256"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                raise ValueError(f"{at} ({name}): {key!r} is not a string")
    _check_order([entry["file"] for entry in manifest["shards"]], where)
    check_totals(manifest, where)


def _check_index(index: Any, name: str, at: str) -> None:
    """An entry's `index` is a count and, for a shard name bytepatch writes
    (`train-CCCCC`, `train-JJJJJ-CCCCC`, older `part-CCCCC`), its chunk number C: every
    version wrote it so. None (a manifest made by hand without it) is not checked."""
    if index is None:
        return
    _count(index, f"{at} ({name}) 'index'")
    m = SHARD_NAME.match(name)
    if m and index != int(m.group(2) or m.group(1)):
        raise ValueError(f"{at} ({name}): 'index' is {index}, but its name says {int(m.group(2) or m.group(1))}")


def _check_order(names: list[str], where: str) -> None:
    """Shards listed in name order, as `build_manifest` lists them: the manifest's order is
    the dataset's row order, and `datasets` or a sorted glob read the shards in name
    order, so a manifest reordered by hand made bytepatch read other rows than they do.
    Natural order (train-99999 before train-100000) or, as versions before it wrote past
    99,999 shards, plain string order (the same below that); plain order costs no key."""
    if all(a < b for a, b in zip(names, names[1:])):
        return
    keys = [natural_key(name) for name in names]
    for i in range(1, len(keys)):
        if keys[i] < keys[i - 1]:
            raise ValueError(
                f"{where}: shard entry {i} ({names[i]}) is listed after {names[i - 1]}, out of name order "
                "(shards are listed in name order, the dataset's row order: reordered by hand?)"
            )


def _count(value: Any, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{what} is {value!r}, not a count")
