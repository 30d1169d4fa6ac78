"""Ragged batches: many documents as one flat array plus offsets.

Kernels run over the flat array in one call, so a batch of a million short documents
costs one Python call, not a million. Row `i` is `values[offsets[i]:offsets[i+1]]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np


@dataclass(frozen=True)
class Ragged:
    """A list of 1-D arrays stored flat: `values` and int64 `offsets` (len = rows + 1)."""

    values: np.ndarray
    offsets: np.ndarray

    def __post_init__(self) -> None:
        if self.offsets.ndim != 1 or len(self.offsets) == 0 or self.offsets[0] != 0:
            raise ValueError("offsets must be a 1-D array starting at 0")
        if self.offsets[-1] != len(self.values):
            raise ValueError(f"offsets end at {self.offsets[-1]} but there are {len(self.values)} values")
        if len(self.offsets) > 1 and np.any(np.diff(self.offsets) < 0):
            raise ValueError("offsets must be non-decreasing")

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        # As a list indexes: offsets[-1 : 0] gave row -1 as an empty array (and row -2 as
        # the last row), and a row past the end failed on offsets[i + 1] ("index 3 ... size 3").
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"a Ragged row index is an integer, got {type(i).__name__}")
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"row {i} out of range for {n} rows")
        i = int(i) % n
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        values, bounds = self.values, self.offsets.tolist()  # every i in range: no index checks
        for i in range(len(self)):
            yield values[bounds[i] : bounds[i + 1]]

    def row_lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @classmethod
    def from_bytes(cls, docs: Sequence[bytes | bytearray | memoryview]) -> "Ragged":
        """Pack byte strings (uint8) without a per-byte Python loop."""
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
        return cls(np.frombuffer(b"".join(docs), dtype=np.uint8), _offsets(lengths))

    @classmethod
    def from_arrays(cls, rows: Sequence[np.ndarray], dtype: np.dtype | type | None = None) -> "Ragged":
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        if rows:
            values = np.concatenate([np.asarray(r).ravel() for r in rows])
        else:
            values = np.zeros(0, dtype=dtype or np.float32)
        if dtype is not None:
            values = values.astype(dtype, copy=False)
        return cls(values, _offsets(lengths))

    def to_list(self) -> list[np.ndarray]:
        return list(self)


def _offsets(lengths: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets
