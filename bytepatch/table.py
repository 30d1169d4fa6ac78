"""`patch_table`: patch an Arrow table or record batch into rows of the dataset schema.

This is the one function every engine calls (Hugging Face `datasets.map`, Ray Data,
Dask, Spark `mapInArrow`, the Ray engine of `segment`): text in, `id`, `bytes`,
`patch_lengths` (and optionally `entropies`) out, computed by the same code path
`bytepatch segment` uses for a shard (documents grouped for the entropy model, very
long ones patched window by window), so every engine gives `segment`'s rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from bytepatch.dataset.metadata import DatasetMetadata
from bytepatch.dataset.schema import dataset_schema
from bytepatch.patchers import Patcher
from bytepatch.patchers.base import as_ragged, utf8
from bytepatch.segment.chunks import Chunk
from bytepatch.segment.windows import DEFAULT_WINDOW


def patcher_metadata(patcher: Patcher, save_entropies: bool = False, **extra: Any) -> dict[str, Any]:
    """The dataset metadata (as `segment` records it, `DatasetMetadata`) for rows made by `patcher`."""
    return {**DatasetMetadata.of(patcher, save_entropies).to_dict(), **extra}


def patch_table(
    data: pa.Table | pa.RecordBatch | Mapping[str, Sequence[Any]] | Any,
    patcher: Patcher,
    *,
    text_field: str = "text",
    id_field: str | None = None,
    ids: Sequence[str] | None = None,
    save_entropies: bool = False,
    metadata: dict[str, Any] | None = None,
    window: int = DEFAULT_WINDOW,
) -> pa.Table:
    """Rows of the dataset schema for the documents in column `text_field`.

    Ids come from column `id_field` (strings, UTF-8 binary or integers), or from `ids`; one of the two
    is required, since a dataset row must be traceable to its source. `metadata` is the
    schema metadata (default: `patcher_metadata(patcher, save_entropies)`).
    """
    from bytepatch.segment.worker import ShardJob, ShardWriter

    table = _as_table(data)
    if text_field not in table.column_names:
        raise ValueError(f"no column {text_field!r} (columns: {', '.join(table.column_names[:10])})")
    docs = as_ragged(table.column(text_field))
    row_ids = _ids(table, id_field, ids)
    if save_entropies and not patcher.needs_entropies:
        raise ValueError(f"save_entropies needs the entropy patcher, not {patcher.name!r}")
    meta = metadata if metadata is not None else patcher_metadata(patcher, save_entropies)
    schema = dataset_schema(save_entropies, meta)
    job = ShardJob(None, schema, patcher, save_entropies, window)  # type: ignore[arg-type]
    writer = ShardWriter(job)
    ends = docs.offsets[1:].tolist()
    chunk = Chunk(0, row_ids, memoryview(np.ascontiguousarray(docs.values)), ends)
    return writer.table(chunk)


def _as_table(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if type(data).__module__.partition(".")[0] == "pandas" and hasattr(data, "columns"):
        # A DataFrame (a notebook's usual table): its columns, not its index, as the Dask recipe
        # converts a partition; it was refused although its columns are exactly a batch.
        return pa.Table.from_pandas(data, preserve_index=False)
    if isinstance(data, Mapping):
        for name, column in data.items():
            if isinstance(column, (str, bytes, bytearray)) or not hasattr(column, "__len__"):
                # One row's values (`datasets` `map` without batched=True hands the function
                # a row): pa.table read a str as a column of characters, or failed on lengths.
                raise TypeError(
                    f"patch_table takes a batch: a dict of columns, but {name!r} holds one "
                    f"{type(column).__name__}, not a column (with datasets' map, pass batched=True)"
                )
        try:
            return pa.table(dict(data))
        except UnicodeEncodeError:  # pyarrow's bare codec error, naming neither column nor row
            for name, column in data.items():
                for row, value in enumerate(column):
                    if isinstance(value, str):
                        try:
                            utf8(value)  # the patchers' own message for a lone surrogate
                        except ValueError as exc:
                            raise ValueError(f"column {name!r}, row {row}: {exc}") from None
            raise
    raise TypeError(
        f"expected a pyarrow Table, RecordBatch, pandas DataFrame or a dict of columns, got {type(data).__name__}"
    )


def _ids(table: pa.Table, id_field: str | None, ids: Sequence[str] | None) -> list[str]:
    if id_field is not None:
        if id_field not in table.column_names:
            raise ValueError(f"no id column {id_field!r} (columns: {', '.join(table.column_names[:10])})")
        values = table.column(id_field).to_pylist()
    elif ids is not None:
        if isinstance(ids, (str, bytes)):  # list("ab") made one id per character
            raise TypeError(f"ids is a list of ids, one per row, not one {type(ids).__name__}: e.g. ids=[{ids!r}]")
        values = list(ids)
    else:
        raise ValueError("patch_table needs document ids: pass id_field= (a column) or ids=")
    if len(values) != table.num_rows:
        raise ValueError(f"got {len(values)} ids for {table.num_rows} rows")
    out = []
    for row, value in enumerate(values):
        if isinstance(value, np.integer):  # `ids=np.arange(n)`, a NumPy column's values
            value = int(value)
        if value is None or isinstance(value, bool) or not isinstance(value, (str, int, bytes)):
            raise ValueError(f"row {row}: id {value!r} is not a string or integer")
        if isinstance(value, bytes):
            try:
                # Ids are stored as UTF-8; an escaped spelling (b"\\xff" -> "\\xff") could be another
                # row's real id, so a binary id without one is refused, as `segment` refuses it.
                value = value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(f"row {row}: id {value[:40]!r} is not valid UTF-8 (byte {exc.start})") from None
        out.append(str(value))
    return out
