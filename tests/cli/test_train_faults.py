"""`bytepatch train` on bad settings and data: one line naming the key or file, non-zero exit, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bytepatch.cli.main import cli

FAST = ["--preset", "tiny", "--batch-size", "2", "--seq-len", "64", "--device", "cpu", "--steps", "2"]


def train(*args: str) -> Result:
    return CliRunner().invoke(cli, ["train", *args])


def one_line_error(result: Result, match: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("Error")]
    assert len(lines) == 1 and match in lines[0], result.output


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.grad_clip=-1", "train.grad_clip must be a positive finite number, got -1.0"),
        ("train.grad_clip=0", "train.grad_clip must be a positive finite number, got 0.0"),
        ("train.weight_decay=-1", "train.weight_decay must be a finite number >= 0"),
        ("train.beta2=1", "train.beta2 must be in [0, 1)"),
        ("train.eval_batches=0", "train.eval_batches must be >= 1 or null"),
        # Accepted silently: the learning rate never reached its peak (FAST runs 2 steps).
        ("train.warmup_steps=3", "a warmup of 3 steps (train.warmup_steps, --warmup-steps) is longer than the run's 2"),
    ],
)
def test_out_of_range_trainer_settings_are_refused(tmp_path: Path, sample_dataset: Path, override: str, message: str):
    run = tmp_path / "run"
    one_line_error(train(str(sample_dataset), "-o", str(run), *FAST, override), message)
    assert not run.exists()  # refused before anything is written


def segment_jsonl(tmp_path: Path, name: str, texts: list[str]) -> Path:
    """A space-patched dataset of `texts`, one document each."""
    import json

    src = tmp_path / f"{name}.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    out = tmp_path / name
    result = CliRunner().invoke(cli, ["segment", str(src), "-o", str(out), "--patcher", "space", "-q"])
    assert result.exit_code == 0, result.output
    return out


def test_a_dataset_without_bytes_is_refused_for_training(tmp_path: Path):
    empty = segment_jsonl(tmp_path, "empty", ["", "", "", ""])
    one_line_error(train(str(empty), "-o", str(tmp_path / "run"), *FAST), f"{empty}: no bytes to train on")


@pytest.mark.parametrize("texts", [[], ["", ""]])
def test_an_eval_dataset_without_bytes_is_refused(tmp_path: Path, sample_dataset: Path, texts: list[str]):
    empty = segment_jsonl(tmp_path, "empty", texts)
    result = train(str(sample_dataset), "-o", str(tmp_path / "run"), *FAST, "--eval-dataset", str(empty))
    one_line_error(result, f"--eval-dataset {empty}: no bytes to evaluate")


def test_held_out_batches_without_a_byte_are_never_reported_as_zero_bits(tmp_path: Path, sample_dataset: Path):
    # 64 empty documents (BOS, EOS each) fill the first batch of 2 rows of 64 ids: it scores no byte.
    held = segment_jsonl(tmp_path, "held", [""] * 64 + ["some text at last"])
    args = [*FAST, "--eval-dataset", str(held), "train.eval_batches=1"]
    result = train(str(sample_dataset), "-o", str(tmp_path / "run"), *args)
    one_line_error(result, "no held-out byte was scored in train.eval_batches=1 batches")
    assert "0.0000 bits/byte" not in result.output


def test_a_dataset_given_twice_is_refused(tmp_path: Path, sample_dataset: Path, monkeypatch):
    monkeypatch.chdir(sample_dataset.parent)
    name = sample_dataset.name
    result = train(name, f"./{name}/", "-o", str(tmp_path / "run"), *FAST)
    one_line_error(result, f"dataset ./{name}/ is given twice ({name} and ./{name}/)")
    result = train(name, "-o", str(tmp_path / "run"), *FAST, "--eval-dataset", str(sample_dataset))
    one_line_error(result, f"--eval-dataset {sample_dataset} is also a training dataset ({name})")
    assert not (tmp_path / "run").exists()


def test_a_copy_of_a_dataset_is_refused_as_held_out_or_second_training_set(tmp_path: Path, sample_dataset: Path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(sample_dataset, copy)
    result = train(str(sample_dataset), "-o", str(tmp_path / "run"), *FAST, "--eval-dataset", str(copy))
    one_line_error(result, f"--eval-dataset {copy} holds the same shard as dataset {sample_dataset}")
    assert "measured on training data" in result.output
    result = train(str(sample_dataset), str(copy), "-o", str(tmp_path / "run"), *FAST)
    one_line_error(result, f"dataset {copy} holds the same shard as dataset {sample_dataset}")
    assert "trained on twice" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lr", "nan"], "train.lr must be a finite number, got nan (float)"),  # was "'>' not supported ..."
        (["train.steps=1.5"], "train.steps must be an integer, got 1.5 (float)"),  # was accepted
        (["train.batch_size=2.5"], "train.batch_size must be an integer, got 2.5 (float)"),  # was a traceback
        (["train.seed=abc"], "train.seed must be an integer, got 'abc' (str)"),
    ],
)
def test_values_of_the_wrong_type_are_one_line_errors(tmp_path: Path, sample_dataset: Path, args, message):
    one_line_error(train(str(sample_dataset), "-o", str(tmp_path / "run"), *FAST, *args), message)


def test_a_config_file_with_a_string_for_a_number_names_file_and_key(tmp_path: Path, sample_dataset: Path):
    import json

    from bytepatch.models import PRESETS
    from bytepatch.models.train import RunConfig, TrainConfig

    config = RunConfig("blt", PRESETS["tiny"], TrainConfig(device="cpu")).to_dict()
    config["train"]["steps"] = "100"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    result = train(str(sample_dataset), "-o", str(tmp_path / "run"), "--config", str(path))
    one_line_error(result, f"{path}: train.steps must be an integer, got '100' (str)")


@pytest.mark.parametrize("damage", ["missing", "corrupt", pytest.param("fifo", marks=pytest.mark.timeout(120))])
def test_resume_without_a_readable_config_json_takes_the_checkpoints_run(
    tmp_path: Path, sample_dataset: Path, damage: str
):
    """A FIFO in config.json's place (no writer ever comes) blocked `train --resume` for ever."""
    import json
    import os

    run = tmp_path / "run"
    args = [*FAST, "train.eval_batches=1", "train.prefetch=0"]
    assert train(str(sample_dataset), "-o", str(run), *args, "--stop-at", "1").exit_code == 0
    saved = json.loads((run / "config.json").read_text())
    if damage == "missing":
        (run / "config.json").unlink()
    elif damage == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("needs a FIFO")
        (run / "config.json").unlink()
        os.mkfifo(run / "config.json")
    else:
        (run / "config.json").write_text("{not json")
    # No flag repeated: the defaults (batch 8, seq_len 1024) were refused as "different settings".
    result = train(str(sample_dataset), "-o", str(run), "--resume")
    assert result.exit_code == 0, result.output
    assert "resuming with the run config saved in" in result.output and "step 2/2" in result.output
    assert json.loads((run / "config.json").read_text()) == saved


