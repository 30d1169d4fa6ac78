"""The loader: seeded shuffling, rank sharding, exact resume, the background thread, mismatch refusal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bytepatch.ids import BOS_ID, EOS_ID, OFFSET
from bytepatch.models.data import DatasetMismatchError, DocumentSource, PackedLoader, evaluation_batches

from .conftest import write_dataset


def batches(loader: PackedLoader, n: int) -> list[dict]:
    out = [next(loader) for _ in range(n)]
    loader.close()
    return out


def same(a: list[dict], b: list[dict]) -> bool:
    return all(torch.equal(x[k], y[k]) for x, y in zip(a, b, strict=True) for k in ("ids", "targets", "patch_lengths"))


def decode_docs(ids: torch.Tensor) -> list[bytes]:
    """Documents of a contiguous id stream: the bytes between each BOS and the following EOS."""
    flat = ids.flatten().tolist()
    out, current = [], None
    for i in flat:
        if i == BOS_ID:
            current = []
        elif i == EOS_ID and current is not None:
            out.append(bytes(current))
            current = None
        elif current is not None:
            current.append(i - OFFSET)
    return out


def test_batches_have_the_documented_shapes(space_dataset: Path):
    source = DocumentSource([space_dataset])
    b = next(PackedLoader(source, np.arange(len(source)), batch_size=3, seq_len=32, prefetch=0))
    assert b["ids"].shape == b["targets"].shape == (3, 32) and b["ids"].dtype == torch.int64
    assert (b["patch_lengths"].sum(1) == 32).all()
    assert b["n_bytes"] == int((b["targets"] >= OFFSET).sum())


def test_shuffling_is_seeded_and_the_thread_changes_nothing(space_dataset: Path):
    source = DocumentSource([space_dataset])
    docs = np.arange(len(source))
    make = lambda seed, prefetch: PackedLoader(source, docs, batch_size=2, seq_len=48, seed=seed, prefetch=prefetch)  # noqa: E731
    a = batches(make(1, 0), 12)
    assert same(a, batches(make(1, 3), 12))
    assert not same(a, batches(make(2, 0), 12))


def test_ranks_are_disjoint_and_cover_each_epoch(space_dataset: Path, docs: list[str]):
    source = DocumentSource([space_dataset])
    everything = np.arange(len(source))
    seen = []
    for rank in range(3):
        loader = PackedLoader(source, everything, batch_size=1, seq_len=64, seed=5, rank=rank, world_size=3, prefetch=0)
        rows = []
        while loader.state_dict()["epoch"] == 0:  # one epoch of this rank's stream
            rows.append(next(loader)["ids"])
        seen.append(decode_docs(torch.cat([r.flatten() for r in rows]))[: len(range(rank, len(docs), 3))])
    flat = [d for per in seen for d in per]
    assert sorted(flat) == sorted(d.encode() for d in docs)  # each document exactly once across ranks
    assert all(seen)


def test_resume_from_the_state_dict_is_exact(space_dataset: Path):
    source = DocumentSource([space_dataset])
    docs = np.arange(len(source))
    make = lambda: PackedLoader(source, docs, batch_size=2, seq_len=40, seed=3, prefetch=2)  # noqa: E731
    straight = batches(make(), 30)  # crosses an epoch boundary (the corpus is ~2k ids)
    first = make()
    head = [next(first) for _ in range(13)]
    state = first.state_dict()
    first.close()
    again = make()
    again.load_state_dict(state)
    assert same(head + batches(again, 17), straight)
    assert state == {k: v for k, v in state.items()} and all(isinstance(v, int) for v in state.values())


def test_resume_refuses_a_different_run(space_dataset: Path):
    source = DocumentSource([space_dataset])
    loader = PackedLoader(source, np.arange(len(source)), batch_size=1, seq_len=16, seed=0, prefetch=0)
    state = loader.state_dict()
    other = PackedLoader(source, np.arange(len(source)), batch_size=1, seq_len=16, seed=1, prefetch=0)
    with pytest.raises(ValueError, match="seed=0"):
        other.load_state_dict(state)


def test_split_is_by_id_and_disjoint(space_dataset: Path):
    source = DocumentSource([space_dataset])
    train, held = source.split(0.2)
    assert len(held) and not set(train) & set(held) and len(train) + len(held) == len(source)
    assert np.array_equal(DocumentSource([space_dataset]).split(0.2)[1], held)


def test_evaluation_covers_every_held_out_byte_once(space_dataset: Path):
    source = DocumentSource([space_dataset])
    _, held = source.split(0.3)
    for world in (1, 2):
        n = sum(
            b["n_bytes"]
            for r in range(world)
            for b in evaluation_batches(source, held, batch_size=3, seq_len=24, rank=r, world_size=world)
        )
        assert n == source.total_bytes(held)


def test_mismatched_datasets_are_refused(tmp_path: Path, space_dataset: Path, docs: list[str]):
    capped = write_dataset(tmp_path, "capped", docs[:5], "--patcher", "space", "--max-patch-length", "4")
    with pytest.raises(DatasetMismatchError, match=r"dataset .*capped: patcher setting 'max_patch_length' is 4"):
        DocumentSource([space_dataset, capped])
    stride = write_dataset(tmp_path, "stride", docs[:5], "--patcher", "stride", "--stride", "4")
    expected = DocumentSource([space_dataset]).signature
    with pytest.raises(DatasetMismatchError, match=r"stride: patcher setting 'patcher' is 'stride'.*the run's config"):
        DocumentSource([stride], expected)


def test_datasets_patched_any_way_for_a_model_without_patches(tmp_path: Path, space_dataset: Path, docs: list[str]):
    """`check_patching=False` (the byte baseline): no signature is compared, the first dataset's is kept."""
    stride = write_dataset(tmp_path, "stride", docs[:5], "--patcher", "stride", "--stride", "4")
    expected = dict(DocumentSource([space_dataset]).signature, entropy_model_fingerprint="abc123")
    source = DocumentSource([stride, space_dataset], expected, "checkpoint x.pt", check_patching=False)
    assert source.signature == DocumentSource([stride]).signature
    assert len(source) == len(DocumentSource([stride])) + len(DocumentSource([space_dataset]))


