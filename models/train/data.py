"""What the trainer reads: segmented datasets (BLT, baseline) or raw documents (the entropy LM).

Both kinds offer the same few things, so one loop trains every model:

    batch = next(data)          # host tensors: ids, targets (B, T); patch_lengths or doc_ids
    data.state_dict() / data.load_state_dict(state)      # the exact data position (resume)
    data.evaluate(model_type, model, device, amp, max_batches) -> (bits, bytes) on this rank
    data.info                   # what the checkpoint records about the data (checked on resume)

`DatasetData` reads `bytepatch segment` output through `PackedLoader` (rows framed
with BOS/EOS, patch lengths, rank-sharded) and scores held-out rows in bits per
byte. `DocumentData` packs raw documents as the entropy LM is trained
(`entropy_lm.data.PackedStream`: BOS-framed, attention kept inside each document
by `doc_ids`) and scores a fixed held-out sample through the streaming scorer that
patching uses, keeping the entropies so `train-entropy` can calibrate on them.
Under data parallelism every rank draws the same stream and keeps its own batch of
each `world` consecutive ones, so the position stays one pair of integers.
"""

from __future__ import annotations

import zlib

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bytepatch.entropy.ref import EntropyModelRef
from bytepatch.models.data import DocumentSource, PackedLoader, evaluation_batches
from bytepatch.models.data.eos import end_rule_for
from bytepatch.models.nn.layers import doc_ids_from_bos
from bytepatch.models.train.metrics import bits_per_byte
from bytepatch.models.train.step import TrainingError


