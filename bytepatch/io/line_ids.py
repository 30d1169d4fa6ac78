"""The ids of consecutive lines, `name:first`, `name:first+1`, ..., without a string per line.

The JSONL fast path (`jsonl_batch.py`) reads ~1,000 paragraph-sized documents per MB;
a Python string per id cost ~0.15 us to make and as much again to join into the
dataset's `id` column: ~30 ms per 24 MB, a tenth of a `--patcher space` run. A
`LineIds` is three numbers until someone asks for an id, and `utf8` builds the whole
column's bytes with array passes. Ids read one by one are the same strings the line
reader makes.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence, overload

import numpy as np


class LineIds(Sequence[str]):
    """The ids f"{name}:{line}" for `count` lines from `first` on."""

    __slots__ = ("name", "first", "count")

    def __init__(self, name: str, first: int, count: int) -> None:
        if first < 0 or count < 0:
            raise ValueError(f"line ids need first >= 0 and count >= 0, got {first}, {count}")
        self.name, self.first, self.count = name, first, count

    def __len__(self) -> int:
        return self.count

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...
    def __getitem__(self, i: int | slice) -> str | Sequence[str]:
        if isinstance(i, slice):
            start, stop, step = i.indices(self.count)
            if step != 1:
                return [self[k] for k in range(start, stop, step)]
            return LineIds(self.name, self.first + start, max(0, stop - start))
        k = i + self.count if i < 0 else i
        if not 0 <= k < self.count:
            raise IndexError(f"line id {i} out of range for {self.count} lines")
        return f"{self.name}:{self.first + k}"

    def __iter__(self) -> Iterator[str]:
        prefix = f"{self.name}:"
        return (f"{prefix}{line}" for line in range(self.first, self.first + self.count))

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, LineIds):
            same = (self.name, self.first) == (other.name, other.first)
            return self.count == other.count and (same or self.count == 0)
        if isinstance(other, (list, tuple)):
            return len(other) == self.count and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # like a list: compared by value, not hashed

    def __repr__(self) -> str:
        return f"LineIds({self.name!r}, first={self.first}, count={self.count})"

    def followed_by(self, other: LineIds) -> bool:
        """Whether `other` continues these ids (same name, the next line on)."""
        return other.name == self.name and other.first == self.first + self.count

    def utf8(self) -> tuple[np.ndarray, np.ndarray]:
        """(the ids' UTF-8 bytes back to back as uint8, their int64 offsets).

        Lines with the same number of digits are consecutive, so each digit count is one
        rectangular block (prefix, then digits) filled by column."""
        prefix = np.frombuffer(f"{self.name}:".encode("utf-8"), dtype=np.uint8)
        p, last = len(prefix), self.first + self.count - 1
        blocks, widths = [], []
        for d in range(len(str(self.first)), len(str(last)) + 1 if self.count else 0):
            lo, hi = max(self.first, 10 ** (d - 1) if d > 1 else 0), min(last, 10**d - 1)
            lines = np.arange(lo, hi + 1, dtype=np.int64)
            block = np.empty((len(lines), p + d), dtype=np.uint8)
            block[:, :p] = prefix
            for j in range(d):
                block[:, p + j] = lines // 10 ** (d - 1 - j) % 10 + 48
            blocks.append(block.reshape(-1))
            widths.append(np.full(len(lines), p + d, dtype=np.int64))
        offsets = np.zeros(self.count + 1, dtype=np.int64)
        if widths:
            np.cumsum(np.concatenate(widths), out=offsets[1:])
        data = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.uint8)
        return data, offsets


def joined_ids(ids: Sequence[str], more: Sequence[str]) -> Sequence[str]:
    """`ids` followed by `more`: still a `LineIds` when `more` continues one (the common case,
    a file's lines read block after block), else a list (what mixing runs costs anyway)."""
    if not len(ids):
        return more if isinstance(more, LineIds) else list(more)
    if isinstance(ids, LineIds) and isinstance(more, LineIds) and ids.followed_by(more):
        return LineIds(ids.name, ids.first, ids.count + more.count)
    out = ids if isinstance(ids, list) else list(ids)
    out.extend(more)
    return out
