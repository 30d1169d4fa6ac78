"""The reusable training pieces: LR schedule, checkpoints, data split and packed stream."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from bytepatch.models.entropy_lm.data import PackedStream, held_out_score, sample_prefix, split_documents
from bytepatch.models.training import WarmupCosine, load_checkpoint, save_checkpoint, set_lr
from bytepatch.models.transformer import IGNORE_INDEX


def test_warmup_cosine_shape():
    s = WarmupCosine(max_lr=1.0, warmup_steps=4, total_steps=14, min_lr_ratio=0.1)
    assert [s(i) for i in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert s(4) == 1.0 and s(9) == pytest.approx(0.55) and s(14) == pytest.approx(0.1) and s(100) == pytest.approx(0.1)
    assert all(s(i) >= s(i + 1) for i in range(4, 20))
    assert WarmupCosine(1.0, 0, 1)(0) == 1.0
    with pytest.raises(ValueError):
        WarmupCosine(0.0, 1, 10)


def test_checkpoint_round_trip_restores_model_optimizer_and_rngs(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.randn(5, 4)).sum().backward()
    opt.step()
    save_checkpoint(tmp_path / "c.pt", model, opt, {"step": 7, "data": {"epoch": 1, "cursor": 2}})
    draws = (random.random(), np.random.rand(), torch.rand(2))

    model2 = torch.nn.Linear(4, 3)
    opt2 = torch.optim.AdamW(model2.parameters(), lr=0.1)
    set_lr(opt2, 0.5)
    extra = load_checkpoint(tmp_path / "c.pt", model2, opt2)
    assert extra == {"step": 7, "data": {"epoch": 1, "cursor": 2}}
    assert (random.random(), np.random.rand()) == draws[:2] and torch.equal(torch.rand(2), draws[2])
    for a, b in zip(model.parameters(), model2.parameters()):
        assert torch.equal(a, b)
    assert opt2.state_dict()["param_groups"][0]["lr"] == 0.1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_checkpoint_refuses_garbage(tmp_path):
    (tmp_path / "c.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="c.pt"):
        load_checkpoint(tmp_path / "c.pt", torch.nn.Linear(1, 1))


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
    assert torch.equal(flat_idx[1:][tgt.flatten()[:-1] != IGNORE_INDEX], tgt.flatten()[:-1][tgt.flatten()[:-1] != IGNORE_INDEX])
    b = PackedStream(docs, seed=1)
    [b.next_batch(2, 5) for _ in range(3)]
    c = PackedStream(docs, seed=1)
    c.set_state(b.state())
    for want in batches[3:]:
        got = c.next_batch(2, 5)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    with pytest.raises(ValueError, match="batch-size"):
        PackedStream([b"ab"], 0).next_batch(4, 8)
