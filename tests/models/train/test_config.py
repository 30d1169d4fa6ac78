"""Run configs: presets, overrides (unknown keys rejected), JSON round trip."""

from __future__ import annotations

import json
import re

import pytest

from bytepatch.models import PRESETS, TRANSFORMER_PRESETS
from bytepatch.models.train import RunConfig, TrainConfig, apply_overrides, load_run_config, preset_config


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
        ("grad_clip", float("inf"), "train.grad_clip must be a (positive )?finite number"),
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


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.batch_size=2.5", "train.batch_size must be an integer, got 2.5 (float)"),
        ("train.steps=1.5", "train.steps must be an integer, got 1.5 (float)"),
        ("train.steps=true", "train.steps must be an integer, got True (bool)"),
        ("train.seed=abc", "train.seed must be an integer, got 'abc' (str)"),
        ("train.lr=nan", "train.lr must be a finite number, got nan (float)"),
        ("train.lr=inf", "train.lr must be a finite number, got inf (float)"),
        ("train.lr=fast", "train.lr must be a finite number, got 'fast' (str)"),
        ("train.warmup_steps=2.0", "train.warmup_steps must be an integer or null, got 2.0 (float)"),
        ("train.compile=1", "train.compile must be true or false, got 1 (int)"),
        ("train.device=3", "train.device must be a string, got 3 (int)"),
        ('encoder.dim="32"', "encoder.dim must be an integer, got '32' (str)"),
        ("latent.n_layers=2.0", "latent.n_layers must be an integer, got 2.0 (float)"),
        ("encoder.ngram_sizes=[3,2.5]", "encoder.ngram_sizes must be a list of integers, got [3, 2.5]"),
        ("decoder.rope_theta=nan", "decoder.rope_theta must be a finite number, got nan (float)"),
        ("latent.n_heads=0", "latent.n_heads must be >= 1, got 0"),  # was a ZeroDivisionError
    ],
)
def test_override_values_of_the_wrong_type_name_the_key(override, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        apply_overrides(RunConfig("blt", PRESETS["tiny"], TrainConfig()), [override])


def test_baseline_fields_are_type_checked_too():
    run = RunConfig("baseline", TRANSFORMER_PRESETS["tiny"], TrainConfig())
    with pytest.raises(ValueError, match=re.escape("dim must be an integer, got '32' (str)")):
        apply_overrides(run, ['dim="32"'])
    with pytest.raises(ValueError, match=re.escape("n_heads must be >= 1, got 0")):
        apply_overrides(run, ["n_heads=0"])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["train"].update(steps="100"), "train.steps must be an integer, got '100' (str)"),
        (lambda d: d["model"]["encoder"].update(dim="32"), "encoder.dim must be an integer, got '32' (str)"),
        (lambda d: d["model"]["latent"].update(n_layers=2.0), "latent.n_layers must be an integer, got 2.0"),
        (lambda d: d["model"].update(cross_attn_k=None), "cross_attn_k must be an integer, got None"),
    ],
)
def test_a_config_file_with_values_of_the_wrong_type_names_file_and_key(tmp_path, change, message):
    d = RunConfig("blt", PRESETS["tiny"], TrainConfig()).to_dict()
    change(d)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match=re.escape(f"{path}: {message}")):
        load_run_config(path)


def test_numbers_are_normalised_so_a_saved_config_compares_equal():
    run = apply_overrides(RunConfig("blt", PRESETS["tiny"], TrainConfig()), ["train.lr=1", "encoder.rope_theta=10000"])
    assert isinstance(run.train.lr, float) and isinstance(run.model.encoder.rope_theta, float)
    assert RunConfig.from_dict(json.loads(json.dumps(run.to_dict()))) == run
