"""The manifest: the dataset's table of contents, written last.

Its presence is what makes a dataset complete. It lists every shard with its row,
byte and patch counts, and repeats the metadata every shard's schema carries.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bytepatch.dataset.files import write_json
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


def build_manifest(metadata: dict[str, Any], shards: list[ShardInfo], shard_format: str) -> dict:
    """The manifest of a dataset made of `shards` (listed in file-name order)."""
    shards = sorted(shards, key=lambda s: s.file)
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


def write_manifest(directory: Path, metadata: dict[str, Any], shards: list[ShardInfo], shard_format: str) -> dict:
    manifest = build_manifest(metadata, shards, shard_format)
    write_json(directory / MANIFEST, manifest)
    return manifest


def read_manifest(directory: Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    if not path.exists():
        hint = " (an interrupted run? finish it with `bytepatch segment ... --resume`)" if Path(directory).is_dir() else ""
        raise FileNotFoundError(f"{directory}: not a complete bytepatch dataset, no {MANIFEST}{hint}")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != "bytepatch-dataset":
        raise ValueError(f"{path}: not a bytepatch manifest")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{path}: format version {manifest['format_version']} is newer than this bytepatch reads")
    return manifest
