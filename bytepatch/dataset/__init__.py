"""Patch-boundary datasets: Arrow/Parquet shards plus a manifest (docs/design.md §5)."""

from bytepatch.dataset.metadata import DatasetMetadata, DataSignature
from bytepatch.dataset.manifest import MANIFEST, ShardInfo, build_manifest, read_manifest, write_manifest
from bytepatch.dataset.reader import Dataset, DatasetRow, ShardError, open_dataset
from bytepatch.dataset.schema import FORMAT_VERSION, METADATA_KEY, build_table, dataset_schema, read_metadata

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST",
    "METADATA_KEY",
    "DataSignature",
    "Dataset",
    "DatasetMetadata",
    "DatasetRow",
    "ShardError",
    "ShardInfo",
    "build_manifest",
    "build_table",
    "dataset_schema",
    "open_dataset",
    "read_manifest",
    "read_metadata",
    "write_manifest",
]
