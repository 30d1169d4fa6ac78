"""A fast tiny run config (the data, `sample_dataset`, is in tests/conftest.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bytepatch.models import PRESETS
from bytepatch.models.train import RunConfig, TrainConfig


@pytest.fixture
def tiny_run() -> RunConfig:
    model = replace(PRESETS["tiny"], latent=replace(PRESETS["tiny"].latent, n_layers=1))
    train = TrainConfig(
        steps=6,
        batch_size=2,
        seq_len=64,
        lr=3e-3,
        device="cpu",
        log_every=1,
        eval_every=3,
        eval_batches=2,
        save_every=100,
        eval_fraction=0.1,
    )
    return RunConfig("blt", model, train)
