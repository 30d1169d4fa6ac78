"""Model-agnostic training state: the LR schedule and atomic checkpoints of model, optimizer and RNGs."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from bytepatch.models.train.schedule import WarmupCosine, set_lr
from bytepatch.models.train.state import restore_state, save_state


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
    save_state(tmp_path / "c.pt", model, opt, {"step": 7, "data": {"epoch": 1, "cursor": 2}})
    draws = (random.random(), np.random.rand(), torch.rand(2))

    model2 = torch.nn.Linear(4, 3)
    opt2 = torch.optim.AdamW(model2.parameters(), lr=0.1)
    set_lr(opt2, 0.5)
    extra = restore_state(tmp_path / "c.pt", model2, opt2)
    assert extra == {"step": 7, "data": {"epoch": 1, "cursor": 2}}
    assert (random.random(), np.random.rand()) == draws[:2] and torch.equal(torch.rand(2), draws[2])
    for a, b in zip(model.parameters(), model2.parameters()):
        assert torch.equal(a, b)
    assert opt2.state_dict()["param_groups"][0]["lr"] == 0.1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_checkpoint_refuses_garbage(tmp_path):
    (tmp_path / "c.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="c.pt"):
        restore_state(tmp_path / "c.pt", torch.nn.Linear(1, 1))
