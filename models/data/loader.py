"""The training loader: shuffled, rank-sharded, packed BLT batches from a background thread, resumable exactly.

    source = DocumentSource(["data/a", "data/b"])
    train_docs, held_out = source.split(0.05)
    loader = PackedLoader(source, train_docs, batch_size=8, seq_len=1024, seed=0, rank=0, world_size=1)
    batch = next(loader)          # dict of torch tensors: ids, targets, patch_lengths (+ n_bytes int)
    state = loader.state_dict()   # where the *next* batch starts; small plain dict
    loader.load_state_dict(state) # continues with exactly that batch

Order: epoch e shuffles the training documents with a generator seeded by
(seed, e); rank r of w takes every w-th document of that permutation (`perm[r::w]`),
so the ranks' documents are disjoint and together cover the epoch. Each rank packs
its own document stream into rows (`packing`), and the loader never ends: after the
last document of an epoch the next epoch's permutation follows (rows may span the
seam). The position is (epoch, document, offset): three integers.

Background worker: one thread packs batches ahead into a bounded queue (NumPy
slicing and concatenation, which release the GIL for the bulk of the work) while
the training step runs. Each queued batch carries the position *after* it, and
`state_dict()` returns the position after the last batch handed out, so batches
prefetched but not yet consumed are simply packed again after a resume. Trade-off:
a thread rather than DataLoader worker processes; packing is cheap next to a model
step, and a thread needs no pickling of the memory-mapped shards.

`evaluation_batches` is the finite, unshuffled counterpart for held-out evaluation
(`packed_batches` packs any finite stream of framed documents the same way).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from bytepatch.ids import VOCAB_SIZE
from bytepatch.models.blt.model import validate_inputs
from bytepatch.models.data.packing import Framed, collate, pack_row
from bytepatch.models.data.sources import DocumentSource

STATE_VERSION = 1


def check_sizes(batch_size: Any, seq_len: Any, rank: Any = 0, world_size: Any = 1) -> None:
    """Integers in range, checked where the loader is made: the packing thread raised
    on a float batch_size only once started ("data loader worker failed: 'float' object
    cannot be interpreted as an integer"), and evaluation gave no batch at all for 0."""
    for name, value in (("batch_size", batch_size), ("seq_len", seq_len), ("rank", rank), ("world_size", world_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if batch_size < 1 or seq_len < 2:
        raise ValueError(f"need batch_size >= 1 and seq_len >= 2, got {batch_size}, {seq_len}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} out of range for world size {world_size}")


def document_indices(docs: Any, n_docs: int) -> np.ndarray:
    """`docs` as int64 indices of a source of `n_docs` documents (what `DocumentSource.split`
    returns). A boolean mask was read as the indices 0 and 1, fractional indices were
    truncated, and an index out of range failed only when the shuffled stream reached
    it, in the packing thread, possibly deep into training."""
    arr = np.asarray(docs)
    if arr.ndim != 1:
        raise ValueError(f"docs must be a 1-D array of document indices, got shape {arr.shape}")
    if arr.dtype == np.bool_:
        raise ValueError("docs are document indices, not a boolean mask; pass np.flatnonzero(mask)")
    if len(arr) and arr.dtype.kind not in "iu":
        raise ValueError(f"docs are document indices (integers), got {arr.dtype}")
    arr = arr.astype(np.int64)
    outside = (arr < 0) | (arr >= n_docs)
    if outside.any():
        raise ValueError(f"docs: document index {int(arr[outside][0])} is out of range for {n_docs} documents")
    return arr


def to_torch(batch: dict[str, Any]) -> dict[str, Any]:
    """A collated batch as CPU tensors, its ids and patch lengths checked here, on the host.

    The check is why the model's forward need not read values (a device sync each) on an accelerator.
    """
    out = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in batch.items()}
    validate_inputs(out["ids"], out["patch_lengths"], VOCAB_SIZE)
    return out


class _Stream:
    """The rank's framed-document stream across epochs: stream index k -> (epoch, j) -> document."""

    def __init__(self, source: DocumentSource, docs: np.ndarray, seed: int, rank: int, world_size: int) -> None:
        self.source, self.docs, self.seed, self.rank, self.world = source, docs, seed, rank, world_size
        self.per_epoch = len(range(rank, len(docs), world_size))
        self._order: tuple[int, np.ndarray] | None = None
        self._last: tuple[int, Framed] | None = None  # the document the previous row ended in

    def epoch_order(self, epoch: int) -> np.ndarray:
        if self._order is None or self._order[0] != epoch:
            perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.docs))
            self._order = (epoch, self.docs[perm[self.rank :: self.world]])
        return self._order[1]

    def get(self, k: int) -> Framed:
        """Framed document k; the last one is kept, so a document spanning many rows is framed once."""
        if self._last is None or self._last[0] != k:
            epoch, j = divmod(k, self.per_epoch)
            self._last = k, self.source.framed(int(self.epoch_order(epoch)[j]))
        return self._last[1]


