"""Record batch messages written here: every Arrow reader decodes them to the table they
were made from; document bytes and floats are stored raw (memory-mapped zero-copy) and
the rest LZ4-compressed."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepatch.dataset.files import IPC_EOS, _schema_message
from bytepatch.dataset.ipc import RAW, encode_table

SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("bytes", pa.large_binary()),
        pa.field("patch_lengths", pa.list_(pa.int32())),
        pa.field("entropies", pa.list_(pa.float16())),
        pa.field("score", pa.float64()),
        pa.field("tags", pa.list_(pa.string())),
    ]
)

rows = st.lists(
    st.tuples(
        st.one_of(st.none(), st.text(max_size=8)),
        st.binary(max_size=40),
        st.one_of(st.none(), st.lists(st.integers(1, 2**31 - 1), max_size=6)),
        st.lists(st.floats(0, 8, width=16), max_size=6),
        st.one_of(st.none(), st.floats(allow_nan=False)),
        st.lists(st.one_of(st.none(), st.text(max_size=3)), max_size=3),
    ),
    max_size=40,
)


def _table(data: list[tuple]) -> pa.Table:
    columns = list(zip(*data)) if data else [[] for _ in SCHEMA]
    return pa.Table.from_arrays([pa.array(list(c), f.type) for c, f in zip(columns, SCHEMA)], schema=SCHEMA)


def _stream(table: pa.Table, max_rows: int) -> bytes:
    pieces = encode_table(table, max_rows)
    return _schema_message(table.schema).to_pybytes() + b"".join(bytes(p) for p in pieces) + IPC_EOS


@settings(max_examples=80, deadline=None)
@given(data=rows, max_rows=st.integers(1, 50), start=st.integers(0, 10), stop=st.integers(0, 10))
def test_any_table_and_any_slice_reads_back_equal(data, max_rows, start, stop):
    """Nulls, empty lists and strings, nested lists, and batches cut from a larger table
    (slices, whose offsets do not start at 0) all decode to the rows they came from."""
    table = _table(data)
    table = table.slice(min(start, table.num_rows), max(table.num_rows - start - stop, 0))
    back = pa.ipc.open_stream(_stream(table, max_rows)).read_all()
    assert back.equals(table)
    assert [b.num_rows for b in back.to_batches()] == [b.num_rows for b in table.to_batches(max_chunksize=max_rows)]


def test_document_bytes_are_stored_raw_and_memory_mapped(tmp_path: Path):
    text = b"The quick brown fox jumps over the lazy dog. " * 2000
    table = pa.table(
        {
            "id": ["a", "b"],
            "bytes": pa.array([text, text[:100]], pa.large_binary()),
            "patch_lengths": pa.array([[len(text)], [100]], pa.list_(pa.int32())),
        }
    )
    path = tmp_path / "s.arrow"
    path.write_bytes(_stream(table, 1024))
    stored = path.read_bytes()
    assert stored.count(text) == 1  # verbatim, not compressed
    assert struct.pack("<q", RAW) + text in stored  # the raw-buffer marker right before it
    with pa.memory_map(str(path)) as source:
        region = source.read_buffer()
        back = pa.ipc.open_stream(pa.BufferReader(region)).read_all()
        assert back.equals(table)
        data = back.column("bytes").chunk(0).buffers()[2]
        # Zero-copy: the decoded text buffer lies inside the memory map of the file.
        assert region.address <= data.address < region.address + region.size


def test_integers_and_ids_are_compressed():
    lengths = np.full(100_000, 5, dtype=np.int32)
    table = pa.table(
        {
            "id": [f"doc:{i}" for i in range(10)],
            "bytes": pa.array([b"x"] * 10, pa.large_binary()),
            "patch_lengths": pa.ListArray.from_arrays(np.arange(0, 100_001, 10_000, dtype=np.int32), lengths),
        }
    )
    assert len(_stream(table, 1024)) < 0.1 * table.nbytes


@settings(max_examples=40, deadline=None)
@given(data=rows, max_rows=st.integers(1, 50))
def test_polars_decodes_any_table(data, max_rows):
    """polars has its own IPC reader (Rust): it must read every buffer as pyarrow does
    (it once failed on the empty offsets of a list's empty child)."""
    import polars as pl

    table = _table(data)
    back = pl.read_ipc_stream(io.BytesIO(_stream(table, max_rows))).to_arrow()
    for name in ("id", "bytes", "patch_lengths", "score", "tags"):  # polars has no float16
        assert back.column(name).to_pylist() == table.column(name).to_pylist()


def test_hugging_face_datasets_decodes_it(tmp_path: Path):
    import datasets

    table = _table([("a", b"hello world", [5, 1, 5], [1.0, 0.5], 2.5, ["x", None]), (None, b"", None, [], None, [])])
    path = tmp_path / "s.arrow"
    path.write_bytes(_stream(table, 1))
    ds = datasets.Dataset.from_file(str(path))
    assert ds["bytes"] == table.column("bytes").to_pylist()
    assert ds["patch_lengths"] == table.column("patch_lengths").to_pylist()


def test_a_type_it_does_not_lay_out_is_refused():
    table = pa.table({"flag": pa.array([True, False])})
    with pytest.raises(TypeError, match="cannot encode Arrow type bool"):
        encode_table(table, 10)


def test_batches_cut_from_a_larger_table_keep_its_document_bytes_and_floats_uncopied():
    """A table over one record batch is cut into slices; their offsets are rebased (a few
    integers), but the document bytes and entropies written are the table's own memory."""
    n, size = 12, 100_000  # each batch's text and floats are over SMALL_PIECE: pieces of their own
    table = pa.table(
        {
            "bytes": pa.array([bytes([65 + i]) * size for i in range(n)], pa.large_binary()),
            "entropies": pa.array([np.full(size, i, np.float16) for i in range(n)], pa.list_(pa.float16())),
        }
    )
    text = table.column("bytes").chunk(0).buffers()[2]
    floats = table.column("entropies").chunk(0).values.buffers()[1]
    pieces = [p for p in encode_table(table, 5) if isinstance(p, pa.Buffer) and p.size >= size]
    inside = lambda p, b: b.address <= p.address and p.address + p.size <= b.address + b.size  # noqa: E731
    assert sum(inside(p, text) for p in pieces) == 3 and sum(inside(p, floats) for p in pieces) == 3  # 5 + 5 + 2 rows
    back = pa.ipc.open_stream(_stream(table, 5)).read_all()
    assert back.equals(table)