class DatasetData:
    """Packed rows of segmented datasets; held-out documents by id hash or from `eval_datasets`."""

    def __init__(
        self,
        datasets: list[str | Path],
        eval_datasets: list[str | Path] | None,
        *,
        expected: Any,
        expected_from: str,
        batch_size: int,
        seq_len: int,
        seed: int,
        eval_fraction: float,
        prefetch: int,
        rank: int,
        world: int,
        reference_eos: bool = False,
        check_patching: bool = True,
    ) -> None:
        """`reference_eos`: frame EOS by the patcher's rule (a BLT with decoder_alignment="reference").
        `check_patching=False` (the byte baseline, which reads no patch boundaries): the datasets
        may be patched any way, and `expected` is not compared."""
        self.rank, self.world, self.batch_size, self.seq_len = rank, world, batch_size, seq_len
        _check_distinct_paths(datasets, eval_datasets or [])
        source = DocumentSource(
            list(datasets),
            expected,
            expected_from if expected is not None else "",
            check_patching=check_patching,
        )
        if eval_datasets:
            held = DocumentSource(
                list(eval_datasets),
                source.signature,
                f"training dataset {source.paths[0]}",
                check_patching=check_patching,
            )
            train_docs, held_docs = source.split(0.0)[0], held.split(0.0)[0]
        else:
            held = source
            train_docs, held_docs = source.split(eval_fraction)
        _check_distinct_content(source, held if eval_datasets else None)
        _check_has_bytes(source, held, held_docs, bool(eval_datasets))
        if reference_eos:  # before the loader starts packing rows
            source.end_rule = held.end_rule = end_rule_for(
                source.signature, source.datasets[0].metadata.get("entropy_model")
            )
        self.source, self.held, self.held_docs = source, held, held_docs
        self.n_train, self.n_held = len(train_docs), len(held_docs)
        self.loader = PackedLoader(
            source,
            train_docs,
            batch_size=batch_size,
            seq_len=seq_len,
            seed=seed,
            rank=rank,
            world_size=world,
            prefetch=prefetch,
        )
        # Absolute: a resume (and eval's search for the entropy model) may run from another directory.
        self.info = {
            "datasets": [str(p.resolve()) for p in source.paths],
            "eval_datasets": [str(p.resolve()) for p in held.paths] if eval_datasets else [],
            "eval_content": held.content() if eval_datasets else [],
            "patcher": source.signature["patcher"],
            "entropy_model": _entropy_model_json(source.datasets[0].info.entropy_model),
            "signature": source.signature,
            "content": source.content(),
        }

    def __next__(self) -> dict[str, Any]:
        return next(self.loader)

    def state_dict(self) -> dict[str, Any]:
        return self.loader.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.loader.load_state_dict(state)

    def close(self) -> None:
        self.loader.close()

    def check_resume(self, path: Path, saved: dict[str, Any]) -> None:
        """Refuse a resume on other datasets: same paths (resolved) and the same content signature per dataset."""
        if "content" not in saved:  # checkpoints before content signatures: the loader compares document counts
            return
        was = [Path(p).resolve() for p in saved["datasets"]]
        now = [p.resolve() for p in self.source.paths]
        if was != now:
            raise TrainingError(
                f"{path}: the run was trained on {', '.join(map(str, was))}, not "
                f"{', '.join(map(str, now))}; resume with the same datasets in the same order"
            )
        _check_same_content(path, saved["content"], self.source.content())
        if "eval_datasets" in saved:  # checkpoints of every version with content signatures have it
            was = [Path(p).resolve() for p in saved["eval_datasets"]]
            now = [Path(p).resolve() for p in self.info["eval_datasets"]]
            if was != now:
                shown = ", ".join(map(str, was)) or "a held-out share of the training data"
                raise TrainingError(f"{path}: the run was evaluated on {shown}; resume with the same --eval-dataset")
            _check_same_content(path, saved.get("eval_content", []), self.held.content() if now else [])

    def evaluate(
        self,
        model_type: str,
        model: torch.nn.Module,
        device: torch.device,
        amp: torch.dtype | None,
        max_batches: int | None,
        sharded: bool = False,
    ) -> tuple[float, int]:
        """(bits, byte targets) over this rank's share of the held-out rows.

        `sharded` (FSDP): every forward is a collective, so every rank runs every rank's
        share (the same batches, in step) and keeps the sums of its own: the figure
        equals the replicated (DDP) one.
        """
        total = (0.0, 0)
        for r in range(self.world) if sharded else [self.rank]:
            batches = evaluation_batches(
                self.held,
                self.held_docs,
                batch_size=self.batch_size,
                seq_len=self.seq_len,
                rank=r,
                world_size=self.world,
            )
            bits, n_bytes, _ = bits_per_byte(model_type, model, batches, device, amp, max_batches)
            if r == self.rank:
                total = (bits, n_bytes)
        return total