def test_entropy_model_fingerprint_is_checked(space_dataset: Path):
    expected = dict(DocumentSource([space_dataset]).signature, entropy_model_fingerprint="abc123")
    with pytest.raises(DatasetMismatchError, match="entropy model fingerprint None differs from 'abc123'"):
        DocumentSource([space_dataset], expected, "checkpoint x.pt")


def test_batches_are_checked_at_collate_time_on_the_host():
    """The loader checks ids and patch lengths before a batch leaves it, so the model's forward need not."""
    from bytepatch.models.data.loader import to_torch

    ids = np.array([[BOS_ID, OFFSET + 1, OFFSET + 2]])
    ok = to_torch({"ids": ids, "targets": ids, "patch_lengths": np.array([[1, 2]]), "n_bytes": 2})
    assert ok["patch_lengths"].tolist() == [[1, 2]]
    with pytest.raises(ValueError, match="sum to 2"):
        to_torch({"ids": ids, "targets": ids, "patch_lengths": np.array([[1, 1]]), "n_bytes": 2})
    with pytest.raises(ValueError, match="260"):
        to_torch({"ids": ids + 300, "targets": ids, "patch_lengths": np.array([[1, 2]]), "n_bytes": 2})


def test_packed_batches_of_framed_documents_equal_the_dataset_path(space_dataset: Path):
    """`packed_batches` over framed documents in memory (what `eval` does with text) gives
    exactly the batches `evaluation_batches` gives for the same documents read from a dataset."""
    from bytepatch.models.data import packed_batches

    source = DocumentSource([space_dataset])
    docs = np.arange(len(source))
    framed = [source.framed(int(d)) for d in docs]
    got = list(packed_batches(lambda k: framed[k] if k < len(framed) else None, batch_size=3, seq_len=16))
    want = list(evaluation_batches(source, docs, batch_size=3, seq_len=16))
    assert len(got) == len(want) > 1 and same(got, want)
    assert [b["n_bytes"] for b in got] == [b["n_bytes"] for b in want]


def test_the_last_row_of_evaluation_is_not_padded_to_a_long_seq_len(space_dataset: Path):
    """A short text under a long --seq-len cost memory for seq_len positions (1.5 GB for
    1 KB at 200,000): the last row is as long as what it holds, padded only to the
    longest row of its batch, and scores the same bytes."""
    from bytepatch.models.data import packed_batches

    source = DocumentSource([space_dataset])
    framed = [source.framed(0)]
    n = len(framed[0].ids)
    (short,) = list(packed_batches(lambda k: framed[k] if k < 1 else None, batch_size=2, seq_len=100 * n))
    (exact,) = list(packed_batches(lambda k: framed[k] if k < 1 else None, batch_size=2, seq_len=n))
    assert short["ids"].shape == (1, n) and same([short], [exact])
    # Beside a full row, the last one is padded to it, with one pad patch of ignored targets.
    docs = np.arange(len(source))
    batches = list(evaluation_batches(source, docs, batch_size=64, seq_len=16))
    last = batches[-1]
    assert last["ids"].shape[1] == 16 and int(last["patch_lengths"].sum(1).min()) == 16
    total = sum(len(source.framed(int(d)).ids) for d in docs)
    assert sum(b["n_bytes"] for b in batches) == sum(int((b["targets"] >= 4).sum()) for b in batches) <= total


