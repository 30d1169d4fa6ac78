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
