"""Training data for the entropy LM: a deterministic held-out split and a packed token stream.

Split: a document is held out when the sha256 of its id falls below the held-out
fraction, so the split is stable across runs, machines, input order and corpus
growth (a document never changes side), and needs no stored list.

Stream: each training document becomes `[BOS] + (byte + 4)...`; per epoch the
documents are shuffled with a generator seeded by (seed, epoch) and laid end to end;
a batch is the next B rows of T + 1 consecutive ids (inputs = [:-1], targets = [1:]).
Targets that would predict the next document's BOS are ignored, and the model's
`doc_ids` (from the BOS markers) keep attention inside each document. The whole
data position is (epoch, cursor): two integers, checkpointed, so a resumed run sees
exactly the batches the uninterrupted run would have seen.

Trade-off: the corpus is held in memory (2 bytes per byte while an epoch is laid
out), which suits entropy-LM corpora of up to a few GB; a memory-mapped token file
would be the way past that. Rows cut documents at arbitrary points (as nanoGPT
does): a row's first bytes see less context than they would in the full document.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from bytepatch.ids import BOS_ID, OFFSET
from bytepatch.models.nn.transformer import IGNORE_INDEX


def held_out_score(doc_id: str) -> float:
    """A uniform number in [0, 1) fixed by the document id."""
    return int.from_bytes(hashlib.sha256(doc_id.encode("utf-8", "surrogatepass")).digest()[:8], "big") / 2.0**64


@dataclass
class Split:
    train: list[bytes]
    held_out: list[bytes]
    held_out_ids: list[str]


def split_documents(docs: Iterable[tuple[str, bytes]], held_out_fraction: float) -> Split:
    """Split (id, bytes) pairs by `held_out_score(id) < fraction`; empty documents are dropped.

    Both sides are kept non-empty when there are two or more documents: if hashing
    leaves one side empty, the document with the most extreme score changes side.
    """
    if not 0.0 < held_out_fraction < 1.0:
        raise ValueError(f"held-out fraction must be in (0, 1), got {held_out_fraction}")
    scored = [(held_out_score(i), i, d) for i, d in docs if len(d)]
    if len(scored) < 2:
        raise ValueError(
            f"need at least 2 non-empty documents for a held-out split, got {len(scored)} "
            "(pass more files, or --doc-per-line for one document per line)"
        )
    scored.sort(key=lambda s: s[0])
    n_held = sum(s[0] < held_out_fraction for s in scored)
    n_held = min(max(n_held, 1), len(scored) - 1)
    held = sorted(scored[:n_held], key=lambda s: s[1])  # stable order for evaluation samples
    train = sorted(scored[n_held:], key=lambda s: s[1])
    return Split([d for _, _, d in train], [d for _, _, d in held], [i for _, i, _ in held])


def sample_prefix(docs: list[bytes], max_bytes: int) -> list[bytes]:
    """The first documents up to `max_bytes` in total (the last one cut): a fixed evaluation sample."""
    out, total = [], 0
    for d in docs:
        if total >= max_bytes:
            break
        out.append(d[: max_bytes - total])
        total += len(out[-1])
    return out


class PackedStream:
    """Shuffled-per-epoch, BOS-framed document stream cut into (B, T) batches; see the module docstring."""

    def __init__(self, docs: list[bytes], seed: int) -> None:
        if not docs:
            raise ValueError("no training documents")
        self.docs = [np.concatenate([[BOS_ID], np.frombuffer(d, np.uint8).astype(np.uint16) + OFFSET]) for d in docs]
        self.n_ids = sum(len(d) for d in self.docs)
        self.seed = seed
        self.epoch = 0
        self.cursor = 0
        self._epoch_ids: np.ndarray | None = None

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "cursor": self.cursor}

    def set_state(self, state: dict[str, int]) -> None:
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])
        self._epoch_ids = None

    def _ids(self) -> np.ndarray:
        if self._epoch_ids is None:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.docs))
            self._epoch_ids = np.concatenate([self.docs[i] for i in order])
        return self._epoch_ids

    def check_batch(self, batch_size: int, seq_len: int) -> None:
        """Refuse a batch shape the training split cannot fill even once (checked when the data is
        opened, so a run refused for it has not yet replaced anything in its output)."""
        if batch_size * seq_len + 1 > self.n_ids:
            raise ValueError(
                f"the training split has {self.n_ids:,} ids, fewer than one batch needs "
                f"({batch_size} x {seq_len} + 1); lower --batch-size or --seq-len"
            )

    def next_batch(self, batch_size: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(idx, targets), each (B, T) int64; the tail of an epoch too short for a batch is skipped."""
        self.check_batch(batch_size, seq_len)
        need = batch_size * seq_len + 1
        if self.cursor + need > self.n_ids:
            self.epoch, self.cursor, self._epoch_ids = self.epoch + 1, 0, None
        flat = torch.from_numpy(self._ids()[self.cursor : self.cursor + need].astype(np.int64))
        self.cursor += need - 1
        idx = flat[:-1].view(batch_size, seq_len)
        nxt = flat[1:].view(batch_size, seq_len)
        targets = nxt.masked_fill(nxt == BOS_ID, IGNORE_INDEX)  # never predict across a document boundary
        return idx, targets