def test_a_refused_loader_leaves_no_error_behind_when_collected(space_dataset: Path):
    """`__del__` of a loader whose arguments were refused raised AttributeError ('_thread'),
    printed as "Exception ignored in ... PackedLoader.__del__" after the real error."""
    import gc
    import sys

    source = DocumentSource([space_dataset])
    unraisable = []
    hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        with pytest.raises(ValueError, match="need batch_size >= 1"):
            PackedLoader(source, np.arange(len(source)), batch_size=0, seq_len=8)
        gc.collect()
    finally:
        sys.unraisablehook = hook
    assert unraisable == []


@pytest.mark.parametrize(
    "docs, message",
    [
        (lambda n: np.arange(n) % 2 == 0, "not a boolean mask; pass np.flatnonzero"),
        (lambda n: np.array([0.0, 1.7]), "document indices .integers., got float64"),
        (lambda n: np.array([0, n]), "document index 40 is out of range for 40 documents"),
        (lambda n: [0, -1], "document index -1 is out of range"),
        (lambda n: np.zeros((2, 2), np.int64), "1-D array of document indices"),
    ],
)
def test_documents_that_are_not_indices_of_the_source_are_refused_at_once(space_dataset: Path, docs, message):
    """A boolean mask was read as the indices 0 and 1 and fractional indices were truncated
    (silently other documents); an index out of range failed only when the shuffled stream
    reached it, in the packing thread ("data loader worker failed"), deep into a run."""
    source = DocumentSource([space_dataset])
    assert len(source) == 40
    with pytest.raises(ValueError, match=message):
        PackedLoader(source, docs(len(source)), batch_size=2, seq_len=16)
    with pytest.raises(ValueError, match=message):
        evaluation_batches(source, docs(len(source)), batch_size=2, seq_len=16)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"batch_size": 2.0}, "batch_size must be an integer, got 2.0"),
        ({"seq_len": 16.0}, "seq_len must be an integer"),
        ({"batch_size": 0}, "need batch_size >= 1"),
        ({"seq_len": 0}, "seq_len >= 2"),
        ({"rank": 2, "world_size": 2}, "rank 2 out of range for world size 2"),
    ],
)
def test_sizes_are_checked_where_the_loader_is_made(space_dataset: Path, options, message):
    """batch_size=2.0 failed in the packing thread on the first next() ("'float' object
    cannot be interpreted as an integer"); evaluation with batch_size=0 or seq_len=0, or a
    rank past the world size, silently gave no batch (bits per byte of nothing)."""
    source = DocumentSource([space_dataset])
    kwargs = {"batch_size": 2, "seq_len": 16, **options}
    with pytest.raises(ValueError, match=message):
        PackedLoader(source, np.arange(len(source)), **kwargs)
    with pytest.raises(ValueError, match=message):
        evaluation_batches(source, np.arange(len(source)), **kwargs)
    assert len(list(evaluation_batches(source, [], batch_size=2, seq_len=16))) == 0  # nothing held out: no batch


def test_rows_of_a_long_document_cost_the_rows_not_the_whole_document(tmp_path: Path):
    """Each row of a document longer than a row framed the whole document again (an int64
    copy, 8 bytes per byte, and every patch's end): a 500 MB document took 4 GB and seconds
    per row. A row now costs its own ids; the document is framed once per visit."""
    import tracemalloc

    doc = "word " * 200_000  # 1 MB, space patches of 5 bytes
    source = DocumentSource([write_dataset(tmp_path, "long", [doc, "x"])])
    long_doc = int(np.argmax([len(source.raw(k)[0]) for k in range(len(source))]))
    loader = PackedLoader(source, np.array([long_doc]), batch_size=4, seq_len=256, seed=0, prefetch=0)
    held = evaluation_batches(source, np.array([long_doc]), batch_size=4, seq_len=256)
    next(loader), next(held)  # the shard is open, the document framed
    tracemalloc.start()
    try:
        for _ in range(25):
            next(loader), next(held)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(doc) // 4, f"{peak:,} bytes allocated packing rows of 1 KB"
