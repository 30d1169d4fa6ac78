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
        """Flat patch lengths, their per-document offsets, and (flat float16 entropies,
        offsets) when they are kept.

        Documents go in groups of about GROUP_BYTES, long ones alone and window by window,
        so the float32 entropies (4 bytes per byte) exist for one group at a time and a
        shard's memory stays near its own size.
        """
        keep = self.job.save_entropies and self.patcher.needs_entropies
        lengths: list[np.ndarray] = []
        counts: list[np.ndarray] = []
        kept: list[np.ndarray] = []
        for group in _groups(docs, self.job.window):
            if len(group) == 1 and len(group[0]) > self.job.window:
                rows, h = patch_long_document(self.patcher, group[0], self.model, self.job.window, keep)
                lengths.append(rows)
                counts.append(np.array([len(rows)]))
                if keep:
                    kept.append(h)
                continue
            patches, h = self._patch_batch(group)
            lengths.append(patches.values)
            counts.append(patches.row_lengths())
            if keep:
                kept.append(h.values.astype(np.float16))
        flat = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int32)
        offsets = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(np.concatenate(counts) if counts else [], out=offsets[1:])
        if not keep:
            return flat, offsets, None
        ent_offsets = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum([len(d) for d in docs], out=ent_offsets[1:])
        return flat, offsets, (np.concatenate(kept) if kept else np.zeros(0, np.float16), ent_offsets)

    def _patch_batch(self, docs: list[bytes]) -> tuple[Ragged, Ragged | None]:
        ragged = Ragged.from_bytes(docs)
        entropies = None
        if self.patcher.needs_entropies:
            if self.model is None:
                raise ValueError("the entropy patcher needs an entropy model")
            entropies = Ragged.from_arrays(self.model.entropies(docs), dtype=np.float32)
        return self.patcher.patch_batch(ragged, entropies), entropies


GROUP_BYTES = 4 << 20  # document bytes whose entropies are computed together


def _groups(docs: list[bytes], window: int):
    """Consecutive documents in groups of about GROUP_BYTES; a document over `window`
    bytes is a group of its own (it is patched in windows)."""
    group: list[bytes] = []
    size = 0
    for doc in docs:
        if len(doc) > window or (group and size + len(doc) > GROUP_BYTES):
            if group:
                yield group
            group, size = [], 0
        if len(doc) > window:
            yield [doc]
            continue
        group.append(doc)
        size += len(doc)
    if group:
        yield group


_STATE: dict[str, ShardWriter] = {}


def init_worker(job: ShardJob) -> None:
    _STATE["writer"] = ShardWriter(job)


def run_in_worker(chunk: Chunk) -> ShardInfo:
    return _STATE["writer"](chunk)