class PackedLoader:
    """Infinite iterator of packed batches; see the module docstring."""

    _thread: threading.Thread | None = None  # set here too: `close` (from `__del__`) runs on a refused one

    def __init__(
        self,
        source: DocumentSource,
        docs: np.ndarray,
        *,
        batch_size: int,
        seq_len: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        prefetch: int = 4,
    ) -> None:
        check_sizes(batch_size, seq_len, rank, world_size)
        docs = document_indices(docs, len(source))
        if len(docs) < world_size:
            raise ValueError(f"{len(docs)} training documents cannot be sharded over {world_size} ranks")
        self.batch_size, self.seq_len, self.prefetch = batch_size, seq_len, prefetch
        self._stream = _Stream(source, docs, seed, rank, world_size)
        self._meta = {"seed": seed, "rank": rank, "world_size": world_size, "num_docs": len(docs)}
        self._position = 0, 0  # (stream document index k, offset into its framed ids) of the next batch
        self._thread: threading.Thread | None = None
        self._queue: queue.Queue | None = None
        self._stop = threading.Event()

    # -- position -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, int]:
        k, offset = self._position
        epoch, doc = divmod(k, self._stream.per_epoch)
        return {"version": STATE_VERSION, "epoch": epoch, "doc": doc, "offset": offset, **self._meta}

    def load_state_dict(self, state: dict[str, int]) -> None:
        for key, value in self._meta.items():
            if state.get(key) != value:
                raise ValueError(
                    f"loader state was saved with {key}={state.get(key)!r}, this loader has {value!r}; "
                    "resume with the same datasets, seed and number of ranks"
                )
        self.close()
        self._position = int(state["epoch"]) * self._stream.per_epoch + int(state["doc"]), int(state["offset"])

    # -- producing batches -----------------------------------------------------------------
    def _pack(self, position: tuple[int, int]) -> tuple[dict[str, Any], tuple[int, int]]:
        rows = []
        for _ in range(self.batch_size):
            packed = pack_row(self._stream.get, position, self.seq_len)
            assert packed is not None  # the stream is infinite
            row, position = packed
            rows.append(row)
        return collate(rows), position

    def _work(self, start: tuple[int, int], out: queue.Queue, stop: threading.Event) -> None:
        def put(item: tuple[Any, Any]) -> None:
            while not stop.is_set():  # a timeout, so that close() never waits on a full queue
                try:
                    return out.put(item, timeout=0.1)
                except queue.Full:
                    continue

        position = start
        try:
            while not stop.is_set():
                batch, position = self._pack(position)
                put((batch, position))
        except BaseException as exc:  # hand the error to the consumer instead of dying silently
            put((exc, None))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self

    def __next__(self) -> dict[str, Any]:
        if self.prefetch <= 0:  # synchronous path (same batches; used to test the thread)
            batch, self._position = self._pack(self._position)
            return to_torch(batch)
        if self._thread is None:
            self._stop = threading.Event()
            self._queue = queue.Queue(maxsize=self.prefetch)
            self._thread = threading.Thread(
                target=self._work, args=(self._position, self._queue, self._stop), daemon=True, name="bytepatch-loader"
            )
            self._thread.start()
        assert self._queue is not None
        batch, position = self._queue.get()
        if position is None:
            self.close()
            if isinstance(batch, ValueError):  # bad data (DataError, ShardError): its message names where
                raise batch
            raise RuntimeError(f"data loader worker failed: {batch}") from batch
        self._position = position
        return to_torch(batch)

    def close(self) -> None:
        """Stop the worker thread (idempotent); the next `next()` restarts it from the current position."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread, self._queue = None, None

    def __del__(self) -> None:
        self.close()


def evaluation_batches(
    source: DocumentSource, docs: np.ndarray, *, batch_size: int, seq_len: int, rank: int = 0, world_size: int = 1
) -> Iterator[dict[str, Any]]:
    """Held-out documents `docs[rank::world_size]` in order, packed like training rows; the last batch may be short."""
    check_sizes(batch_size, seq_len, rank, world_size)
    mine = document_indices(docs, len(source))[rank::world_size]

    last: list[tuple[int, Framed]] = []  # the document the previous row ended in, framed once

    def get(k: int) -> Framed | None:
        if k >= len(mine):
            return None
        if not last or last[0][0] != k:
            last[:] = [(k, source.framed(int(mine[k])))]
        return last[0][1]

    return packed_batches(get, batch_size=batch_size, seq_len=seq_len)


def packed_batches(get: Callable[[int], Framed | None], *, batch_size: int, seq_len: int) -> Iterator[dict[str, Any]]:
    """Every row of the finite document stream `get` (`pack_row`'s: framed document k, or
    None past the end), packed exactly as in training, `batch_size` rows a batch; the last
    batch may be short. What evaluation uses, for datasets and for text patched on the fly."""
    position: tuple[int, int] = (0, 0)
    while True:
        rows = []
        for _ in range(batch_size):
            packed = pack_row(get, position, seq_len, pad=False)  # the last row as long as it is
            if packed is None:
                break
            row, position = packed
            rows.append(row)
        if not rows:
            return
        yield to_torch(collate(rows))
