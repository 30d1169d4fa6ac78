"""The dataset schema (docs/design.md §5) and the metadata every shard carries.

Columns: `id` (string), `bytes` (large_binary, the document exactly as read),
`patch_lengths` (list<int32>), and optionally `entropies` (list<float16>). The schema
metadata key `bytepatch` holds JSON with the version, the patcher and all its settings,
and the entropy model's fingerprint, so any shard alone says how it was made.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from bytepatch.io.line_ids import LineIds

FORMAT_VERSION = 1
METADATA_KEY = b"bytepatch"
INT32_MAX = np.iinfo(np.int32).max


def dataset_schema(with_entropies: bool, metadata: dict[str, Any]) -> pa.Schema:
    fields = [
        pa.field("id", pa.string(), nullable=False),
        pa.field("bytes", pa.large_binary(), nullable=False),
        pa.field("patch_lengths", pa.list_(pa.int32()), nullable=False),
    ]
    if with_entropies:
        fields.append(pa.field("entropies", pa.list_(pa.float16()), nullable=False))
    return pa.schema(fields, metadata={METADATA_KEY: json.dumps(metadata, sort_keys=True).encode()})


def read_metadata(schema: pa.Schema) -> dict[str, Any]:
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise ValueError("not a bytepatch shard: its schema has no 'bytepatch' metadata")
    return json.loads(raw)


MAX_STORED_PATCH_LENGTH = INT32_MAX  # the largest length the patch_lengths column holds


def check_storable(lengths: np.ndarray, doc_id: str) -> None:
    """Refuse patch lengths the dataset cannot store (never let them wrap)."""
    if len(lengths) and int(lengths.max()) > MAX_STORED_PATCH_LENGTH:
        raise ValueError(
            f"{doc_id}: a patch of {int(lengths.max()):,} bytes is longer than a dataset stores "
            f"({MAX_STORED_PATCH_LENGTH:,}); pass --max-patch-length"
        )


def check_storable_entropies(stored: np.ndarray, offsets: np.ndarray, ids: Sequence[str], first: int = 0) -> None:
    """Refuse entropies (float16, as stored; `offsets` per document of ids[first:]) that the
    reader would refuse: a negative value (an entropy is >= 0: e.g. a custom model giving
    log-probabilities) or one that float16 turned infinite. Written, the dataset would
    fail on every read of that shard."""
    bits = stored.view(np.uint16)  # on the bits: NumPy's float16 comparisons are ~5x slower
    if not len(bits) or int(bits.max()) < 0x7C00:  # positive and finite (0x7C00 is +inf)
        return
    bad = (bits >= 0x7C00) & (bits != 0x8000)  # inf, NaN or a sign bit; -0.0 is >= 0
    if not bad.any():
        return
    k = int(np.flatnonzero(bad)[0])
    row = int(np.searchsorted(offsets, k, side="right")) - 1
    what = "is negative" if np.isfinite(stored[k]) else "is beyond float16, the stored type"
    raise ValueError(
        f"{ids[first + row]}: the entropy model gave byte {k - int(offsets[row]):,} an entropy that {what} "
        f"({float(stored[k])}); a dataset stores entropies >= 0 (nats), and would refuse this one on reading"
    )


def list_array(values: np.ndarray, offsets: np.ndarray, value_type: pa.DataType) -> pa.ListArray:
    """A list column from flat values and int64 row offsets (Arrow lists use int32)."""
    if offsets[-1] > INT32_MAX:
        raise ValueError("a shard holds more than 2^31 list values; lower --shard-size-mb")
    # From buffers, not pa.array(ndarray): that imports pandas (~0.2 s per process) to ask
    # whether the array is a pandas object.
    values = np.ascontiguousarray(values, dtype=value_type.to_pandas_dtype())
    flat = pa.Array.from_buffers(value_type, len(values), [None, pa.py_buffer(values)])
    offsets32 = pa.Array.from_buffers(pa.int32(), len(offsets), [None, pa.py_buffer(offsets.astype(np.int32))])
    return pa.ListArray.from_arrays(offsets32, flat)


def binary_array(data: bytes | bytearray | memoryview, offsets: np.ndarray) -> pa.LargeBinaryArray:
    """Documents stored back to back in `data` as a large_binary column, without a copy."""
    buffers = [None, pa.py_buffer(np.ascontiguousarray(offsets, dtype=np.int64)), pa.py_buffer(data)]
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(offsets) - 1, buffers)


def string_array(values: Sequence[str]) -> pa.StringArray:
    """A string column built from one UTF-8 buffer and offsets: `pa.array(list)` would
    import pandas (~0.2 s and 40 MB per process) only to ask whether the list is a
    pandas object. `LineIds` build their buffer with array passes."""
    if isinstance(values, LineIds):
        data_u8, offsets = values.utf8()
        if offsets[-1] > INT32_MAX:
            raise ValueError("a shard's ids hold more than 2^31 bytes; lower --shard-size-mb")
        return pa.StringArray.from_buffers(len(values), pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data_u8))
    joined = "".join(values)
    if joined.isascii():  # the common case: one encode, and characters are bytes
        data, parts = joined.encode("ascii"), values
    else:
        parts = [v.encode("utf-8") for v in values]
        data = b"".join(parts)
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, parts), dtype=np.int64, count=len(values)), out=offsets[1:])
    if offsets[-1] > INT32_MAX:
        return pa.array(values, type=pa.large_string()).cast(pa.string())  # raises Arrow's clear error
    return pa.StringArray.from_buffers(len(values), pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data))


def build_table(
    ids: Sequence[str],
    data: bytes | bytearray | memoryview,
    offsets: np.ndarray,
    lengths: np.ndarray,
    patch_offsets: np.ndarray,
    schema: pa.Schema,
    entropies: tuple[np.ndarray, np.ndarray] | None = None,
) -> pa.Table:
    """One shard's rows as a table of `schema`: the documents back to back in `data` with
    int64 `offsets`, flat patch lengths with their offsets, and optionally entropies
    (flat float values + offsets)."""
    if lengths.dtype != np.int32:
        check_storable(lengths, "a document of this shard")
    columns = [
        string_array(ids),
        binary_array(data, offsets),
        list_array(lengths.astype(np.int32, copy=False), patch_offsets, pa.int32()),
    ]
    if entropies is not None:
        values, ent_offsets = entropies
        columns.append(list_array(values.astype(np.float16), ent_offsets, pa.float16()))
    return pa.Table.from_arrays(columns, schema=schema)
