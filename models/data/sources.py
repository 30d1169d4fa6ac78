"""Documents of one or more bytepatch datasets, addressed by a single index, with a held-out split.

`DocumentSource` opens each dataset (DESIGN §5), checks that all of them were
patched the same way (and the way the run expects), and gives random access to
document k as a framed (BOS ... EOS) id array with patch lengths. Shards are read
once, lazily, and kept: Arrow IPC shards are memory-mapped (zero-copy, the OS pages
them in and out), Parquet shards are decoded into memory. That suits corpora up to
what fits in page cache / RAM; past that a loader would stream shards in a
shuffled order with a bounded shuffle buffer, trading exact global shuffling for
bounded memory.

The held-out split is by document id (`held_out_score`, sha256-based, shared with
the entropy-LM trainer): stable across runs, input order and shard layout, and the
same documents are held out whichever patcher segmented the corpus, so models
trained on differently patched copies of one corpus are evaluated on the same text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from bytepatch.dataset import open_dataset
from bytepatch.models.data.packing import Framed, frame
from bytepatch.models.entropy_lm.data import held_out_score


class DatasetMismatchError(ValueError):
    """A dataset was patched differently from the run (or from the other datasets)."""


def data_signature(metadata: dict[str, Any]) -> dict[str, Any]:
    """What a model trained on a dataset depends on: the patcher settings and the entropy model's fingerprint."""
    ent = metadata.get("entropy_model")
    return {
        "patcher": dict(metadata.get("patcher") or {}),
        "entropy_model_fingerprint": ent.get("fingerprint") if isinstance(ent, dict) else None,
    }


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


@dataclass
class _Shard:
    ids: list[str]
    byte_offsets: np.ndarray  # (n + 1,) int64 into data
    data: np.ndarray  # uint8
    patch_offsets: np.ndarray  # (n + 1,) into patch_values
    patch_values: np.ndarray  # int32


def _load_shard(table: pa.Table) -> _Shard:
    table = table.combine_chunks()
    b = table.column("bytes").chunk(0) if table.num_rows else pa.array([], pa.large_binary())
    p = table.column("patch_lengths").chunk(0) if table.num_rows else pa.array([], pa.list_(pa.int32()))
    b = b.cast(pa.large_binary())
    _, off_buf, data_buf = b.buffers()
    byte_offsets = np.frombuffer(off_buf, np.int64)[b.offset : b.offset + len(b) + 1]
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return _Shard(
        ids=table.column("id").to_pylist(),
        byte_offsets=byte_offsets,
        data=data,
        patch_offsets=p.offsets.to_numpy(),
        patch_values=p.values.to_numpy(zero_copy_only=False).astype(np.int32, copy=False),
    )


class DocumentSource:
    """All documents of `paths`, in dataset / shard / row order, as framed arrays."""

    def __init__(self, paths: list[str | Path], expected: dict[str, Any] | None = None, expected_from: str = "") -> None:
        if not paths:
            raise ValueError("no datasets given")
        self.paths = [Path(p) for p in paths]
        self.datasets = []
        for path in self.paths:
            try:
                self.datasets.append(open_dataset(path))
            except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
                raise ValueError(f"{path}: not a bytepatch dataset ({exc})") from exc
        sigs = [data_signature(ds.metadata) for ds in self.datasets]
        if expected is None:
            expected, expected_from = sigs[0], f"dataset {self.paths[0]}"
        for path, sig in zip(self.paths, sigs):
            check_signature(str(path), sig, expected, expected_from or "the run's config")
        self.signature = expected
        # (dataset, shard, row) of global document k, as flat arrays.
        counts = [[s["documents"] for s in ds.manifest["shards"]] for ds in self.datasets]
        self._where = np.array(
            [(d, s, r) for d, per in enumerate(counts) for s, n in enumerate(per) for r in range(n)], dtype=np.int64
        ).reshape(-1, 3)
        self._shards: dict[tuple[int, int], _Shard] = {}

    def __len__(self) -> int:
        return len(self._where)

    def _shard(self, d: int, s: int) -> _Shard:
        key = (d, s)
        if key not in self._shards:
            self._shards[key] = _load_shard(self.datasets[d].read_shard(s))
        return self._shards[key]

    def doc_id(self, k: int) -> str:
        d, s, r = self._where[k]
        return self._shard(int(d), int(s)).ids[int(r)]

    def raw(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(bytes as uint8, patch lengths) of document k, zero-copy views."""
        d, s, r = (int(x) for x in self._where[k])
        sh = self._shard(d, s)
        data = sh.data[sh.byte_offsets[r] : sh.byte_offsets[r + 1]]
        return data, sh.patch_values[sh.patch_offsets[r] : sh.patch_offsets[r + 1]]

    def framed(self, k: int) -> Framed:
        data, lengths = self.raw(k)
        return frame(data, lengths, name=f"{self.paths[int(self._where[k][0])]}: document {self.doc_id(k)!r}")

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
        scores = np.array([held_out_score(self.doc_id(k)) for k in every])
        if len(self) < 2:
            raise ValueError(f"need at least 2 documents to hold some out, got {len(self)}; pass --eval-dataset")
        order = np.argsort(scores, kind="stable")
        n_held = int(min(max((scores < held_out_fraction).sum(), 1), len(self) - 1))
        return np.sort(order[n_held:]), np.sort(order[:n_held])

    def total_bytes(self, indices: np.ndarray) -> int:
        return int(sum(len(self.raw(int(k))[0]) for k in indices))
