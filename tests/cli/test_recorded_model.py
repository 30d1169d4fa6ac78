"""A run's entropy model is found from any working directory (relative name, run dir, copy)."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
import pytest

from bytepatch.cli._entropy_model import COPIED_NAME, recorded_entropy_model
from bytepatch.entropy import NgramConfig, NgramModel
from bytepatch.entropy.ref import EntropyModelRef

TEXT = [b"the quick brown fox jumps over the lazy dog " * 20, b"pack my box with five dozen liquor jugs " * 20]


def fitted(path: Path, order: int = 3) -> NgramModel:
    model = NgramModel.fit(TEXT, NgramConfig(order=order))
    model.save(path)
    return model


def test_a_relative_name_resolves_next_to_the_run_or_as_a_copy(tmp_path: Path, monkeypatch) -> None:
    project = tmp_path / "project"
    model = fitted(project / "models" / "ngram")
    ref = EntropyModelRef(name="models/ngram", kind="ngram", fingerprint=model.fingerprint)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # "models/ngram" does not resolve from here
    with pytest.raises(click.ClickException, match="copy it into the run directory as entropy_model/"):
        recorded_entropy_model(ref, None, "cpu", near=[elsewhere])
    found = recorded_entropy_model(ref, None, "cpu", near=[elsewhere, project])  # relative to the project
    assert found.fingerprint == model.fingerprint
    run = tmp_path / "run"
    shutil.copytree(project / "models" / "ngram", run / COPIED_NAME)
    assert recorded_entropy_model(ref, None, "cpu", near=[run]).fingerprint == model.fingerprint


def test_a_model_with_another_fingerprint_is_passed_over(tmp_path: Path, monkeypatch) -> None:
    right = fitted(tmp_path / "run" / COPIED_NAME, order=3)
    fitted(tmp_path / "models" / "ngram", order=4)  # same name, other weights
    monkeypatch.chdir(tmp_path)
    ref = EntropyModelRef(name="models/ngram", kind="ngram", fingerprint=right.fingerprint)
    assert recorded_entropy_model(ref, None, "cpu", near=[tmp_path / "run"]).fingerprint == right.fingerprint
    with pytest.raises(click.ClickException, match="fingerprint"):
        recorded_entropy_model(ref, str(tmp_path / "models" / "ngram"), "cpu", near=[tmp_path / "run"])
