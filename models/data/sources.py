"""Documents of one or more bytepatch datasets, addressed by a single index, with a held-out split.

`DocumentSource` opens each dataset (docs/design.md §5), checks that all of them were
patched the same way (and the way the run expects), and gives random access to
document k as a framed (BOS ... EOS) id array with patch lengths.

Memory stays bounded by a few shards, not the corpus: document k is found from
the manifest's per-shard counts (`np.searchsorted` over one offset per shard, no
per-document objects), a shard is indexed by (record batch, row) without
`combine_chunks` (Arrow IPC shards stay memory-mapped and zero-copy: the OS pages
them in and out), and only the `MAX_OPEN_SHARDS` most recently used shards are
kept open (an LRU; Parquet shards, which must be decoded, cost their decoded size
while open). Trade-off: a globally shuffled epoch touches shards in random order,
so on a corpus far larger than page cache each document read may fault its pages
in from disk; a loader streaming shards with a bounded shuffle buffer would trade
exact global shuffling for sequential reads.

The held-out split is by document id (`held_out_score`, sha256-based, shared with
the entropy-LM trainer): stable across runs, input order and shard layout, and the
same documents are held out whichever patcher segmented the corpus, so models
trained on differently patched copies of one corpus are evaluated on the same text.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from bytepatch.dataset import DatasetMetadata, DataSignature, open_dataset
from bytepatch.io.sources import refuse_one_path
from bytepatch.models.data.packing import Framed, frame
from bytepatch.models.entropy_lm.data import held_out_score
from bytepatch.models.errors import DataError, DatasetMismatchError
from bytepatch.patchers import PatcherSpec


def data_signature(metadata: dict[str, Any] | DatasetMetadata) -> dict[str, Any]:
    """What a model trained on a dataset depends on (`DataSignature`, as JSON): the patcher
    with every setting spelled out, and the entropy model's fingerprint."""
    if isinstance(metadata, DatasetMetadata):
        return metadata.signature().to_dict()
    ent = metadata.get("entropy_model")
    fingerprint = ent.get("fingerprint") if isinstance(ent, dict) else None
    return DataSignature(PatcherSpec.from_dict(metadata.get("patcher")), fingerprint).to_dict()


def check_signature(name: str, got: dict[str, Any], expected: dict[str, Any], expected_from: str) -> None:
    """Raise DatasetMismatchError naming the dataset and the first differing key."""
    want_p, got_p = expected.get("patcher", {}), got.get("patcher", {})
    for key in sorted(set(want_p) | set(got_p), key=lambda k: (k != "patcher", k)):  # the patcher's name first
        if want_p.get(key, "<unset>") != got_p.get(key, "<unset>"):
            raise DatasetMismatchError(
                f"dataset {name}: patcher setting {key!r} is {got_p.get(key, '<unset>')!r}, but {expected_from} "
                f"has {want_p.get(key, '<unset>')!r}; re-segment it with the same settings or train a separate run"
            )
    if got.get("entropy_model_fingerprint") != expected.get("entropy_model_fingerprint"):
        raise DatasetMismatchError(
            f"dataset {name}: entropy model fingerprint {got.get('entropy_model_fingerprint')!r} differs from "
            f"{expected.get('entropy_model_fingerprint')!r} in {expected_from}; its patches come from another "
            "entropy model"
        )


MAX_OPEN_SHARDS = 8  # shards kept open per source (LRU); memory-mapped IPC shards cost address space, not heap


@dataclass
class _Batch:
    """One record batch of a shard as zero-copy NumPy views (offsets index the full value buffers)."""

    ids: pa.Array  # string; converted to Python only on demand
    byte_offsets: np.ndarray  # (n + 1,) int32 or int64 into data
    data: np.ndarray  # uint8
    patch_offsets: np.ndarray  # (n + 1,) into patch_values
    patch_values: np.ndarray  # int32


@dataclass
class _Shard:
    starts: np.ndarray  # (batches + 1,) int64: first row of each record batch
    batches: list[_Batch]

    def locate(self, r: int) -> tuple[_Batch, int]:
        b = int(np.searchsorted(self.starts, r, side="right")) - 1
        return self.batches[b], r - int(self.starts[b])


