"""A stored dataset row as a PatchView: the patches (and entropies) that were written.

`inspect` normally re-patches raw text; a dataset row is shown from what `segment`
stored instead, so the view is exactly what training will read. Rows are found by
position (`row`, across shards, using the manifest's per-shard counts to open only
the shard that holds it) or by `id` (a scan of the id column, shard by shard).

Stored entropies are usually float16 (half the space), rounded *after* `segment`
decided the boundaries on float32 values. So a stored value can sit on the other side
of the threshold from the boundary that was stored (h 2.066 at a patch start, threshold
2.067). The view says the values are rounded, and notes every patch where the rounded
values and the stored boundaries disagree, rather than re-deciding anything.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bytepatch.dataset import open_dataset
from bytepatch.inspect.view import PatchView, short_fingerprint
from bytepatch.io.fs import shown_path


def stored_view(path: str | Path, row: int | None = None, row_id: str | None = None) -> PatchView:
    """The row at position `row`, or with id `row_id`, of the dataset at `path`."""
    if (row is None) == (row_id is None):
        raise ValueError("give exactly one of a row number and a row id")
    ds = open_dataset(path)
    counts = [int(s["documents"]) for s in ds.manifest["shards"]]
    if row is not None:
        if not 0 <= row < sum(counts):
            rows = f"{sum(counts):,} rows, 0 to {sum(counts) - 1:,}" if sum(counts) else "no rows"
            raise ValueError(f"{path}: row {row} is out of range (the dataset has {rows})")
        shard = int(np.searchsorted(np.cumsum(counts), row, side="right"))
        table, index = ds.read_shard(shard), row - sum(counts[:shard])
    else:
        try:
            row_id.encode("utf-8")
        except UnicodeEncodeError:  # bytes of the command line that are not UTF-8 (surrogateescape)
            raise ValueError(
                f"{path}: no row has id '{shown_path(row_id)}': ids are stored as UTF-8, and this one is not"
            ) from None
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
    rounded = h is not None and table.schema.field("entropies").type.value_type == pa.float16()
    meta = ds.metadata
    settings: dict = dict(meta.get("patcher") or {})
    model = meta.get("entropy_model")
    if model:
        settings.update(entropy_model=model.get("name"), fingerprint=short_fingerprint(model.get("fingerprint")))
    settings.update(dataset=str(path), row=row, id=record["id"])
    notes: dict[int, str] = {}
    if h is None:
        settings["entropies"] = "not stored (segment --save-entropies keeps them)"
    else:
        notes = disagreements(lengths, h, meta.get("patcher") or {}, "float16-rounded" if rounded else "stored")
        if rounded:
            settings["entropies"] = "float16, rounded after the boundaries were decided on float32" + (
                f" (they disagree at {len(notes):,} patch(es) of this row: see --verbose)" if notes else ""
            )
    return PatchView(data, lengths, h, settings, notes=notes)


def disagreements(lengths: np.ndarray, h: np.ndarray, patcher: dict, kind: str) -> dict[int, str]:
    """Patch index -> why the stored entropies `h` and boundaries `lengths` disagree under
    the entropy rule in `patcher` (the dataset's settings): a stored start where `h` does
    not cross the threshold, or a byte where it does and no start was stored. Starts a
    `max_patch_length` cut explains (the patch before is exactly that long) are not noted."""
    if patcher.get("patcher") != "entropy" or not len(h):
        return {}
    from bytepatch.patchers.functions import entropy_patch_lengths

    threshold, add, cut = patcher.get("threshold"), patcher.get("threshold_add"), patcher.get("max_patch_length")
    if threshold is None and add is None:
        return {}
    rule = np.zeros(len(h), dtype=bool)  # where the rule, applied to the stored values, starts a patch
    rule[np.cumsum(entropy_patch_lengths(h, threshold, add))[:-1]] = True
    ends = np.cumsum(lengths, dtype=np.int64)
    stored = np.zeros(len(h), dtype=bool)
    stored[ends[:-1]] = True
    notes: dict[int, list[str]] = {}
    for t in np.flatnonzero(stored & ~rule).tolist():
        index = int(np.searchsorted(ends, t, side="right"))
        if not (cut and lengths[index - 1] == cut):
            notes.setdefault(index, []).append(f"{kind} h does not cross the threshold here, yet a patch starts")
    for t in np.flatnonzero(rule & ~stored).tolist():
        index = int(np.searchsorted(ends, t, side="right"))
        notes.setdefault(index, []).append(f"byte {t}: {kind} h crosses the threshold, yet no patch starts")
    return {i: "; ".join(n) for i, n in sorted(notes.items())}
