"""`bytepatch verify` names: a path, or `default` for the shipped entropy model (as `-m default`)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bytepatch.cli.main import cli
from bytepatch.entropy.registry import DEFAULT_MODEL_DIR


def test_default_verifies_the_shipped_entropy_model(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["verify", "default"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("default: ok, n-gram entropy model, weights match their fingerprint")
    assert str(DEFAULT_MODEL_DIR) in result.output


def test_a_directory_named_default_here_is_verified_itself(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").mkdir()
    result = CliRunner().invoke(cli, ["verify", "default"])
    assert result.exit_code == 1 and result.output.startswith("Error: default: not a dataset")


def test_a_missing_path_is_no_such_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["verify", str(tmp_path / "nope")])
    assert result.exit_code == 1 and result.output == f"Error: {tmp_path / 'nope'}: no such directory\n"


def test_a_fifo_in_place_of_a_runs_config_json_is_refused_not_read(tmp_path: Path, sample_dataset: Path) -> None:
    """`verify`/`eval` opened DIR/config.json to tell a `transformers` directory or a run's
    config, and a FIFO there (no writer ever comes) blocked them for ever."""
    import os
    import subprocess
    import sys

    import pytest

    from tests.tiny_runs import train_tiny

    if not hasattr(os, "mkfifo"):
        pytest.skip("needs a FIFO")
    run = train_tiny(sample_dataset, tmp_path / "run", steps=1)
    (run / "config.json").unlink()
    os.mkfifo(run / "config.json")
    for args in (["verify", str(run)], ["eval", str(run), "--text", "hello"]):
        cmd = [sys.executable, "-m", "bytepatch.cli.main", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "bytepatch.cli.main", "verify", str(run)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 1 and f"{run / 'config.json'}: not a regular file" in proc.stderr, proc.stderr


def test_a_dataset_whose_num_shards_jobs_have_not_all_finished_says_which_are_left(tmp_path: Path) -> None:
    """Before the last job writes manifest.json, `stats`, `inspect` and `verify` told one to
    `--resume` an interrupted run (the job that finished has nothing to resume), or `verify`
    that it was no dataset at all; they now name the jobs still to run."""
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(f'{{"text": "document {i} " }}\n' for i in range(200)))
    out = tmp_path / "out"
    args = ["segment", str(corpus), "-o", str(out), "--patcher", "space", "--shard-size-mb", "0.001", "-q"]
    result = CliRunner().invoke(cli, [*args, "--num-shards", "3", "--shard-index", "1"])
    assert result.exit_code == 0 and not (out / "manifest.json").exists(), result.output
    for command in (["stats", str(out)], ["verify", str(out)], ["inspect", str(out), "--row", "0"]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 1, result.output
        assert "1 of 3 `--num-shards 3` jobs have finished" in result.output, result.output
        assert "--shard-index 0, 2" in result.output and "--resume" not in result.output, result.output


def test_verify_names_an_interrupted_segment_run(tmp_path: Path) -> None:
    """Shards without a manifest: `verify` said `not a dataset (no manifest.json), training run ...`."""
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"text": "a b c"}\n')
    out = tmp_path / "out"
    assert CliRunner().invoke(cli, ["segment", str(corpus), "-o", str(out), "--patcher", "space", "-q"]).exit_code == 0
    (out / "manifest.json").unlink()
    result = CliRunner().invoke(cli, ["verify", str(out)])
    assert result.exit_code == 1 and "not a complete bytepatch dataset, no manifest.json" in result.output
    assert "--resume" in result.output, result.output