def _load_batch(batch: pa.RecordBatch) -> _Batch:
    b = batch.column("bytes")
    p = batch.column("patch_lengths")
    if not pa.types.is_large_binary(b.type) and not pa.types.is_binary(b.type):
        b = b.cast(pa.large_binary())  # e.g. a string column written by another tool
    off_type = np.int64 if pa.types.is_large_binary(b.type) else np.int32
    _, off_buf, data_buf = b.buffers()
    byte_offsets = (
        np.frombuffer(off_buf, off_type)[b.offset : b.offset + len(b) + 1] if len(b) else np.zeros(1, off_type)
    )
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    values = p.values.to_numpy(zero_copy_only=False)
    return _Batch(
        ids=batch.column("id"),
        byte_offsets=byte_offsets,
        data=data,
        patch_offsets=p.offsets.to_numpy() if len(p) else np.zeros(1, np.int64),
        patch_values=values.astype(np.int32, copy=False),
    )


def _load_shard(table: pa.Table) -> _Shard:
    batches = [_load_batch(rb) for rb in table.to_batches() if rb.num_rows]
    counts = [len(rb.ids) for rb in batches]
    starts = np.zeros(len(batches) + 1, np.int64)
    np.cumsum(counts, out=starts[1:])
    return _Shard(starts, batches)


def content_signature(manifest: dict[str, Any]) -> dict[str, Any]:
    """What identifies a dataset's content cheaply: manifest totals and each shard's file,
    documents, bytes, patches and checksums (other text of the same sizes differs there)."""
    keys = ("documents", "bytes", "patches")
    shard_keys = (*keys, "crc32", "sha256")
    return {
        **{k: manifest.get(k) for k in keys},
        "shards": [{"file": sh.get("file"), **{k: sh.get(k) for k in shard_keys}} for sh in manifest.get("shards", [])],
    }


