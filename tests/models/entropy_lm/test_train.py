"""`train_entropy_lm` over a directory that already holds an entropy model."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from bytepatch.entropy.ngram import NgramConfig, NgramCounter
from bytepatch.models.entropy_lm import load
from bytepatch.models.entropy_lm.train import TrainingError, entropy_settings, train_entropy_lm

LIB = Path(sysconfig.get_paths()["stdlib"])


def docs() -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()[:3000]) for p in sorted((LIB / "json").glob("*.py"))]


def ngram_model(out: Path) -> None:
    counter = NgramCounter(NgramConfig(order=3, min_count=1))
    counter.update([d for _, d in docs()])
    counter.finalize().save(out)


def settings():
    return entropy_settings(
        "tiny", steps=1, batch_size=1, seq_len=32, eval_every=1, save_every=1, log_every=1, eval_bytes=500
    )


def test_an_ngram_model_in_the_output_is_refused_without_offering_resume(tmp_path):
    """It said 'pass --resume to continue or --overwrite', and --resume had no checkpoint to continue."""
    ngram_model(tmp_path / "m")
    with pytest.raises(TrainingError, match=r"already holds an entropy model \(config.json, ngram.npz\)") as info:
        train_entropy_lm(docs(), tmp_path / "m", *settings(), log=lambda line: None)
    assert "--resume" not in str(info.value) and "--overwrite" in str(info.value)


def test_overwrite_replaces_an_ngram_model_whole(tmp_path):
    """--overwrite replaced the n-gram model's config.json and left its ngram.npz beside the new model."""
    ngram_model(tmp_path / "m")
    train_entropy_lm(docs(), tmp_path / "m", *settings(), overwrite=True, log=lambda line: None)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "checkpoint.pt",
        "config.json",
        "log.jsonl",
        "model.pt",
    ]
    assert load(tmp_path / "m").kind == "transformer"


def _failing_docs():
    yield from docs()[:2]
    raise ValueError("corpus.jsonl:3: malformed JSON")


@pytest.mark.parametrize("kind", ["ngram", "transformer"])
@pytest.mark.parametrize("problem", ["inputs", "batch"])
def test_an_overwrite_refused_for_its_inputs_or_settings_keeps_the_model(tmp_path, kind, problem):
    """--overwrite removed the model (config.json, model.pt; ngram.npz) before the run had read its
    inputs: a missing file, a bad line or a batch larger than the corpus then left no model at all."""
    out = tmp_path / "m"
    if kind == "ngram":
        ngram_model(out)
    else:
        train_entropy_lm(docs(), out, *settings(), log=lambda line: None)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    run, options = settings()
    if problem == "batch":
        run, options = entropy_settings("tiny", steps=1, batch_size=64, seq_len=4096, eval_bytes=500)
    inputs = _failing_docs() if problem == "inputs" else docs()
    with pytest.raises((TrainingError, ValueError), match="malformed JSON|fewer than one batch needs"):
        train_entropy_lm(inputs, out, run, options, overwrite=True, log=lambda line: None)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
