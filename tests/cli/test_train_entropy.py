"""`bytepatch train-entropy` end to end on CPU with the tiny preset."""

from __future__ import annotations

import json
import os
import signal
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from bytepatch.cli.main import cli
from bytepatch.models.entropy_lm import load
from bytepatch.models.entropy_lm.train import TrainingInterrupted, entropy_settings, train_entropy_lm
from bytepatch.models.train.state import safe_torch_load
from tests.torchrun import torchrun

# Trains a model in a module-scoped fixture: the whole module is in the slow tier.
pytestmark = pytest.mark.slow

TINY = {
    "preset": "tiny",
    "steps": 16,
    "batch_size": 4,
    "seq_len": 64,
    "lr": 3e-3,
    "eval_every": 8,
    "save_every": 4,
    "log_every": 2,
    "eval_bytes": 6000,
    "held_out_fraction": 0.2,
}
FLAGS = {"held_out_fraction": "--held-out"}


def args_for(settings: dict) -> list[str]:
    out = []
    for key, value in settings.items():
        out += [FLAGS.get(key, "--" + key.replace("_", "-")), str(value)]
    return out


def run(*args: str):
    return CliRunner().invoke(cli, ["train-entropy", *args], catch_exceptions=False)


def log_events(path: Path) -> list[dict]:
    events = [json.loads(line) for line in (path / "log.jsonl").read_text().splitlines()]
    for e in events:
        e.pop("bytes_per_s", None)  # timing differs between runs
        e.pop("flops_per_s", None)
    return events


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """~60 real-text documents (Python stdlib sources, 2 KB each) as JSONL."""
    lib = Path(sysconfig.get_paths()["stdlib"])
    text = "".join(p.read_text(encoding="utf-8") for p in sorted((lib / "json").glob("*.py")))
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    with path.open("w") as f:
        for i in range(0, min(len(text), 120_000), 2000):
            f.write(json.dumps({"text": text[i : i + 2000]}) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "lm"
    result = run(str(corpus), "-o", str(out), *args_for(TINY))
    assert result.exit_code == 0, result.output
    return out


def test_trains_logs_and_writes_a_calibrated_entropy_model(trained):
    events = log_events(trained)
    losses = [e["loss"] for e in events if "loss" in e]
    held = [e["held_out_bits_per_byte"] for e in events if "held_out_bits_per_byte" in e]
    assert len(losses) == 8 and len(held) == 2
    assert np.mean(losses[-2:]) < np.mean(losses[:2]) - 0.5  # learning
    assert held[-1] < 8.0 and held[-1] < held[0] + 0.05
    assert {p.name for p in trained.iterdir()} == {"checkpoint.pt", "log.jsonl", "config.json", "model.pt"}
    lm = load(trained)
    info = lm.training
    assert info["config"]["steps"] == 16 and info["held_out_bits_per_byte"] == pytest.approx(held[-1], rel=1e-6)
    assert lm.default_threshold is not None
    assert info["calibration"]["mean_patch_size"] == pytest.approx(4.5, rel=0.02)
    assert lm.context_length == 2 * 127 + 1
    # The checkpoint holds only weights-only-loadable data.
    ckpt = safe_torch_load(trained / "checkpoint.pt")
    assert ckpt["extra"]["step"] == 16 and set(ckpt) >= {"model", "optimizer", "rng", "extra"}


def test_segment_uses_the_trained_directory(trained, corpus, tmp_path):
    from bytepatch.dataset import open_dataset

    result = CliRunner().invoke(
        cli,
        ["segment", str(corpus), "-o", str(tmp_path / "ds"), "--entropy-model", str(trained), "-q"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    table = open_dataset(tmp_path / "ds").to_table()
    sizes = [sum(p) for p in table.column("patch_lengths").to_pylist()]
    assert sizes == [len(b) for b in table.column("bytes").to_pylist()]
    meta = open_dataset(tmp_path / "ds").metadata
    assert (
        meta["entropy_model"]["kind"] == "transformer"
        and meta["entropy_model"]["fingerprint"] == load(trained).fingerprint
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_segment_on_cuda_without_a_gpu_says_so(trained, corpus, tmp_path):
    args = ["segment", str(corpus), "-o", str(tmp_path / "ds"), "--entropy-model", str(trained), "--device", "cuda"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "no CUDA device" in result.output


def test_interrupted_then_resumed_run_equals_the_straight_run(trained, corpus, tmp_path):
    from bytepatch.io import iter_documents

    out = tmp_path / "lm"
    docs = [(d.id, d.data) for d in iter_documents([str(corpus)])]
    with pytest.raises(TrainingInterrupted):  # step 6 is not a checkpoint step: the interrupt writes one
        train_entropy_lm(docs, out, *entropy_settings(**TINY), log=lambda line: None, stop_after=lambda step: step == 6)
    assert safe_torch_load(out / "checkpoint.pt")["extra"]["step"] == 6
    result = run(str(corpus), "-o", str(out), *args_for(TINY), "--resume")
    assert result.exit_code == 0, result.output
    assert "resumed" in result.output
    straight, resumed = safe_torch_load(trained / "model.pt"), safe_torch_load(out / "model.pt")
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name
    assert log_events(out) == log_events(trained)
    assert load(out).fingerprint == load(trained).fingerprint


def test_divergence_stops_with_a_clear_error(corpus, tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "train-entropy",
            str(corpus),
            "-o",
            str(tmp_path / "x"),
            *args_for({**TINY, "lr": 1e9, "steps": 30, "save_every": 100}),
        ],
    )
    assert result.exit_code == 1
    assert "training diverged" in result.output and "Lower --lr" in result.output and "step 2" in result.output
    assert not (tmp_path / "x" / "config.json").exists()


def test_user_errors(corpus, trained, tmp_path):
    def fails(*args: str) -> str:
        result = CliRunner().invoke(cli, ["train-entropy", *args])
        assert result.exit_code != 0
        return result.output

    assert "--resume" in fails(str(corpus), "-o", str(trained), *args_for(TINY))
    assert "no checkpoint.pt" in fails(str(corpus), "-o", str(tmp_path / "new"), "--resume")
    assert "cannot resume with different settings (seq_len: 64 -> 32)" in fails(
        str(corpus), "-o", str(trained), *args_for({**TINY, "seq_len": 32}), "--resume"
    )
    assert "unknown preset" in fails(str(corpus), "-o", str(tmp_path / "p"), "--preset", "huge")
    one = tmp_path / "one.txt"
    one.write_text("just one document")
    assert "at least 2" in fails(str(one), "-o", str(tmp_path / "o"))
    assert "missing.jsonl" in fails(str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "m"))
    # Named as the user gave it (it said `train.eval_fraction must be in [0, 1)`), before anything is made.
    for fraction in ("1", "1.5", "-0.1"):
        assert "Invalid value for '--held-out'" in fails(str(corpus), "-o", str(tmp_path / "h"), "--held-out", fraction)
    assert not (tmp_path / "h").exists()


@pytest.mark.slow
def test_train_entropy_runs_data_parallel_under_torchrun(corpus, tmp_path):
    out = tmp_path / "lm"
    torchrun("train-entropy", str(corpus), "-o", str(out), *args_for({**TINY, "steps": 4}), cwd=tmp_path)
    ckpt = safe_torch_load(out / "checkpoint.pt")
    assert ckpt["extra"]["world_size"] == 2 and ckpt["extra"]["step"] == 4
    assert len(ckpt["extra"]["loader"]) == 2 and ckpt["extra"]["loader"][0] == ckpt["extra"]["loader"][1]
    events = log_events(out)
    assert [e["step"] for e in events if "loss" in e] == [2, 4] and events[-1]["train_rows"] == 4 * 4 * 2
    assert load(out).default_threshold is not None


@pytest.mark.parametrize("size", ["0", "nan", "-3", "inf", "0.5"])
def test_a_target_patch_size_calibration_cannot_reach_is_refused_before_training(corpus, tmp_path, size):
    out = tmp_path / "lm"
    result = CliRunner().invoke(cli, ["train-entropy", str(corpus), "-o", str(out), *args_for(TINY), "-s", size])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    (line,) = [ln for ln in result.output.splitlines() if ln.startswith("Error")]
    assert line.startswith("Error: target patch size must be a finite number >= 1 (bytes), got ")
    assert not out.exists()  # nothing trained (it trained the whole run, then warned)


def test_resume_takes_the_checkpoints_settings_for_options_not_given(trained, corpus, tmp_path):
    """As documented (`--preset small --resume  # after Ctrl-C`): no original flag needs repeating,
    and a left-out --steps keeps the run's 16 steps (the default 2000 was taken as a choice)."""
    import shutil

    out = tmp_path / "lm"
    shutil.copytree(trained, out)
    result = CliRunner().invoke(cli, ["train-entropy", str(corpus), "-o", str(out), "--resume"])
    assert result.exit_code == 0, result.output
    assert "steps 16," in result.output and "resumed from" in result.output
    assert safe_torch_load(out / "checkpoint.pt")["extra"]["step"] == 16
    # An option given explicitly still counts: 20 steps extends the run.
    result = CliRunner().invoke(cli, ["train-entropy", str(corpus), "-o", str(out), "--resume", "--steps", "20"])
    assert result.exit_code == 0, result.output
    assert safe_torch_load(out / "checkpoint.pt")["extra"]["step"] == 20


def test_resume_keeps_the_target_patch_size_it_was_started_with(corpus, tmp_path):
    """The target was not kept in the checkpoint: a resume without it calibrated for 4.5."""
    out = tmp_path / "lm"
    settings = {**TINY, "steps": 4, "eval_every": 4, "target_patch_size": 3.5}
    assert run(str(corpus), "-o", str(out), *args_for(settings)).exit_code == 0
    result = CliRunner().invoke(cli, ["train-entropy", str(corpus), "-o", str(out), "--resume", "--steps", "6"])
    assert result.exit_code == 0, result.output
    assert load(out).training["calibration"]["target_patch_size"] == 3.5


def test_resume_reads_the_inputs_as_the_run_did(tmp_path):
    """How the inputs were read was not kept: a resume without --doc-per-line read a one-file
    corpus as one document and failed ('need at least 2 non-empty documents')."""
    lines = tmp_path / "lines.txt"
    lines.write_text("".join(f"line {i}: some text to learn from, {i * 7919 % 1000}\n" for i in range(200)))
    out = tmp_path / "lm"
    settings = {**TINY, "steps": 2, "eval_every": 2, "eval_bytes": 500}
    assert run(str(lines), "-o", str(out), "--doc-per-line", *args_for(settings)).exit_code == 0
    result = CliRunner().invoke(cli, ["train-entropy", str(lines), "-o", str(out), "--resume", "--steps", "3"])
    assert result.exit_code == 0, result.output
    assert safe_torch_load(out / "checkpoint.pt")["extra"]["step"] == 3
    # A reading option given otherwise is refused by name, before anything is read.
    result = CliRunner().invoke(cli, ["train-entropy", str(lines), "-o", str(out), "--resume", "--text-field", "body"])
    assert result.exit_code == 1
    assert "cannot resume with different settings (--text-field: 'text' -> 'body')" in result.output


def test_resume_with_another_preset_names_the_runs_preset(trained, corpus):
    """It said `train`'s words: 'the checkpoint's model (baseline) differs ...; resume without the
    options that set the model (--preset, --config, overrides)', options train-entropy lacks."""
    result = CliRunner().invoke(
        cli, ["train-entropy", str(corpus), "-o", str(trained), "--resume", "--preset", "small"]
    )
    assert result.exit_code == 1
    assert "the run was started with --preset tiny, not --preset small; resume without --preset" in result.output
    assert "--config" not in result.output and "baseline" not in result.output


def test_a_warmup_longer_than_the_run_is_refused_before_training(corpus, tmp_path):
    """It was accepted: the learning rate rose for the whole run and never reached --lr."""
    out = tmp_path / "lm"
    result = CliRunner().invoke(
        cli, ["train-entropy", str(corpus), "-o", str(out), *args_for({**TINY, "steps": 4}), "--warmup-steps", "5"]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "a warmup of 5 steps (train.warmup_steps, --warmup-steps) is longer than the run's 4 steps" in result.output
    assert not (out / "checkpoint.pt").exists()


def test_an_interrupted_resume_leaves_no_older_model_that_looks_like_its_result(corpus, tmp_path):
    """A finished run resumed to train further and stopped by Ctrl-C left the finished run's
    config.json and model.pt beside the newer checkpoint: a complete model, of step 4, that
    loaded as the run's result. The resume removes them (config.json first) before its first
    step; a resume refused before training keeps them; the run's end writes them again."""
    from bytepatch.io import iter_documents

    out = tmp_path / "lm"
    settings = {**TINY, "steps": 4, "eval_every": 4}
    assert run(str(corpus), "-o", str(out), *args_for(settings)).exit_code == 0
    other = tmp_path / "other.jsonl"
    other.write_text("".join(corpus.read_text().splitlines(keepends=True)[:-3]))
    result = CliRunner().invoke(cli, ["train-entropy", str(other), "-o", str(out), "--resume", "--steps", "8"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert load(out).training["config"]["steps"] == 4  # refused before training: the finished model stays

    def ctrl_c_before(step: int) -> bool:  # a real SIGINT during step 6: the trainer stops after it
        if step == 6:
            os.kill(os.getpid(), signal.SIGINT)
        return False

    docs = [(d.id, d.data) for d in iter_documents([str(corpus)])]
    with pytest.raises(TrainingInterrupted):
        resumed = entropy_settings(**{**settings, "steps": 8})
        train_entropy_lm(docs, out, *resumed, resume=True, log=lambda line: None, stop_after=ctrl_c_before)
    assert safe_torch_load(out / "checkpoint.pt")["extra"]["step"] == 6
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "log.jsonl"]
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        load(out)
    result = CliRunner().invoke(cli, ["train-entropy", str(corpus), "-o", str(out), "--resume"])
    assert result.exit_code == 0, result.output
    assert load(out).training["config"]["steps"] == 8


def test_a_held_out_fraction_of_zero_is_refused_naming_the_option(corpus, tmp_path):
    """--held-out 0 passed the option's range ([0, 1)) and was refused by the split as
    'held-out fraction must be in (0, 1), got 0.0', naming no option."""
    result = CliRunner().invoke(cli, ["train-entropy", str(corpus), "-o", str(tmp_path / "h"), "--held-out", "0"])
    assert result.exit_code == 2 and "Invalid value for '--held-out'" in result.output, result.output
    assert not (tmp_path / "h").exists()
