"""DocumentSource internals: (record batch, row) indexing without combining, a bounded shard cache, clear data errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from bytepatch.dataset import open_dataset
from bytepatch.dataset.integrity import checksums
from bytepatch.models.data import DocumentSource, PackedLoader

from .conftest import DOCS, write_dataset


def rewrite_shard(dataset: Path, change) -> Path:
    """Rewrite shard 0 of `dataset` in place as change(table) -> list of record batches (schema kept)."""
    ds = open_dataset(dataset)
    path = ds.shard_files[0]
    table = ds.read_shard(0)
    batches = change(table)
    data = pa.BufferOutputStream()
    with pa.ipc.new_file(data, table.schema) as writer:
        for rb in batches:
            writer.write_batch(rb)
    path.write_bytes(data.getvalue().to_pybytes())
    # Keep the manifest's checksums in step, as a legitimate rewrite would.
    manifest = json.loads((dataset / "manifest.json").read_text())
    manifest["shards"][0].update(checksums(path))
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    return path


def test_shards_of_many_record_batches_read_like_one(space_dataset: Path, tmp_path: Path):
    copy = tmp_path / "batched"
    shutil.copytree(space_dataset, copy)
    rewrite_shard(copy, lambda t: t.to_batches(max_chunksize=7))  # 40 rows in batches of 7: rows cross batches
    one, many = DocumentSource([space_dataset]), DocumentSource([copy])
    assert len(many._shard(0).batches) == 6 and len(many) == len(one) == len(DOCS)
    for k in range(len(one)):
        a, b = one.raw(k), many.raw(k)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and one.doc_id(k) == many.doc_id(k)
    every = np.arange(len(one))
    assert many.total_bytes(every) == one.total_bytes(every) == sum(len(d.encode()) for d in DOCS)
    assert [a.tolist() for a in one.split(0.2)] == [b.tolist() for b in many.split(0.2)]


def test_open_shards_are_bounded(tmp_path: Path):
    docs = [f"doc {i} " + "x y " * 40 for i in range(30)]
    data = write_dataset(tmp_path, "multi", docs, "--patcher", "space", "--shard-size-mb", "0.0005")
    source = DocumentSource([data], max_open_shards=2)
    n_shards = len(open_dataset(data).manifest["shards"])
    assert n_shards > 4
    for k in np.random.default_rng(0).permutation(len(source)):
        assert bytes(source.raw(int(k))[0]) == docs[int(k)].encode()
        assert len(source._open) <= 2
    loader = PackedLoader(source, np.arange(len(source)), batch_size=2, seq_len=64, seed=0)
    for _ in range(20):
        next(loader)
    loader.close()
    assert len(source._open) <= 2


def test_bad_patch_lengths_name_the_shard_and_row(space_dataset: Path, tmp_path: Path):
    copy = tmp_path / "bad"
    shutil.copytree(space_dataset, copy)

    def corrupt(table: pa.Table) -> list[pa.RecordBatch]:
        lengths = table.column("patch_lengths").to_pylist()
        lengths[3] = [x + 1 for x in lengths[3]]
        field = table.schema.field("patch_lengths")
        i = table.schema.get_field_index("patch_lengths")
        return (
            table.set_column(i, field, pa.array(lengths, field.type))
            .replace_schema_metadata(table.schema.metadata)
            .to_batches()
        )

    shard = rewrite_shard(copy, corrupt)
    source = DocumentSource([copy])
    # The dataset reader refuses the shard's invalid row before the loader frames it.
    with pytest.raises(ValueError, match=rf"{shard} row 3: patch lengths sum to"):
        source.framed(3)
    loader = PackedLoader(source, np.arange(len(source)), batch_size=8, seq_len=64, seed=0)
    with pytest.raises(ValueError, match=str(shard)):  # from the worker thread, unchanged: a ValueError
        for _ in range(50):
            next(loader)
    loader.close()


def test_a_truncated_shard_is_a_clear_error(space_dataset: Path, tmp_path: Path):
    copy = tmp_path / "trunc"
    shutil.copytree(space_dataset, copy)
    shard = open_dataset(copy).shard_files[0]
    shard.write_bytes(shard.read_bytes()[:64])
    with pytest.raises(ValueError, match=rf"{shard}: 64 bytes, but the manifest records .* \(truncated or replaced\)"):
        DocumentSource([copy]).raw(0)


def test_one_dataset_path_not_in_a_list_is_refused_naming_it(space_dataset: Path):
    """DocumentSource("data/train") read the str as directories "d", "a", ...: refused as
    "d: not a bytepatch dataset (d: no such directory)"."""
    assert len(DocumentSource([str(space_dataset)])) == len(DocumentSource([space_dataset]))
    for one in (str(space_dataset), space_dataset):
        with pytest.raises(TypeError, match=r"paths is a list of dataset directories, e.g. \[.*space'\], not one path"):
            DocumentSource(one)
