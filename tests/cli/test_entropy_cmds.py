"""`fit-entropy`, `eval-entropy` and `calibrate` end to end through click (tiny settings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bytepatch.cli.main import cli

SNIPPET = (Path(__file__).resolve().parents[1] / "bytepatch" / "entropy" / "data" / "snippet.txt").read_text()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("entropy") / "corpus.jsonl"
    lines = [line for line in SNIPPET.splitlines() if line]
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in lines * 4 + ["Ünïcödé wörds 🙂", ""]))
    return path


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_fit_eval_calibrate_round_trip(corpus, tmp_path):
    out = tmp_path / "model"
    result = run("fit-entropy", corpus, "--output", out, "--order", "4", "--min-count", "1")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["kind"] == "ngram"

    result = run("eval-entropy", corpus, "--entropy-model", out)
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(row) == {"bits_per_byte", "mean_entropy_nats", "bytes"}
    assert row["bytes"] == sum(len(t.encode()) for t in [*(l for l in SNIPPET.splitlines() if l)] * 4) + len("Ünïcödé wörds 🙂".encode())
    assert 0 < row["bits_per_byte"] < 8

    result = run("calibrate", corpus, "--target-patch-size", "4", "--entropy-model", out)
    assert result.exit_code == 0, result.output
    float(result.stdout.strip().splitlines()[-1])


def test_default_model_is_used_without_flags(corpus):
    result = run("eval-entropy", corpus)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["bits_per_byte"] < 4
    for rule in ("global", "relative", "both"):
        result = run("calibrate", corpus, "-s", "5", "--rule", rule)
        assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval-entropy", "missing.jsonl"], "missing.jsonl"),
        (["eval-entropy", "{corpus}", "-m", "no/such/model"], "no such directory"),
        (["calibrate", "{corpus}", "-s", "0.5"], "target-patch-size"),
        (["calibrate", "{corpus}", "-s", "100000"], "outside"),
        (["fit-entropy", "{corpus}", "-o", "{tmp}/m", "--order", "12"], "order"),
    ],
)
def test_user_errors_exit_nonzero_with_a_message(corpus, tmp_path, args, message):
    result = run(*(a.format(corpus=corpus, tmp=tmp_path) for a in args))
    assert result.exit_code != 0
    assert message in result.output


def test_transformer_kind_without_models_module_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "lm").mkdir()
    (tmp_path / "lm" / "config.json").write_text(json.dumps({"kind": "transformer"}))
    monkeypatch.setattr("bytepatch.cli._entropy_model.TRANSFORMER_MODULE", "bytepatch.models.no_such_module")
    result = run("eval-entropy", tmp_path / "lm" / "config.json", "-m", tmp_path / "lm")
    assert result.exit_code != 0
    assert "transformer" in result.output
