"""Packing framed documents into fixed-length BLT rows: pure functions over NumPy arrays.

A document of n bytes with patch lengths (l1, ..., lk) is *framed* as

    ids     = [BOS, b0 + 4, ..., b(n-1) + 4, EOS]          (n + 2 ids, docs/design.md §1)
    lengths = [1, l1, ..., lk, 1]                          (BOS and EOS are patches of their own)

BOS being a patch of length 1 is the BLT convention (its global state serves the
first real patch); EOS gets its own patch too so that appending it never changes
the document's patches (and never breaks a `max_patch_length`). An empty document
frames to [BOS, EOS] with lengths [1, 1]. Under the reference decoder alignment EOS
joins the last patch unless the patcher's rule starts one there (`eos`, which says
why: a forced EOS patch would leak the target).

Framed documents are laid end to end (several documents per row: no padding, no
wasted compute) and cut into rows of exactly `seq_len` ids. Patches are kept whole
with one documented exception, the **row-boundary rule**: the patch that straddles
the end of a row is cut there; its first part ends this row and its remainder is
the first patch of the next row (so a document longer than a row, or a patch longer
than the room left, continues in the next row; every byte lands in exactly one row,
in order). This is what the BLT reference gets by patching each row on its own
(a row always starts a patch), and costs at most one shortened patch per row.

Consequences worth knowing (documented in docs/training.md):
- A row starts with BOS only when a document starts there; a continuation row starts
  mid-document, and its first patch has no earlier global state to read.
- BLT does not mask attention across documents, so a document may attend to the
  end of the previous one inside a row (as in GPT-style packing and the transformers
  port; the reference's xformers path masks at EOS);
  BOS marks the boundary. The baseline is trained on the same rows, unmasked too,
  so both models see exactly the same information.
- Targets: `targets[t] = ids[t + 1]`, the last one being the first id of the next
  row (one id of look-ahead, nanoGPT style), so no target is wasted at a row end.
  A target equal to BOS (the first id of the next document) is ignored (-100): it
  is not part of any document. A row at the end of a finite stream (evaluation) is
  padded on the right with a pad patch of id 0 (BOE) whose targets are ignored.

Everything here is a deterministic function of (documents, position), which is what
makes the loader's resume exact: a row depends only on where it starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from bytepatch.ids import BOS_ID, EOS_ID, OFFSET

IGNORE_INDEX = -100  # same value as bytepatch.models.IGNORE_INDEX (F.cross_entropy's default)
PAD_ID = 0  # BOE: a valid id that never occurs inside a document; its targets are always ignored


@dataclass(frozen=True)
class Framed:
    """One framed document: its bytes and its patch lengths (BOS and EOS of length 1).

    The ids `[BOS, b0 + 4, ..., EOS]` are made on demand, a window at a time (`ids_between`):
    a row of a long document costs its own ids, not an int64 copy of the whole document
    (8 bytes per byte). `ids` and `ends` are computed once, when first asked for.
    """

    data: np.ndarray  # (n,) uint8, the document's bytes (a view: not copied)
    lengths: np.ndarray  # (k + 2,) int64, sums to n + 2

    def __len__(self) -> int:
        """Number of framed ids: n + 2."""
        return self.data.size + 2

    @cached_property
    def ids(self) -> np.ndarray:
        """All n + 2 ids, (n + 2,) int64."""
        return self.ids_between(0, len(self))

    @cached_property
    def ends(self) -> np.ndarray:
        """Exclusive end of each patch."""
        return np.cumsum(self.lengths)

    def ids_between(self, start: int, stop: int) -> np.ndarray:
        """Framed ids [start, stop) (0 <= start <= stop <= n + 2), (stop - start,) int64."""
        n = self.data.size
        out = np.empty(stop - start, dtype=np.int64)
        lo, hi = max(start, 1), min(stop, n + 1)  # framed positions holding document bytes
        if hi > lo:
            np.add(self.data[lo - 1 : hi - 1], OFFSET, out=out[lo - start : hi - start], dtype=np.int64)
        if start == 0 < stop:
            out[0] = BOS_ID
        if start <= n + 1 < stop:
            out[-1] = EOS_ID
        return out


def frame(
    doc: bytes | np.ndarray,
    patch_lengths: np.ndarray | list[int],
    name: str = "document",
    eos_starts_patch: bool = True,
) -> Framed:
    """Frame one document; raises ValueError (naming `name`) when its patch lengths are invalid.

    `eos_starts_patch=False` appends EOS to the document's last patch instead of giving it
    a patch of its own: under the reference decoder alignment the framing must follow the
    patcher's decision for the position after the last byte (`models.data.eos`).
    """
    data = (
        np.frombuffer(doc, np.uint8) if isinstance(doc, (bytes, bytearray, memoryview)) else np.asarray(doc, np.uint8)
    )
    lengths = np.asarray(patch_lengths, dtype=np.int64)
    if lengths.size and (lengths.min() < 1 or int(lengths.sum()) != data.size):
        raise ValueError(
            f"{name}: patch_lengths must be >= 1 and sum to the document's {data.size} bytes "
            f"(got sum {int(lengths.sum())}, min {int(lengths.min())})"
        )
    if not lengths.size and data.size:
        raise ValueError(f"{name}: {data.size} bytes but no patches")
    if eos_starts_patch or not lengths.size:  # an empty document: EOS sits at byte 0's place, which starts one
        return Framed(data, np.concatenate([[1], lengths, [1]]).astype(np.int64))
    joined = np.concatenate([[1], lengths]).astype(np.int64)
    joined[-1] += 1
    return Framed(data, joined)


def window_lengths(framed: Framed, start: int, stop: int) -> np.ndarray:
    """Patch lengths of framed ids [start, stop): whole patches, the first/last cut at the window edges."""
    ends = framed.ends  # strictly increasing: the ends inside the window are one slice of it
    inner = ends[np.searchsorted(ends, start, side="right") : np.searchsorted(ends, stop, side="left")]
    return np.diff(np.concatenate([[start], inner, [stop]]))


@dataclass
class Row:
    ids: np.ndarray  # (T,) int64
    targets: np.ndarray  # (T,) int64, IGNORE_INDEX where no loss is wanted
    lengths: np.ndarray  # (P,) int64, sums to T
    n_bytes: int  # document bytes among the targets (what bits per byte divides by)


def pack_row(
    get: Callable[[int], Framed | None], position: tuple[int, int], seq_len: int, pad: bool = True
) -> tuple[Row, tuple[int, int]] | None:
    """Cut the next row of `seq_len` ids starting at `position`; returns (row, next position).

    `get(k)` returns the k-th framed document of the stream, or None past its end;
    a position is (document k, offset into its framed ids). Returns None when the
    stream is exhausted. The next position is where the next row starts (the row's
    last target is the id found there). The stream's last row is padded to `seq_len`,
    or (`pad=False`, evaluation) left as long as what it holds: `collate` pads it only as
    far as the longest row of its batch, so a short text under a long --seq-len costs
    its own length, not seq_len.
    """
    k, offset = position
    ids, lengths = [], []
    room = seq_len
    doc = get(k)
    while doc is not None and room > 0:
        take = min(len(doc) - offset, room)
        ids.append(doc.ids_between(offset, offset + take))
        lengths.append(window_lengths(doc, offset, offset + take))
        room -= take
        offset += take
        if offset == len(doc):
            k, offset = k + 1, 0
            doc = get(k)
    if room == seq_len:
        return None
    lookahead = int(doc.ids_between(offset, offset + 1)[0]) if doc is not None else IGNORE_INDEX
    if room and not pad:  # end of a finite stream, kept short
        seq_len, room = seq_len - room, 0
        lookahead = IGNORE_INDEX
    if room:  # end of a finite stream: one pad patch whose targets are ignored
        ids.append(np.full(room, PAD_ID, dtype=np.int64))
        lengths.append(np.array([room], dtype=np.int64))
        lookahead = IGNORE_INDEX
    row_ids = np.concatenate(ids)
    targets = np.concatenate([row_ids[1:], [lookahead]])
    if room:
        targets[seq_len - room - 1 :] = IGNORE_INDEX
    targets[targets == BOS_ID] = IGNORE_INDEX
    return Row(row_ids, targets, np.concatenate(lengths), int((targets >= OFFSET).sum())), (k, offset)


def collate(rows: list[Row]) -> dict[str, np.ndarray | int]:
    """Stack rows into (B, T) ids/targets and (B, P) right-zero-padded patch lengths; a
    row shorter than the longest (an unpadded last row) gets a pad patch of ignored targets."""
    longest = max(len(r.ids) for r in rows)
    rows = [r if len(r.ids) == longest else _padded(r, longest) for r in rows]
    n_patches = max(len(r.lengths) for r in rows)
    lengths = np.zeros((len(rows), n_patches), dtype=np.int64)
    for i, r in enumerate(rows):
        lengths[i, : len(r.lengths)] = r.lengths
    return {
        "ids": np.stack([r.ids for r in rows]),
        "targets": np.stack([r.targets for r in rows]),
        "patch_lengths": lengths,
        "n_bytes": sum(r.n_bytes for r in rows),
    }


def _padded(row: Row, length: int) -> Row:
    """`row` padded to `length` ids with one pad patch whose targets are ignored (as `pack_row` pads)."""
    room = length - len(row.ids)
    ids = np.concatenate([row.ids, np.full(room, PAD_ID, dtype=np.int64)])
    targets = np.concatenate([row.targets, np.full(room, IGNORE_INDEX, dtype=np.int64)])
    return Row(ids, targets, np.concatenate([row.lengths, [room]]).astype(np.int64), row.n_bytes)