class DocumentSource:
    """All documents of `paths`, in dataset / shard / row order, as framed arrays."""

    def __init__(
        self,
        paths: list[str | Path],
        expected: dict[str, Any] | None = None,
        expected_from: str = "",
        max_open_shards: int = MAX_OPEN_SHARDS,
        *,
        check_patching: bool = True,
    ) -> None:
        """`expected`: the signature every dataset must have (None: the first dataset's).
        `check_patching=False`: datasets patched any way, alike or not, for a model that never
        reads patch boundaries (the byte baseline); `signature` is then the first dataset's."""
        refuse_one_path(paths, "paths", "dataset directories")
        if not paths:
            raise ValueError("no datasets given")
        self.paths = [Path(p) for p in paths]
        self.datasets = []
        for path in self.paths:
            try:
                self.datasets.append(open_dataset(path))
            except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
                raise ValueError(f"{path}: not a bytepatch dataset ({exc})") from exc
        sigs = [data_signature(ds.info) for ds in self.datasets]  # read strictly: a bad key names the dataset
        if expected is None or not check_patching:
            expected, expected_from = sigs[0], f"dataset {self.paths[0]}"
        for path, sig in zip(self.paths, sigs):
            if check_patching:
                check_signature(str(path), sig, expected, expected_from or "the run's config")
        self.signature = {
            "patcher": dict(expected.get("patcher") or {}),
            "entropy_model_fingerprint": expected.get("entropy_model_fingerprint"),
        }
        # Global document k lives in shard i = searchsorted(starts, k, "right") - 1, row k - starts[i].
        self._keys = [(d, s) for d, ds in enumerate(self.datasets) for s in range(len(ds.manifest["shards"]))]
        counts = [int(sh["documents"]) for ds in self.datasets for sh in ds.manifest["shards"]]
        self._starts = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=self._starts[1:])
        self._open: OrderedDict[int, _Shard] = OrderedDict()
        self._max_open = max(1, max_open_shards)
        self._lock = threading.Lock()  # the loader thread and held-out evaluation may share a source

    def __len__(self) -> int:
        return int(self._starts[-1])

    def content(self) -> list[dict[str, Any]]:
        """Per dataset: its path and `content_signature` (what a resumed run compares)."""
        return [{"path": str(p), **content_signature(ds.manifest)} for p, ds in zip(self.paths, self.datasets)]

    def _locate(self, k: int) -> tuple[int, int]:
        if not 0 <= k < len(self):
            raise IndexError(f"document {k} out of range for {len(self)} documents")
        i = int(np.searchsorted(self._starts, k, side="right")) - 1
        return i, k - int(self._starts[i])

    def _shard(self, i: int) -> _Shard:
        with self._lock:
            if i in self._open:
                self._open.move_to_end(i)
                return self._open[i]
        d, s = self._keys[i]
        shard = _load_shard(self.datasets[d].read_shard(s))  # ShardError (a ValueError) names a damaged file
        expected = int(self._starts[i + 1] - self._starts[i])
        if int(shard.starts[-1]) != expected:
            raise DataError(
                f"{self.datasets[d].shard_files[s]}: {int(shard.starts[-1])} rows, but the manifest "
                f"of {self.paths[d]} lists {expected}"
            )
        with self._lock:
            self._open[i] = shard
            self._open.move_to_end(i)
            while len(self._open) > self._max_open:
                self._open.popitem(last=False)
        return shard

    def _where(self, k: int) -> str:
        i, r = self._locate(k)
        d, s = self._keys[i]
        return f"{self.datasets[d].shard_files[s]} row {r}"

    def doc_id(self, k: int) -> str:
        i, r = self._locate(k)
        batch, j = self._shard(i).locate(r)
        return batch.ids[j].as_py()

    def raw(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(bytes as uint8, patch lengths) of document k, zero-copy views."""
        i, r = self._locate(k)
        b, j = self._shard(i).locate(r)
        data = b.data[b.byte_offsets[j] : b.byte_offsets[j + 1]]
        return data, b.patch_values[b.patch_offsets[j] : b.patch_offsets[j + 1]]

    # Under decoder_alignment="reference", set to `models.data.eos.end_rule(...)`: EOS then
    # follows the patcher's decision for the position after the last byte (no target leak).
    end_rule: Callable[[np.ndarray, np.ndarray], bool] | None = None

    def framed(self, k: int) -> Framed:
        data, lengths = self.raw(k)
        try:
            eos_starts = self.end_rule(data, lengths) if self.end_rule is not None and len(lengths) else True
            return frame(data, lengths, name=f"document {self.doc_id(k)!r}", eos_starts_patch=eos_starts)
        except ValueError as exc:
            raise DataError(f"{self._where(k)}: {exc}") from exc

    def _held_out_scores(self) -> np.ndarray:
        """Held-out scores of every document, shard by shard (ids are Python strings only transiently)."""
        scores = np.empty(len(self), np.float64)
        for i in range(len(self._keys)):
            base = int(self._starts[i])
            if base == int(self._starts[i + 1]):
                continue
            shard = self._shard(i)
            for b, start in zip(shard.batches, shard.starts):
                ids = b.ids.to_pylist()
                scores[base + int(start) : base + int(start) + len(ids)] = [held_out_score(x) for x in ids]
        return scores

    def split(self, held_out_fraction: float) -> tuple[np.ndarray, np.ndarray]:
        """(train, held-out) document indices; held out = `held_out_score(id) < fraction`.

        A fraction of 0 holds nothing out. Otherwise both sides are kept non-empty
        (with two or more documents) by moving the most extreme document across.
        """
        if not 0.0 <= held_out_fraction < 1.0:
            raise ValueError(f"held-out fraction must be in [0, 1), got {held_out_fraction}")
        every = np.arange(len(self))
        if held_out_fraction == 0.0:
            return every, every[:0]
        scores = self._held_out_scores()
        if len(self) < 2:
            raise ValueError(f"need at least 2 documents to hold some out, got {len(self)}; pass --eval-dataset")
        order = np.argsort(scores, kind="stable")
        n_held = int(min(max((scores < held_out_fraction).sum(), 1), len(self) - 1))
        return np.sort(order[n_held:]), np.sort(order[:n_held])

    def manifest_bytes(self) -> int:
        """Document bytes of every dataset, from the manifests' totals (no shard is read)."""
        return sum(int(ds.manifest.get("bytes") or 0) for ds in self.datasets)

    def total_bytes(self, indices: np.ndarray) -> int:
        """Document bytes of `indices`, from the byte offsets (no document is copied)."""
        indices = np.asarray(indices, dtype=np.int64)
        shard_of = np.searchsorted(self._starts, indices, side="right") - 1
        total = 0
        for i in np.unique(shard_of):
            shard = self._shard(int(i))
            rows = indices[shard_of == i] - self._starts[i]
            which = np.searchsorted(shard.starts, rows, side="right") - 1
            for b in np.unique(which):
                batch, j = shard.batches[int(b)], rows[which == b] - shard.starts[b]
                total += int((batch.byte_offsets[j + 1].astype(np.int64) - batch.byte_offsets[j]).sum())
        return total
