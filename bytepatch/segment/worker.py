"""Turns one chunk into one shard: entropies (if needed), patch lengths, atomic write.

Runs in the main process (`--workers 1`) or in pool processes. A pool process builds
its patcher and entropy model once, in the initializer, and keeps them in this
module's `_STATE` for its lifetime: the standard multiprocessing pattern, since pool
tasks cannot carry a loaded model cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from bytepatch.dataset.files import write_shard
from bytepatch.dataset.manifest import ShardInfo
from bytepatch.dataset.schema import build_table
from bytepatch.patchers import Patcher, patcher_from_dict
from bytepatch.ragged import Ragged
from bytepatch.segment.chunks import Chunk
from bytepatch.segment.errors import OutputError
from bytepatch.segment.layout import JobLayout
from bytepatch.segment.windows import DEFAULT_WINDOW, patch_long_document


@dataclass(frozen=True)
class ShardJob:
    """Everything a worker needs besides the chunk (picklable)."""

    layout: JobLayout
    schema: pa.Schema
    patcher: dict[str, Any]
    model_factory: Callable[[], Any] | None
    save_entropies: bool
    window: int = DEFAULT_WINDOW  # documents longer than this are patched in windows


class ShardWriter:
    def __init__(self, job: ShardJob, model: Any = None) -> None:
        self.job = job
        if model is None and job.model_factory is not None:
            model = job.model_factory()
        self.model = model
        self.patcher: Patcher = patcher_from_dict(job.patcher, model=model)

    def __call__(self, chunk: Chunk) -> ShardInfo:
        lengths, patch_offsets, entropies = self._patch(chunk.docs)
        stored = entropies if self.job.save_entropies else None
        table = build_table(chunk.ids, chunk.docs, lengths, patch_offsets, self.job.schema, stored)
        n_bytes = sum(len(d) for d in chunk.docs)
        layout = self.job.layout
        name = layout.shard_name(chunk.index)
        try:
            size = write_shard(table, layout.out / name, layout.shard_format)
        except OSError as exc:  # disk full, quota, permissions: the temporary is already gone
            raise OutputError(f"{layout.out / name}: cannot write shard: {exc}") from exc
        return ShardInfo(chunk.index, name, len(chunk.docs), n_bytes, len(lengths), size)

    def _patch(self, docs: list[bytes]) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        """Flat patch lengths, their per-document offsets, and (flat entropies, offsets)."""
        if all(len(d) <= self.job.window for d in docs):
            return self._patch_batch(docs)
        # Mixed: short documents as one batch, long ones window by window, then re-joined
        # in document order.
        keep = self.job.save_entropies and self.patcher.needs_entropies
        short = [i for i, d in enumerate(docs) if len(d) <= self.job.window]
        rows: list = [None] * len(docs)
        lengths, offsets, ent = self._patch_batch([docs[i] for i in short])
        for j, i in enumerate(short):
            h = ent[0][ent[1][j] : ent[1][j + 1]].astype(np.float16) if ent is not None else None
            rows[i] = (lengths[offsets[j] : offsets[j + 1]], h)
        for i, d in enumerate(docs):
            if rows[i] is None:
                rows[i] = patch_long_document(self.patcher, d, self.model, self.job.window, keep)
        flat = Ragged.from_arrays([r[0] for r in rows], dtype=np.int32)
        stored = Ragged.from_arrays([r[1] for r in rows], dtype=np.float16) if keep else None
        return flat.values, flat.offsets, (stored.values, stored.offsets) if stored is not None else None

    def _patch_batch(self, docs: list[bytes]) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        ragged = Ragged.from_bytes(docs)
        entropies = None
        if self.patcher.needs_entropies:
            if self.model is None:
                raise ValueError("the entropy patcher needs an entropy model")
            entropies = Ragged.from_arrays(self.model.entropies(docs), dtype=np.float32)
        patches = self.patcher.patch_batch(ragged, entropies)
        return patches.values, patches.offsets, (entropies.values, entropies.offsets) if entropies is not None else None


_STATE: dict[str, ShardWriter] = {}


def init_worker(job: ShardJob) -> None:
    _STATE["writer"] = ShardWriter(job)


def run_in_worker(chunk: Chunk) -> ShardInfo:
    return _STATE["writer"](chunk)
