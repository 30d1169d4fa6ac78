"""Run configs: presets, overrides (unknown keys rejected), JSON round trip."""

from __future__ import annotations

import json

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


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("grad_clip", -1.0, "train.grad_clip must be a positive finite number, got -1.0"),
        ("grad_clip", 0.0, "train.grad_clip must be a positive finite number"),
        ("grad_clip", float("inf"), "train.grad_clip must be a positive finite number"),
        ("weight_decay", -0.1, "train.weight_decay must be a finite number >= 0"),
        ("beta1", 1.0, r"train.beta1 must be in \[0, 1\)"),
        ("beta2", -0.5, r"train.beta2 must be in \[0, 1\)"),
        ("warmup_steps", -5, "train.warmup_steps must be >= 0 or null"),
        ("min_lr_ratio", 5.0, r"train.min_lr_ratio must be in \[0, 1\]"),
        ("min_lr_ratio", -0.1, r"train.min_lr_ratio must be in \[0, 1\]"),
        ("eval_fraction", 1.0, r"train.eval_fraction must be in \[0, 1\)"),
        ("eval_batches", 0, "train.eval_batches must be >= 1 or null"),
        ("prefetch", -1, "train.prefetch must be >= 0"),
        ("batch_size", 0, "train.batch_size must be >= 1"),
        ("steps", -3, "train.steps must be >= 1"),
    ],
)
def test_out_of_range_trainer_settings_name_the_key(key, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{key: value})
    with pytest.raises(ValueError, match=message):  # the same through a key=value override
        apply_overrides(RunConfig("blt", PRESETS["tiny"], TrainConfig()), [f"train.{key}={json.dumps(value)}"])
