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


@dataclass(frozen=True)
class ShardJob:
    """Everything a worker needs besides the chunk (picklable)."""

    layout: JobLayout
    schema: pa.Schema
    patcher: dict[str, Any]
    model_factory: Callable[[], Any] | None
    save_entropies: bool


class ShardWriter:
    def __init__(self, job: ShardJob) -> None:
        self.job = job
        model = job.model_factory() if job.model_factory is not None else None
        self.model = model
        self.patcher: Patcher = patcher_from_dict(job.patcher, model=model)

    def __call__(self, chunk: Chunk) -> ShardInfo:
        docs = Ragged.from_bytes(chunk.docs)
        entropies = None
        if self.patcher.needs_entropies:
            if self.model is None:
                raise ValueError("the entropy patcher needs an entropy model")
            entropies = Ragged.from_arrays(self.model.entropies(chunk.docs), dtype=np.float32)
        patches = self.patcher.patch_batch(docs, entropies)
        stored = (entropies.values, entropies.offsets) if (self.job.save_entropies and entropies is not None) else None
        table = build_table(chunk.ids, chunk.docs, patches.values, patches.offsets, self.job.schema, stored)
        layout = self.job.layout
        name = layout.shard_name(chunk.index)
        try:
            size = write_shard(table, layout.out / name, layout.shard_format)
        except OSError as exc:  # disk full, quota, permissions: the temporary is already gone
            raise OutputError(f"{layout.out / name}: cannot write shard: {exc}") from exc
        return ShardInfo(chunk.index, name, len(chunk.docs), int(docs.offsets[-1]), len(patches.values), size)


_STATE: dict[str, ShardWriter] = {}


def init_worker(job: ShardJob) -> None:
    _STATE["writer"] = ShardWriter(job)


def run_in_worker(chunk: Chunk) -> ShardInfo:
    return _STATE["writer"](chunk)