class DocumentData:
    """Raw (id, bytes) documents packed as the entropy LM is trained; see the module docstring."""

    def __init__(
        self,
        docs: Iterable[tuple[str, bytes]],
        *,
        batch_size: int,
        seq_len: int,
        seed: int,
        eval_fraction: float,
        eval_bytes: int,
        rank: int,
        world: int,
        record: dict[str, Any] | None = None,
    ) -> None:
        """`record`: more settings kept with the checkpoint's data section (what a resume
        takes unless told otherwise), not compared on resume."""
        from bytepatch.models.entropy_lm.data import PackedStream, sample_prefix, split_documents

        split = split_documents(docs, eval_fraction)
        self.eval_docs = sample_prefix(split.held_out, eval_bytes)
        self.stream = PackedStream(split.train, seed)
        self.stream.check_batch(batch_size, seq_len)
        self.rank, self.world, self.batch_size, self.seq_len = rank, world, batch_size, seq_len
        self.n_train, self.n_held = len(split.train), len(split.held_out)
        corpus = {
            "train_documents": len(split.train),
            "train_bytes": sum(map(len, split.train)),
            "held_out_documents": len(split.held_out),
            "held_out_bytes": sum(map(len, split.held_out)),
            "crc32": _documents_crc(split.train + split.held_out),  # other text of the same sizes differs here
        }
        self.info = {**(record or {}), "corpus": corpus, "eval_bytes": eval_bytes}
        self.entropies: list[np.ndarray] | None = None  # of the latest evaluation, for calibration

    def __next__(self) -> dict[str, Any]:
        for r in range(self.world):  # every rank walks the same stream and keeps batch number `rank`
            ids, targets = self.stream.next_batch(self.batch_size, self.seq_len)
            if r == self.rank:
                mine = {"ids": ids, "targets": targets, "doc_ids": doc_ids_from_bos(ids)}
        return mine

    def state_dict(self) -> dict[str, Any]:
        return self.stream.state()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stream.set_state(state)

    def close(self) -> None:
        pass

    def check_resume(self, path: Path, saved: dict[str, Any]) -> None:
        corpus = dict(self.info["corpus"])
        if "crc32" not in (saved.get("corpus") or {}):  # a checkpoint from before the digest
            corpus.pop("crc32")
        if saved.get("corpus") != corpus:
            raise TrainingError(
                f"{path}: the inputs differ from the checkpointed run ({saved.get('corpus')} vs {corpus})"
            )
        if saved.get("eval_bytes") != self.info["eval_bytes"]:
            raise TrainingError(
                f"{path}: cannot resume with different settings (eval_bytes: "
                f"{saved.get('eval_bytes')!r} -> {self.info['eval_bytes']!r})"
            )

    def evaluate(
        self,
        model_type: str,
        model: torch.nn.Module,
        device: torch.device,
        amp: torch.dtype | None,
        max_batches: int | None,
        sharded: bool = False,
    ) -> tuple[float, int]:
        """(bits, bytes) of the held-out sample through the streaming scorer, on rank 0 (the others add 0).

        The streaming scorer reads weights directly, so a sharded (FSDP) model is first
        gathered into a plain copy (a collective: every rank takes part).
        """
        from bytepatch.entropy.base import score
        from bytepatch.models.entropy_lm.model import TransformerEntropyModel
        from bytepatch.models.train.parallel import unsharded_copy

        if sharded:
            model = unsharded_copy(model)
        if self.rank != 0:
            return 0.0, 0
        was_training = model.training
        lm = TransformerEntropyModel(model, device=device.type)  # shares the module; scoring puts it in eval mode
        try:
            self.entropies, bits, n = score(lm, self.eval_docs)
        finally:
            model.train(was_training)
        return (bits, n) if self.rank == 0 else (0.0, 0)


def _check_distinct_paths(datasets: list[str | Path], eval_datasets: list[str | Path]) -> None:
    """Refuse a dataset named twice (its documents would be trained on twice, or scored twice)
    and an `--eval-dataset` that is a training dataset (held-out bits/byte would be measured
    on training data). Paths are compared resolved: `data`, `./data` and a link to it are one."""
    seen: dict[Path, tuple[str, str]] = {}
    for role, paths in (("dataset", datasets), ("--eval-dataset", eval_datasets)):
        for path in paths:
            resolved = Path(path).resolve()
            if resolved not in seen:
                seen[resolved] = (role, str(path))
                continue
            first_role, first = seen[resolved]
            if first_role != role:
                raise ValueError(
                    f"--eval-dataset {path} is also a training dataset ({first}): held-out bits per byte "
                    "would be measured on training data; hold out another dataset"
                )
            raise ValueError(f"{role} {path} is given twice ({first} and {path}); name each dataset once")


