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