def test_init_weights_of_another_shape_are_one_line(tmp_path: Path, sample_dataset: Path):
    """`train --init RUN encoder.dim=64` printed torch's state_dict report, a line per tensor."""
    first = tmp_path / "first"
    result = train(str(sample_dataset), "-o", str(first), *FAST)
    assert result.exit_code == 0, result.output
    rest = [a for a in FAST if a not in ("--preset", "tiny")]  # --init takes the run's model
    wider = train(str(sample_dataset), "-o", str(tmp_path / "wider"), *rest, "--init", str(first), "encoder.dim=64")
    one_line_error(wider, "the --init weights do not fit the run's model config: ")
    assert "in the weights" in wider.output and "tensors differ" in wider.output


def test_resume_refuses_a_config_json_with_a_value_it_refuses(tmp_path: Path, sample_dataset: Path):
    """A readable config.json the user edited wrongly is reported, not replaced by the
    checkpoint's run in silence (only a missing or damaged one is)."""
    import json

    run = tmp_path / "run"
    assert train(str(sample_dataset), "-o", str(run), *FAST, "train.prefetch=0", "--stop-at", "1").exit_code == 0
    config = json.loads((run / "config.json").read_text())
    config["train"]["steps"] = 1.5
    (run / "config.json").write_text(json.dumps(config))
    one_line_error(train(str(sample_dataset), "-o", str(run), "--resume"), "train.steps must be an integer, got 1.5")


