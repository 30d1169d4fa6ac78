"""Shard files: record batches encoded on any thread and appended make one Arrow IPC
stream holding every table in order; an uncompressed shard is exactly what one Arrow
stream writer writes."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepatch.dataset import files
from bytepatch.dataset.files import BATCH_ROWS, Flusher, ShardFile, encode_batches, read_arrow_table
from bytepatch.dataset.integrity import checksums
from bytepatch.dataset.schema import dataset_schema

SCHEMA = dataset_schema(False, {"patcher": {"patcher": "space"}})


def _table(sizes: list[int], seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    docs = [bytes(rng.integers(32, 127, n, dtype=np.uint8)) for n in sizes]
    lengths = [[len(d)] if d else [] for d in docs]
    return pa.Table.from_arrays(
        [
            pa.array([f"d{i}" for i in range(len(docs))]),
            pa.array(docs, pa.large_binary()),
            pa.array(lengths, pa.list_(pa.int32())),
        ],
        schema=SCHEMA,
    )


def _one_writer(path: Path, tables: list[pa.Table]) -> bytes:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, SCHEMA) as writer:
        for table in tables:
            writer.write_table(table, max_chunksize=BATCH_ROWS)
    return path.read_bytes()


@settings(max_examples=30, deadline=None)
@given(
    groups=st.lists(st.lists(st.integers(0, 300), max_size=20), max_size=4),
    compress=st.booleans(),
    encoded=st.lists(st.booleans(), min_size=4, max_size=4),
    seed=st.integers(0, 1000),
)
def test_appended_groups_make_one_stream_of_every_table(tmp_path_factory, groups, compress, encoded, seed):
    tmp = tmp_path_factory.mktemp("shard")
    tables = [_table(sizes, seed + i) for i, sizes in enumerate(groups)]
    shard = ShardFile(tmp / "train-00000.arrow", SCHEMA, "arrow", compress=compress)
    for table, pre in zip(tables, encoded):
        if pre and compress:  # encoded elsewhere (a patch thread), appended by the writer
            shard.write_encoded(encode_batches(table, SCHEMA))
        else:
            shard.write(table)
    sums = shard.commit()
    path = tmp / "train-00000.arrow"
    # Checksums taken as the bytes were written are the file's (or left to a read-back).
    assert sums == (checksums(path) if compress else None)
    if not compress:
        assert path.read_bytes() == _one_writer(tmp / "reference.arrow", tables)
    want = pa.concat_tables(tables) if tables else SCHEMA.empty_table()
    assert read_arrow_table(path).equals(want)
    assert pa.ipc.open_stream(path.read_bytes()).schema.equals(SCHEMA, check_metadata=True)


def test_a_batch_of_more_rows_than_one_record_batch_holds(tmp_path: Path):
    table = _table([1] * (BATCH_ROWS + 5), 0)
    shard = ShardFile(tmp_path / "s.arrow", SCHEMA, "arrow")
    shard.write_encoded(encode_batches(table, SCHEMA))
    shard.commit()
    batches = pa.ipc.open_stream((tmp_path / "s.arrow").read_bytes()).read_all().to_batches()
    assert [b.num_rows for b in batches] == [BATCH_ROWS, 5]
    assert pa.Table.from_batches(batches).equals(table)


@pytest.mark.parametrize(("fmt", "compress"), [("parquet", True), ("arrow", False)])
def test_encoded_batches_are_for_compressed_arrow_shards_only(tmp_path: Path, fmt: str, compress: bool):
    shard = ShardFile(tmp_path / f"s.{fmt}", SCHEMA, fmt, compress=compress)
    with pytest.raises(ValueError, match="compressed Arrow shards only"):
        shard.write_encoded(encode_batches(_table([3], 0), SCHEMA))
    shard.abort()
    assert not list(tmp_path.iterdir())


def test_a_table_that_does_not_fit_the_shard_schema_is_refused(tmp_path: Path):
    """The batches are decoded by the schema message already written: a list<int64> table
    in a list<int32> shard would read back as other numbers, so it is never written."""
    wide = pa.schema([f.with_type(pa.list_(pa.int64())) if f.name == "patch_lengths" else f for f in SCHEMA])
    table = _table([3, 4], 0).cast(wide)
    shard = ShardFile(tmp_path / "s.arrow", SCHEMA, "arrow")
    with pytest.raises(ValueError, match="does not fit a shard of schema"):
        shard.write(table)
    with pytest.raises(ValueError, match="does not fit a shard of schema"):
        encode_batches(table, SCHEMA)
    shard.write(_table([3, 4], 0))  # the shard is untouched: a fitting table still goes in
    shard.commit()
    assert read_arrow_table(tmp_path / "s.arrow").equals(_table([3, 4], 0))


@pytest.mark.parametrize("fmt, compress", [("arrow", True), ("arrow", False), ("parquet", False)])
def test_an_empty_shard_holds_one_batch_of_no_rows(tmp_path, fmt, compress):
    """Readers that build columns from the batches (datasets.Dataset.from_file) fail on
    none; the compressed encoder cut none from no rows."""
    path = tmp_path / f"train-00000.{fmt}"
    shard = ShardFile(path, SCHEMA, fmt, compress=compress)
    shard.write_empty()
    shard.commit()
    if fmt == "arrow":
        table = pa.ipc.open_stream(path).read_all()
        assert table.num_rows == 0 and all(c.num_chunks == 1 for c in table.columns)
        assert read_arrow_table(path).num_rows == 0
    else:
        assert pq.read_table(path).num_rows == 0 and pq.read_table(path).schema.names == SCHEMA.names


@pytest.mark.parametrize("step", [1, 200, 1 << 30])
def test_a_shard_synced_as_it_grows_holds_every_table(tmp_path: Path, monkeypatch, step: int):
    # Background fdatasyncs every `step` bytes (one at a time, while the writer goes on)
    # change nothing in the file, whichever of them run.
    monkeypatch.setattr(files, "SYNC_STEP", step)
    tables = [_table([50, 0, 300], i) for i in range(6)]
    shard = ShardFile(tmp_path / "train-00000.arrow", SCHEMA, "arrow")
    for table in tables:
        shard.write(table)
    sums = shard.commit()
    assert sums == checksums(tmp_path / "train-00000.arrow")
    assert read_arrow_table(tmp_path / "train-00000.arrow").equals(pa.concat_tables(tables))
    assert list(tmp_path.iterdir()) == [tmp_path / "train-00000.arrow"]


def test_a_failed_background_sync_is_raised_when_waited_for():
    # The kernel reports a writeback error once: to the fdatasync that met it, here on the
    # flusher's thread, so `wait` (before the fsync that commits a shard) raises it.
    read, write = os.pipe()
    try:
        flusher = Flusher(write, step=10)
        flusher.wrote(5)  # under a step: nothing synced
        flusher.wait()
        flusher.wrote(10)
        with pytest.raises(OSError) as err:
            flusher.wait()
        assert err.value.errno == errno.EINVAL  # a pipe cannot be synced
        flusher.wait()  # raised once
    finally:
        os.close(read)
        os.close(write)