def _check_distinct_content(source: DocumentSource, held: DocumentSource | None) -> None:
    """Refuse datasets that share a shard (same checksum, documents and bytes): a copy of a
    dataset, or one built from another's shards, would be trained on twice or held out from itself."""
    owner: dict[str, tuple[str, Path]] = {}
    for role, src in (("dataset", source), ("--eval-dataset", held)):
        for entry in src.content() if src is not None else []:
            for shard in entry["shards"]:
                digest = shard.get("sha256") or shard.get("crc32")
                if not digest or not shard.get("documents"):  # empty shards are alike in every dataset
                    continue
                key = f"{digest}:{shard.get('documents')}:{shard.get('bytes')}"
                here = (f"{role} {entry['path']}", Path(entry["path"]) / str(shard.get("file")))
                first = owner.setdefault(key, here)
                if first[0] == here[0]:
                    continue
                what = {
                    "dataset": "its documents would be trained on twice",
                    "--eval-dataset": "its documents would be scored twice",
                }[role]
                if not first[0].startswith(role):
                    what = "held-out bits per byte would be measured on training data"
                raise ValueError(
                    f"{here[0]} holds the same shard as {first[0]} ({here[1]} = {first[1]}): {what}; "
                    "use datasets with distinct documents"
                )


def _check_has_bytes(source: DocumentSource, held: DocumentSource, held_docs: np.ndarray, eval_given: bool) -> None:
    """Refuse training or held-out documents without a byte: bits per byte of no bytes is
    undefined, and a run would report 0.000 for a model that learnt nothing. Totals come
    from the manifests; the held-out share's bytes from its shards (the split read them)."""
    names = lambda src: ", ".join(map(str, src.paths))  # noqa: E731
    held_bytes = held.total_bytes(held_docs) if len(held_docs) else 0
    if eval_given and not held_bytes:
        raise ValueError(f"--eval-dataset {names(held)}: no bytes to evaluate (no documents, or only empty ones)")
    if not len(held_docs):
        raise ValueError("no held-out documents: set train.eval_fraction > 0 or pass --eval-dataset")
    train_bytes = source.manifest_bytes() - (0 if eval_given else held_bytes)
    if not train_bytes:
        raise ValueError(f"{names(source)}: no bytes to train on (no documents, or only empty ones)")
    if not held_bytes:
        raise ValueError(
            f"{names(source)}: the held-out documents are all empty, so nothing can be evaluated; "
            "pass --eval-dataset or change train.eval_fraction"
        )


def _entropy_model_json(ref: EntropyModelRef | None) -> dict[str, Any] | None:
    """The checkpoint's record of the datasets' entropy model (`EntropyModelRef` as JSON)."""
    return None if ref is None else ref.to_dict()


def _check_same_content(path: Path, saved: list[dict[str, Any]], current: list[dict[str, Any]]) -> None:
    """Refuse a resume on a dataset whose manifest changed: totals, shards and (for
    checkpoints that recorded them) each shard's checksums."""
    for old, new in zip(saved, current):
        old_c, new_c = ({k: v for k, v in c.items() if k != "path"} for c in (old, new))
        keys = set().union(*(sh.keys() for sh in old_c.get("shards", [])))
        if keys:  # compare what the checkpoint recorded: older ones have no shard checksums
            new_c["shards"] = [{k: v for k, v in sh.items() if k in keys} for sh in new_c["shards"]]
        if old_c == new_c:
            continue
        counts = [(c["documents"], c["bytes"], len(c["shards"])) for c in (old_c, new_c)]
        what = (
            "its shards' checksums differ from the ones the run saw"
            if counts[0] == counts[1]
            else f"its manifest lists {new_c['documents']} documents, {new_c['bytes']} bytes in "
            f"{len(new_c['shards'])} shards; the run saw {old_c['documents']}, {old_c['bytes']}, "
            f"{len(old_c['shards'])}"
        )
        raise TrainingError(
            f"{path}: dataset {new['path']} changed since the checkpoint ({what}); resume on the same "
            "data or start a new run"
        )


def _documents_crc(docs: list[bytes]) -> str:
    """CRC-32 over the documents and their lengths, in order."""
    crc = 0
    for doc in docs:
        crc = zlib.crc32(doc, zlib.crc32(len(doc).to_bytes(8, "little"), crc))
    return f"{crc:08x}"