def test_overwrite_replaces_a_run_whose_config_json_is_damaged_or_outdated(tmp_path: Path, sample_dataset: Path):
    """A run's config.json, damaged or holding a value refused since, was taken for another
    kind of file, and --overwrite refused the run's own directory."""
    import json

    run = tmp_path / "run"
    assert train(str(sample_dataset), "-o", str(run), *FAST, "train.prefetch=0").exit_code == 0
    text = (run / "config.json").read_text()
    outdated = json.loads(text)
    outdated["train"]["grad_clip"] = 0.0
    for config in (text[:40], json.dumps(outdated)):
        (run / "config.json").write_text(config)
        result = train(str(sample_dataset), "-o", str(run), *FAST, "train.prefetch=0", "--overwrite")
        assert result.exit_code == 0, result.output


def test_config_of_an_entropy_model_or_a_transformers_blt_says_what_it_is(tmp_path: Path, sample_dataset: Path):
    """Both were refused listing every key the run config does not know."""
    import json

    lm = tmp_path / "lm" / "config.json"
    lm.parent.mkdir()
    lm.write_text(json.dumps({"kind": "transformer", "format": 1, "model": {"dim": 64}, "weights": "model.pt"}))
    result = train(str(sample_dataset), "-o", str(tmp_path / "run"), "--config", str(lm))
    one_line_error(result, f"{lm}: an entropy model's config (transformer, written by train-entropy or fit-entropy)")
    hf = tmp_path / "hf" / "config.json"
    hf.parent.mkdir()
    hf.write_text(json.dumps({"model_type": "blt", "architectures": ["BltForCausalLM"], "vocab_size": 260}))
    result = train(str(sample_dataset), "-o", str(tmp_path / "run"), "--config", str(hf))
    one_line_error(
        result, f"a transformers BLT's config, not a training run's; fine-tune it with `train --init {hf.parent}`"
    )
    assert not (tmp_path / "run").exists()


def test_resume_in_the_other_trainers_run_directory_says_whose_it_is(tmp_path: Path, sample_dataset: Path):
    """`train --resume` in a train-entropy directory ended with `KeyError: 'signature'` (a
    traceback) once --preset or a checkpoint alone let it past config.json; `train-entropy
    --resume` in a `train` run's directory said "model type 'baseline' needs a
    ByteTransformerConfig, got BLTConfig", or with --preset failed with an AttributeError."""
    import shutil

    sample = Path(__file__).resolve().parents[2] / "examples" / "sample"
    lm = tmp_path / "lm"
    made = CliRunner().invoke(
        cli,
        ["train-entropy", str(sample), "-o", str(lm), "--preset", "tiny", "--steps", "1", "--batch-size", "2"]
        + ["--seq-len", "32", "--device", "cpu", "--eval-bytes", "500", "--eval-every", "1"],
    )
    assert made.exit_code == 0, made.output
    bare = tmp_path / "bare"  # the checkpoint alone, as an interrupted train-entropy run leaves it
    bare.mkdir()
    shutil.copy(lm / "checkpoint.pt", bare / "checkpoint.pt")
    for run_dir, extra in ((lm, []), (lm, ["--preset", "tiny"]), (bare, [])):
        one_line_error(
            train(str(sample_dataset), "-o", str(run_dir), "--resume", *extra),
            f"{run_dir / 'checkpoint.pt'}: an entropy LM's training checkpoint (train-entropy), not a BLT or "
            "baseline run's",
        )
    run = tmp_path / "run"
    assert train(str(sample_dataset), "-o", str(run), *FAST).exit_code == 0
    for extra in ([], ["--preset", "tiny"]):
        result = CliRunner().invoke(cli, ["train-entropy", str(sample), "-o", str(run), "--resume", *extra])
        one_line_error(result, f"{run / 'checkpoint.pt'}: a BLT or baseline training run's checkpoint (train)")


def test_resume_with_the_runs_preset_keeps_its_steps(tmp_path: Path, sample_dataset: Path):
    """`--preset tiny --resume` took the trainer settings from the defaults: a run of 2 steps
    stopped at 1 and resumed without --steps went on to 1,000 steps, without a word."""
    run = tmp_path / "run"
    args = [*FAST, "train.eval_batches=1", "train.prefetch=0"]
    assert train(str(sample_dataset), "-o", str(run), *args, "--stop-at", "1").exit_code == 0
    i = args.index("--steps")
    same_but_steps = args[:i] + args[i + 2 :]
    result = train(str(sample_dataset), "-o", str(run), *same_but_steps, "--resume")
    assert result.exit_code == 0, result.output
    assert "step 2/2" in result.output
    other = train(str(sample_dataset), "-o", str(run), *same_but_steps, "--preset", "small", "--resume", "--steps", "3")
    one_line_error(other, "the checkpoint's model (blt) differs from the requested one")
