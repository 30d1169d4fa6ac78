"""A small real dataset (the repository's sample corpus, space patches) and a fast tiny run config."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from bytepatch.cli.main import cli
from bytepatch.models import PRESETS
from bytepatch.models.train import RunConfig, TrainConfig

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def sample_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("train-data") / "space"
    args = ["segment", str(REPO / "examples" / "sample"), "-o", str(out), "--patcher", "space", "-q"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


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
