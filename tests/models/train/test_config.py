"""Run configs: presets, overrides (unknown keys rejected), JSON round trip."""

from __future__ import annotations

import pytest

from bytepatch.models import PRESETS, TRANSFORMER_PRESETS
from bytepatch.models.train import RunConfig, TrainConfig, apply_overrides, preset_config


def test_overrides_reach_nested_model_fields_and_the_trainer():
    run = RunConfig("blt", PRESETS["tiny"], TrainConfig())
    run = apply_overrides(
        run,
        [
            "encoder.dim=48",
            "latent.n_layers=3",
            "encoder.ngram_sizes=[3,4]",
            "encoder.window=null",
            "train.warmup_steps=7",
            "train.lr=1",
        ],
    )
    assert run.model.encoder.dim == 48 and run.model.latent.n_layers == 3
    assert run.model.encoder.ngram_sizes == (3, 4) and run.model.encoder.window is None
    assert run.train.warmup_steps == 7 and run.train.lr == 1.0 and isinstance(run.train.lr, float)


@pytest.mark.parametrize(
    "override, message",
    [
        ("encoder.dimm=3", "unknown key 'encoder.dimm'"),
        ("dim=3", "BLTConfig has no field 'dim'"),
        ("train.stepz=3", "TrainConfig has no field 'stepz'"),
        ("encoder=3", "names a section"),
        ("latent.n_heads=3", "must be an even integer"),  # re-validated by the config itself
        ("novalue", "not of the form key=value"),
    ],
)
def test_bad_overrides_are_rejected(override, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(RunConfig("blt", PRESETS["tiny"], TrainConfig()), [override])


def test_round_trip_and_unknown_keys():
    for run in (
        RunConfig("blt", PRESETS["small"], TrainConfig(steps=3)),
        RunConfig("baseline", TRANSFORMER_PRESETS["tiny"], TrainConfig()),
    ):
        assert RunConfig.from_dict(run.to_dict()) == run
    d = RunConfig("blt", PRESETS["tiny"], TrainConfig()).to_dict()
    d["train"]["bogus"] = 1
    with pytest.raises(ValueError, match="unknown TrainConfig keys: bogus"):
        RunConfig.from_dict(d)
    with pytest.raises(ValueError, match="unknown baseline preset"):
        preset_config("baseline", "1b")
