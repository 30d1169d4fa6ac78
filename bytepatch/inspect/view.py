"""PatchView: one document with its patches (and entropies), ready to be drawn.

The renderers (terminal, HTML, SVG) are pure functions of a `PatchView`; building one
is the only place that runs a patcher. Keeping the view a plain value means a renderer
can be tested on hand-written lengths and entropies, and the CLI stays a thin shell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from bytepatch.inspect.escape import terminal_safe
from bytepatch.patchers.base import Patcher


@dataclass(frozen=True)
class Patch:
    index: int
    offset: int
    data: bytes
    entropy: float | None  # entropy (nats) of the patch's first byte, when known


@dataclass(frozen=True)
class PatchView:
    data: bytes
    lengths: np.ndarray  # int32 patch lengths, summing to len(data)
    entropies: np.ndarray | None = None  # one value per byte (nats), entropy patcher only
    settings: dict[str, Any] = field(default_factory=dict)  # the patcher's to_dict() (+ model info)
    origin: int = 0  # byte offset of `data` in the whole document (a window, see `window`)
    first_index: int = 0  # index of the first patch in the whole document
    # Patch index (in the whole document) -> a remark the listing and tooltips show, e.g.
    # where stored float16 entropies disagree with the stored boundary (see `stored`).
    notes: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        total = int(np.sum(self.lengths, dtype=np.int64))
        if total != len(self.data):
            raise ValueError(f"patch lengths sum to {total}, the document has {len(self.data)} bytes")
        if self.entropies is not None and len(self.entropies) != len(self.data):
            raise ValueError(f"{len(self.entropies)} entropies for {len(self.data)} bytes (need one per byte)")

    @property
    def offsets(self) -> np.ndarray:
        """Start offset of every patch (int64)."""
        return np.cumsum(self.lengths, dtype=np.int64) - self.lengths

    @property
    def threshold(self) -> float | None:
        return self.settings.get("threshold")

    @property
    def threshold_add(self) -> float | None:
        return self.settings.get("threshold_add")

    @property
    def mean_patch_size(self) -> float | None:
        """Bytes per patch; None for an empty document (it has no patches)."""
        return len(self.data) / len(self.lengths) if len(self.lengths) else None

    def __iter__(self) -> Iterator[Patch]:
        for i, (start, n) in enumerate(zip(self.offsets.tolist(), self.lengths.tolist())):
            h = float(self.entropies[start]) if self.entropies is not None else None
            yield Patch(self.first_index + i, self.origin + start, self.data[start : start + n], h)

    def window(self, offset: int, length: int) -> PatchView:
        """The patches covering bytes [offset, offset + length), from the start of the patch
        holding `offset` (so the first patch is whole); offsets stay those of the document."""
        if not 0 <= offset < max(len(self.data), 1):
            raise ValueError(f"--offset {offset:,} is past the end of the input ({len(self.data):,} bytes)")
        ends = np.cumsum(self.lengths, dtype=np.int64)
        first = int(np.searchsorted(ends, offset, side="right"))
        start = int(ends[first - 1]) if first else 0
        stop = min(offset + length, len(self.data)) if length else len(self.data)
        last = int(np.searchsorted(ends, stop, side="left"))  # the patch holding byte stop - 1
        lengths = self.lengths[first : last + 1].copy()
        if len(lengths):
            lengths[-1] -= int(ends[last]) - stop  # cut the last patch at the window's end
        h = None if self.entropies is None else self.entropies[start:stop]
        return PatchView(
            self.data[start:stop], lengths, h, self.settings, self.origin + start, self.first_index + first, self.notes
        )

    def summary(self) -> str:
        """One line: bytes, patches, mean size and the patcher settings."""
        settings = format_settings(self.settings)
        mean = "mean n/a" if self.mean_patch_size is None else f"mean {self.mean_patch_size:.2f} bytes/patch"
        where = f" at bytes {self.origin:,}-{self.origin + len(self.data):,}" if self.origin else ""
        return f"{_count(len(self.data), 'byte')}{where}, {_count(len(self.lengths), 'patch')} ({mean}); {settings}"


def _count(n: int, noun: str) -> str:
    """`1 patch`, `2 patches`, `1,000 bytes`."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}{'es' if noun.endswith('h') else 's'}"


def format_settings(settings: dict[str, Any]) -> str:
    """`key=value, ...` for the settings that are set (floats to 4 significant digits).
    Values come from files (a dataset's ids and metadata): escaped, never printed raw."""
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else terminal_safe(f"{k}={v}")
        for k, v in settings.items()
        if v is not None
    )


def short_fingerprint(fingerprint: str | None, width: int = 16) -> str:
    """The first `width` hex digits of a fingerprint (`--json` has all of it)."""
    if not fingerprint:
        return "?"
    return fingerprint if len(fingerprint) <= width else fingerprint[:width] + "..."


def build_view(
    data: bytes, patcher: Patcher, entropies: np.ndarray | None = None, extra: dict[str, Any] | None = None
) -> PatchView:
    """Patch `data` with `patcher` (entropy patchers need `entropies`) into a view."""
    lengths = patcher.patch_lengths(data, entropies)
    h = None if entropies is None else np.asarray(entropies, dtype=np.float32)
    return PatchView(data, np.asarray(lengths, dtype=np.int32), h, {**patcher.to_dict(), **(extra or {})})
