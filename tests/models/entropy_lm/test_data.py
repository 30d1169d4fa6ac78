"""The entropy LM's training data: held-out split by id hash and the packed stream."""

from __future__ import annotations

import pytest
import torch

from bytepatch.models.entropy_lm.data import PackedStream, held_out_score, sample_prefix, split_documents
from bytepatch.models.nn.transformer import IGNORE_INDEX


def test_held_out_split_is_by_id_hash_and_keeps_both_sides():
    docs = [(f"doc{i}", bytes([65 + i % 26]) * (i + 1)) for i in range(200)]
    split = split_documents(docs, 0.1)
    held = {i for i, _ in docs if held_out_score(i) < 0.1}
    assert set(split.held_out_ids) == held and 5 < len(held) < 40
    assert split_documents(list(reversed(docs)), 0.1).held_out_ids == split.held_out_ids  # order-free
    tiny = split_documents([("a", b"x"), ("b", b"y"), ("c", b"")], 0.01)
    assert len(tiny.held_out) == 1 and len(tiny.train) == 1  # forced non-empty, empty doc dropped
    with pytest.raises(ValueError, match="at least 2"):
        split_documents([("only", b"abc")], 0.1)
    assert sample_prefix([b"abcd", b"efgh", b"ij"], 6) == [b"abcd", b"ef"]


def test_packed_stream_batches_resume_and_ignore_cross_document_targets():
    docs = [bytes([97 + i]) * (3 + i) for i in range(6)]
    a = PackedStream(docs, seed=1)
    batches = [a.next_batch(2, 5) for _ in range(7)]  # crosses epochs
    idx, tgt = batches[0]
    assert idx.shape == tgt.shape == (2, 5)
    flat_idx = idx.flatten()
    # Where the next id is BOS (a new document) the target is ignored; elsewhere target = next id.
    assert torch.all((tgt == IGNORE_INDEX) | (tgt >= 4))
    assert torch.equal(
        flat_idx[1:][tgt.flatten()[:-1] != IGNORE_INDEX], tgt.flatten()[:-1][tgt.flatten()[:-1] != IGNORE_INDEX]
    )
    b = PackedStream(docs, seed=1)
    [b.next_batch(2, 5) for _ in range(3)]
    c = PackedStream(docs, seed=1)
    c.set_state(b.state())
    for want in batches[3:]:
        got = c.next_batch(2, 5)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    with pytest.raises(ValueError, match="batch-size"):
        PackedStream([b"ab"], 0).next_batch(4, 8)
