"""`bytepatch eval`: one JSON line with bits per byte, on a dataset or on text; mismatches refused."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from bytepatch.cli.main import cli
from bytepatch.dataset import open_dataset
from tests.tiny_runs import JSON_DECODER, train_tiny

# Trains a model in a module-scoped fixture: the whole module is in the slow tier.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, sample_dataset: Path) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("cli-eval")
    small = tmp / "small"  # what is evaluated: 19 short documents, so the tests stay fast
    args = ("segment", str(REPO / "examples" / "sample" / "multilingual.txt"), "-o", str(small), "--doc-per-line")
    assert invoke(*args, "--patcher", "space", "-q").exit_code == 0
    run = tmp / "run"
    train_tiny(sample_dataset, run, steps=3, batch_size=2, seq_len=64)
    return run, small


def test_eval_on_a_dataset_prints_one_json_line(trained):
    run, data = trained
    result = invoke("eval", str(run), str(data), "--device", "cpu", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    manifest = open_dataset(data).manifest
    assert out["bytes"] == manifest["bytes"] and out["documents"] == manifest["documents"]
    assert 0 < out["bits_per_byte"] < 9 and out["step"] == 3
    # The same answer from the checkpoint file itself and with another batch size (rows are identical).
    again = json.loads(invoke("eval", str(run / "checkpoint.pt"), str(data), "--device", "cpu").output)
    assert math.isclose(again["bits_per_byte"], out["bits_per_byte"], rel_tol=1e-5)


def test_eval_on_text_patches_it_like_the_training_data(trained):
    run, _ = trained
    text = "The quick brown fox jumps over the lazy dog. Ünïcödé too."
    out = json.loads(invoke("eval", str(run), "--text", text, "--device", "cpu").output)
    assert out["bytes"] == len(text.encode()) and out["documents"] == 1 and out["data"] == "<text>"
    assert 0 < out["bits_per_byte"] < 12


def test_eval_refuses_a_differently_patched_dataset(tmp_path: Path, trained):
    run, _ = trained
    other = tmp_path / "stride"
    invoke("segment", str(REPO / "examples" / "sample"), "-o", str(other), "--patcher", "stride", "-q")
    result = invoke("eval", str(run), str(other), "--device", "cpu")
    assert result.exit_code != 0 and "patcher setting 'patcher' is 'stride'" in result.output


def test_eval_of_a_baseline_takes_a_dataset_patched_any_way(tmp_path: Path, trained, sample_dataset: Path):
    """The baseline reads no patch boundaries, yet a dataset patched otherwise than its training data was
    refused; its figure is the same whatever the patching (the rows are the same ids)."""
    _, small = trained  # space patches, as the baseline's training data
    other = tmp_path / "stride"
    args = ("segment", str(REPO / "examples" / "sample" / "multilingual.txt"), "-o", str(other), "--doc-per-line")
    assert invoke(*args, "--patcher", "stride", "-q").exit_code == 0
    baseline = train_tiny(sample_dataset, tmp_path / "baseline", "--model", "baseline", steps=1, seq_len=32)
    out = [invoke("eval", str(baseline), str(data), "--device", "cpu") for data in (small, other)]
    assert all(o.exit_code == 0 for o in out), out[1].output
    assert json.loads(out[0].output)["bits_per_byte"] == json.loads(out[1].output)["bits_per_byte"]


def test_eval_refuses_a_file_that_is_not_a_checkpoint(tmp_path: Path, trained):
    _, data = trained
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"not a checkpoint")
    result = invoke("eval", str(bad), str(data), "--device", "cpu")
    assert (
        result.exit_code != 0
        and "not a readable bytepatch checkpoint (damaged, or another kind of file)" in result.output
    )


def test_eval_text_with_the_checkpoints_entropy_model(tmp_path: Path):
    data = tmp_path / "entropy"  # the shipped default entropy model, default threshold
    assert invoke("segment", str(REPO / "examples" / "sample"), "-o", str(data), "-q").exit_code == 0
    run = tmp_path / "run"
    train_tiny(data, run, steps=1, batch_size=1, seq_len=32)
    text = "def f(x):\n    return x + 1\n"
    out = json.loads(invoke("eval", str(run), "--text", text, "--device", "cpu").output)
    assert out["bytes"] == len(text) and 0 < out["bits_per_byte"] < 12
    wrong = invoke("eval", str(run), "--text", text, "--device", "cpu", "--entropy-model", str(tmp_path / "missing"))
    assert wrong.exit_code != 0 and "cannot load entropy model" in wrong.output


def test_eval_on_a_corpus_file_equals_eval_on_its_dataset(trained, tmp_path: Path):
    run, small = trained
    lines = tmp_path / "lines.jsonl"
    docs = [r.bytes for r in open_dataset(small)]
    lines.write_text("".join(json.dumps({"text": d.decode()}) + "\n" for d in docs))
    from_file = json.loads(invoke("eval", str(run), str(lines)).output)
    from_dataset = json.loads(invoke("eval", str(run), str(small)).output)
    assert from_file["bytes"] == from_dataset["bytes"] and from_file["data"] == str(lines)
    assert math.isclose(from_file["bits_per_byte"], from_dataset["bits_per_byte"], rel_tol=1e-5)


def test_eval_reads_a_corpus_with_segments_field_and_line_options(trained, tmp_path: Path):
    """eval had no --text-field/--doc-per-line: a corpus with another field could not be read."""
    run, small = trained
    docs = [r.bytes for r in open_dataset(small)]
    body = tmp_path / "body.jsonl"
    body.write_text("".join(json.dumps({"body": d.decode()}) + "\n" for d in docs))
    text = tmp_path / "lines.txt"
    text.write_bytes(b"".join(d + b"\n" for d in docs))
    from_dataset = json.loads(invoke("eval", str(run), str(small)).output)
    for got in (
        json.loads(invoke("eval", str(run), str(body), "--text-field", "body").output),
        json.loads(invoke("eval", str(run), str(text), "--doc-per-line").output),
    ):
        assert got["bytes"] == from_dataset["bytes"] and got["documents"] == len(docs)
        assert math.isclose(got["bits_per_byte"], from_dataset["bits_per_byte"], rel_tol=1e-5)


def test_eval_takes_the_reading_options_its_readers_errors_advise(trained, tmp_path: Path):
    """A `.json` document said to pass --input-format text and a larger document to raise
    --max-document-bytes, options eval refused as unknown: such a corpus could not be scored."""
    run, small = trained
    docs = [r.bytes for r in open_dataset(small)]
    document = tmp_path / "notes.json"
    document.write_bytes(docs[0])
    result = invoke("eval", str(run), str(document), "--device", "cpu")
    assert result.exit_code == 1 and "--input-format text" in result.output, result.output
    as_text = json.loads(invoke("eval", str(run), str(document), "--input-format", "text", "--device", "cpu").output)
    assert as_text["bytes"] == len(docs[0]) and as_text["documents"] == 1
    lines = tmp_path / "lines.txt"
    lines.write_bytes(b"".join(d + b"\n" for d in docs))
    cap = max(len(d) for d in docs)
    result = invoke("eval", str(run), str(lines), "--doc-per-line", "--max-document-bytes", str(cap - 1))
    assert result.exit_code == 1 and "under --max-document-bytes" in result.output, result.output
    got = json.loads(invoke("eval", str(run), str(lines), "--doc-per-line", "--max-document-bytes", str(cap)).output)
    assert got["documents"] == len(docs)
    result = invoke("eval", str(run), str(small), "--input-format", "jsonl")
    assert result.exit_code == 2 and "read a corpus file or directory only" in result.output, result.output


def test_eval_a_missing_path_is_an_error_not_text(trained, tmp_path: Path):
    run, _ = trained
    result = invoke("eval", str(run), str(tmp_path / "held_out.jsonll"), "--device", "cpu")
    assert result.exit_code != 0 and "no such dataset or file" in result.output and "--text" in result.output


def test_eval_batch_size_and_seq_len_must_be_positive(trained):
    run, data = trained
    for flag in ("--batch-size", "--seq-len"):
        result = invoke("eval", str(run), str(data), "--device", "cpu", flag, "0")
        assert result.exit_code == 2 and "NaN" not in result.output and "Invalid value" in result.output


def test_eval_only_empty_documents_is_an_error_not_nan(trained, tmp_path: Path):
    run, _ = trained
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"text": ""}) + "\n")
    result = invoke("eval", str(run), str(empty), "--device", "cpu")
    assert result.exit_code != 0 and "NaN" not in result.output
    assert f"Error: {empty}: no text to evaluate" in result.output


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_eval_on_a_damaged_shard_is_a_clear_error(trained, tmp_path: Path, damage: str):
    import shutil

    run, small = trained
    copy = tmp_path / "copy"
    shutil.copytree(small, copy)
    shard = copy / open_dataset(copy).manifest["shards"][0]["file"]
    if damage == "truncate":
        shard.write_bytes(shard.read_bytes()[:100])
    else:
        shard.unlink()
    result = CliRunner().invoke(cli, ["eval", str(run), str(copy), "--device", "cpu"])
    assert result.exit_code == 1 and result.exception is not None and isinstance(result.exception, SystemExit)
    assert "cannot evaluate" in result.output and str(shard) in result.output


def test_eval_resolves_the_entropy_model_once(tmp_path: Path, monkeypatch):
    """A corpus file of many documents loads (and fingerprints) the entropy model once, patching all of them."""
    import bytepatch.cli._entropy_model as resolver

    data = tmp_path / "entropy"
    assert invoke("segment", str(REPO / "examples" / "sample"), "-o", str(data), "-q").exit_code == 0
    run = tmp_path / "run"
    train_tiny(data, run, steps=1, batch_size=1, seq_len=32)
    calls = []
    real = resolver.recorded_entropy_model
    monkeypatch.setattr(resolver, "recorded_entropy_model", lambda *a, **k: calls.append(1) or real(*a, **k))
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("".join(json.dumps({"text": f"document {i}: some words"}) + "\n" for i in range(12)))
    result = invoke("eval", str(run), str(corpus), "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert len(calls) == 1 and json.loads(result.output)["documents"] == 12


def test_eval_finds_a_reference_runs_entropy_model_in_the_run_directory(tmp_path: Path, monkeypatch):
    """Under decoder_alignment=reference (every converted transformers BLT) EOS follows the patcher's rule,
    whose entropy model was looked up by its recorded name only: a run whose model is found as its copy
    in the run directory (as `convert` writes it) failed "cannot find the entropy model", though it was there."""
    import shutil

    import bytepatch.cli._entropy_model as resolver
    from bytepatch.entropy import NgramConfig, NgramModel

    source = tmp_path / "sample.txt"
    source.write_bytes(JSON_DECODER.read_bytes())
    NgramModel.fit([source.read_bytes()], NgramConfig(order=3, min_count=1)).save(tmp_path / "ngram")
    data = tmp_path / "data"
    args = (
        "segment",
        str(source),
        "-o",
        str(data),
        "--doc-per-line",
        "-m",
        str(tmp_path / "ngram"),
        "-q",
        "--threshold",
        "2",
    )
    assert invoke(*args).exit_code == 0
    run = train_tiny(
        data, tmp_path / "run", "decoder_alignment=reference", "cross_attn_residual=reference", steps=1, seq_len=32
    )
    shutil.move(tmp_path / "ngram", run / "entropy_model")  # the recorded path no longer resolves
    calls = []
    real = resolver.recorded_entropy_model
    monkeypatch.setattr(resolver, "recorded_entropy_model", lambda *a, **k: calls.append(1) or real(*a, **k))
    text = invoke("eval", str(run), "--text", "Grüße aus Köln", "--device", "cpu")
    assert text.exit_code == 0, text.output
    assert json.loads(text.output)["bytes"] == len("Grüße aus Köln".encode())
    assert len(calls) == 1  # found once, for the patches and for EOS alike
    dataset = invoke("eval", str(run), str(data), "--device", "cpu")
    assert dataset.exit_code == 0, dataset.output
    assert json.loads(dataset.output)["bytes"] == open_dataset(data).manifest["bytes"]


def test_eval_refuses_options_it_would_ignore(trained, sample_dataset: Path, tmp_path: Path):
    """--text-field/--doc-per-line read a corpus file only, and --entropy-model patches text: given where they
    do nothing (literal --text, a dataset, a baseline, a BLT whose patcher needs no model) they were ignored."""
    run, small = trained
    baseline = train_tiny(sample_dataset, tmp_path / "baseline", "--model", "baseline", steps=1, seq_len=32)
    for args in (("--text", "some text", "--doc-per-line"), (str(small), "--text-field", "body")):
        result = invoke("eval", str(run), *args, "--device", "cpu")
        assert result.exit_code == 2 and "read a corpus file or directory only" in result.output, result.output
    model = str(REPO / "examples" / "sample")  # never loaded: refused before
    for checkpoint, data in ((baseline, str(small)), (baseline, "--text"), (run, str(small))):
        args = ("eval", str(checkpoint), data, *(["hello"] if data == "--text" else []), "-m", model)
        result = invoke(*args, "--device", "cpu")
        assert result.exit_code == 1 and "drop --entropy-model" in result.output, result.output


def test_eval_of_an_entropy_lms_directory_says_what_to_run(trained, tmp_path: Path):
    """A train-entropy directory holds a checkpoint.pt too: eval of it on a dataset failed with a traceback
    (KeyError: 'signature'), and on a file or --text scored the LM packed into rows across documents, which
    it never saw in training (eval-entropy scores each document alone)."""
    _, small = trained
    lm = tmp_path / "lm"
    args = ("--preset", "tiny", "--steps", "1", "--batch-size", "1", "--seq-len", "32", "--device", "cpu")
    invoke("train-entropy", str(REPO / "examples" / "sample"), "-o", str(lm), *args)
    for data in ([str(small)], [str(lm / "config.json")], ["--text", "some text"]):
        result = CliRunner().invoke(cli, ["eval", str(lm), *data, "--device", "cpu"])
        assert result.exit_code == 1 and isinstance(result.exception, (SystemExit, type(None))), result.output
        assert "Traceback" not in result.output and len(result.output.splitlines()) == 1, result.output
        assert "an entropy LM's training checkpoint (train-entropy)" in result.output
        assert f"bytepatch eval-entropy DATA -m {lm}" in result.output
