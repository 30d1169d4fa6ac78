"""Dataset statistics: counts, patch-size quantiles and the exact patch-length histogram.

Computed in one streaming pass over record batches: each batch's `patch_lengths`
column is flattened (pyarrow.compute) and reduced to (distinct length, count) pairs
with NumPy, which are merged into a running histogram. Memory is bounded by one shard
plus the number of *distinct* patch lengths, never by the number of patches, and the
median / p99 are exact (computed from the histogram, not a sample).

Trade-off: exact quantiles need the whole histogram, which is tiny for real patchers
(lengths are short) but grows with the number of distinct lengths, not with corpus size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bytepatch.dataset import Dataset

EXACT_BINS = 16  # histogram bins of one length each up to here, then doubling ranges


@dataclass
class LengthHistogram:
    """Exact counts of each distinct patch length, merged batch by batch."""

    values: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # sorted distinct lengths
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def add(self, lengths: np.ndarray) -> None:
        new_values, new_counts = np.unique(np.asarray(lengths, dtype=np.int64), return_counts=True)
        values, inverse = np.unique(np.concatenate([self.values, new_values]), return_inverse=True)
        counts = np.bincount(inverse, weights=np.concatenate([self.counts, new_counts]), minlength=len(values))
        self.values, self.counts = values, counts.astype(np.int64)

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def quantile(self, q: float) -> float | None:
        """The q-quantile with NumPy's default (linear) interpolation, from the counts alone;
        None without patches (there is no such length: 0 would read as a measurement)."""
        if self.total == 0:
            return None
        cum = np.cumsum(self.counts)
        pos = q * (self.total - 1)
        lo, hi = np.searchsorted(cum, [np.floor(pos), np.ceil(pos)], side="right")
        a, b = float(self.values[lo]), float(self.values[hi])
        return a + (b - a) * (pos - np.floor(pos))

    def bins(self, exact: int = EXACT_BINS) -> list[tuple[int, int, int]]:
        """(low, high, count) rows: every length 1..exact, then ranges exact+1..2*exact, ...

        Ranges past `exact` that hold no patch are left out, so a long tail stays short.
        """
        if self.total == 0:
            return []
        top = int(self.values[-1])
        edges = list(range(1, min(top, exact) + 1))
        hi = exact
        while hi < top:
            edges.append(hi + 1)
            hi *= 2
        lows = np.array(edges, dtype=np.int64)
        highs = np.append(lows[1:] - 1, max(top, lows[-1]))
        idx = np.searchsorted(lows, self.values, side="right") - 1
        counts = np.bincount(idx, weights=self.counts, minlength=len(lows)).astype(np.int64)
        return [(int(lo), int(h), int(c)) for lo, h, c in zip(lows, highs, counts) if lo <= exact or c]


@dataclass
class DatasetStats:
    documents: int = 0
    empty_documents: int = 0
    bytes: int = 0
    patches: int = 0
    histogram: LengthHistogram = field(default_factory=LengthHistogram)
    metadata: dict[str, Any] = field(default_factory=dict)
    shards: int = 0

    def add_batch(self, batch: pa.RecordBatch) -> None:
        """Fold one record batch (columns `bytes`, `patch_lengths`) into the totals."""
        n_bytes = pc.binary_length(batch.column("bytes"))
        patches_per_doc = pc.list_value_length(batch.column("patch_lengths"))
        self.documents += batch.num_rows
        self.empty_documents += int(pc.sum(pc.equal(n_bytes, 0)).as_py() or 0)
        self.bytes += int(pc.sum(n_bytes).as_py() or 0)
        self.patches += int(pc.sum(patches_per_doc).as_py() or 0)
        self.histogram.add(pc.list_flatten(batch.column("patch_lengths")).to_numpy(zero_copy_only=False))

    @property
    def mean_patch_size(self) -> float | None:
        """bytes / patches; None when there are no patches (only empty documents)."""
        return self.bytes / self.patches if self.patches else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready numbers (the `--json` output); the patch sizes are null
        when the dataset holds no patches."""
        h = self.histogram
        return {
            "documents": self.documents,
            "empty_documents": self.empty_documents,
            "bytes": self.bytes,
            "patches": self.patches,
            "shards": self.shards,
            "patch_size": {
                "mean": self.mean_patch_size,
                "median": h.quantile(0.5),
                "p99": h.quantile(0.99),
                "min": int(h.values[0]) if h.total else None,
                "max": int(h.values[-1]) if h.total else None,
            },
            "histogram": [{"low": lo, "high": hi, "count": c} for lo, hi, c in h.bins()],
            "length_counts": {str(v): int(c) for v, c in zip(h.values.tolist(), h.counts.tolist())},
            "patcher": self.metadata.get("patcher"),
            "entropy_model": self.metadata.get("entropy_model"),
            "calibration": self.metadata.get("calibration"),
            "bytepatch_version": self.metadata.get("bytepatch_version"),
        }


def batch_stats(batches: Iterable[pa.RecordBatch], metadata: dict[str, Any] | None = None) -> DatasetStats:
    """Statistics of any stream of dataset record batches."""
    stats = DatasetStats(metadata=dict(metadata or {}))
    for batch in batches:
        stats.add_batch(batch)
    return stats


def dataset_stats(dataset: Dataset, batch_rows: int = 8192) -> DatasetStats:
    """Statistics of a whole dataset, one shard in memory at a time."""
    stats = batch_stats(_batches(dataset, batch_rows), dataset.metadata)
    stats.shards = len(dataset.shard_files)
    return stats


def _batches(dataset: Dataset, batch_rows: int) -> Iterable[pa.RecordBatch]:
    for i in range(len(dataset.shard_files)):
        yield from dataset.read_shard(i).select(["bytes", "patch_lengths"]).to_batches(max_chunksize=batch_rows)
