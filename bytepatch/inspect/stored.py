"""A stored dataset row as a PatchView: the patches (and entropies) that were written.

`inspect` normally re-patches raw text; a dataset row is shown from what `segment`
stored instead, so the view is exactly what training will read. Rows are found by
position (`row`, across shards, using the manifest's per-shard counts to open only
the shard that holds it) or by `id` (a scan of the id column, shard by shard).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bytepatch.dataset import open_dataset
from bytepatch.inspect.view import PatchView, short_fingerprint


def stored_view(path: str | Path, row: int | None = None, row_id: str | None = None) -> PatchView:
    """The row at position `row`, or with id `row_id`, of the dataset at `path`."""
    if (row is None) == (row_id is None):
        raise ValueError("give exactly one of a row number and a row id")
    ds = open_dataset(path)
    counts = [int(s["documents"]) for s in ds.manifest["shards"]]
    if row is not None:
        if not 0 <= row < sum(counts):
            raise ValueError(
                f"{path}: row {row} is out of range (the dataset has {sum(counts):,} rows, 0 to {sum(counts) - 1:,})"
            )
        shard = int(np.searchsorted(np.cumsum(counts), row, side="right"))
        table, index = ds.read_shard(shard), row - sum(counts[:shard])
    else:
        for shard in range(len(counts)):
            table = ds.read_shard(shard)
            index = pc.index(table.column("id"), pa.scalar(row_id, table.schema.field("id").type)).as_py()
            if index >= 0:
                row = sum(counts[:shard]) + index
                break
        else:
            raise ValueError(f"{path}: no row has id {row_id!r}")
    record = table.slice(index, 1).to_pylist()[0]
    data = record["bytes"]
    lengths = np.asarray(record["patch_lengths"], dtype=np.int64).astype(np.int32)
    entropies = record.get("entropies")
    h = None if entropies is None else np.asarray(entropies, dtype=np.float32)
    meta = ds.metadata
    settings: dict = dict(meta.get("patcher") or {})
    model = meta.get("entropy_model")
    if model:
        settings.update(entropy_model=model.get("name"), fingerprint=short_fingerprint(model.get("fingerprint")))
    settings.update(dataset=str(path), row=row, id=record["id"])
    if h is None:
        settings["entropies"] = "not stored (segment --save-entropies keeps them)"
    return PatchView(data, lengths, h, settings)
