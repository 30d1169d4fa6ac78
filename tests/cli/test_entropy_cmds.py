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

    sample = json.loads((out / "config.json").read_text())["stats"]["threshold_calibration"]["sample"]
    assert int(sample.split()[0].replace(",", "")) <= Path(corpus).stat().st_size  # contexts are not counted

    result = run("eval-entropy", corpus, "--entropy-model", out)
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(row) == {"bits_per_byte", "mean_entropy_nats", "bytes"}
    assert row["bytes"] == sum(len(t.encode()) for t in [*(line for line in SNIPPET.splitlines() if line)] * 4) + len(
        "Ünïcödé wörds 🙂".encode()
    )
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
        (["calibrate", "{corpus}"], "Missing option '--target-patch-size'"),
        (["calibrate", "{corpus}", "-s", "0.5"], "target-patch-size"),
        (["calibrate", "{corpus}", "-s", "100000"], "outside"),
        (["fit-entropy", "{corpus}", "-o", "{tmp}/m", "--order", "12"], "order"),
        (["calibrate", "{corpus}", "-s", "4", "--rule", "both", "--threshold-add", "nan"], "finite number, got nan"),
        (["calibrate", "{corpus}", "-s", "4", "--threshold-add", "0.3"], "held fixed by --rule both only"),
        (["model-info", "tiny", "--patch-size", "nan"], "--patch-size must be a finite number"),
    ],
)
def test_user_errors_exit_nonzero_with_a_message(corpus, tmp_path, args, message):
    result = run(*(a.format(corpus=corpus, tmp=tmp_path) for a in args))
    assert result.exit_code != 0
    assert message in result.output


def test_transformer_kind_without_models_module_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "lm").mkdir()
    (tmp_path / "lm" / "config.json").write_text(json.dumps({"kind": "transformer"}))
    from bytepatch.entropy.source import PLUGIN_LOADERS  # the one table of loaders outside the core

    monkeypatch.setitem(PLUGIN_LOADERS, "transformer", ("bytepatch.models.no_such_module", "load"))
    result = run("eval-entropy", tmp_path / "lm" / "config.json", "-m", tmp_path / "lm")
    assert result.exit_code != 0
    assert "transformer" in result.output


@pytest.fixture(scope="module")
def tiny_model(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "model"
    result = run("fit-entropy", corpus, "--output", out, "--order", "4", "--min-count", "1")
    assert result.exit_code == 0, result.output
    return out


def _copy(model: Path, dest: Path) -> Path:
    dest.mkdir()
    for f in model.iterdir():
        (dest / f.name).write_bytes(f.read_bytes())
    return dest


def _truncate(path: Path) -> None:
    data = (path / "ngram.npz").read_bytes()
    (path / "ngram.npz").write_bytes(data[: len(data) // 2])


def _drop_array(path: Path) -> None:
    import numpy as np

    with np.load(path / "ngram.npz") as npz:
        arrays = {k: npz[k] for k in npz.files if k != "succ_len"}
    np.savez_compressed(path / "ngram.npz", **arrays)


def _inconsistent(path: Path) -> None:
    import numpy as np

    with np.load(path / "ngram.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["succ_byte"] = arrays["succ_byte"][:-3]  # sum(succ_len) no longer matches
    np.savez_compressed(path / "ngram.npz", **arrays)


def _edit_config(key, value):
    def edit(path: Path) -> None:
        config = json.loads((path / "config.json").read_text())
        if value is None:
            config.pop(key)
        elif key == "order":
            config["config"]["order"] = value
        else:
            config[key] = value
        (path / "config.json").write_text(json.dumps(config))

    return edit


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_truncate, "ngram.npz: unreadable or corrupt"),
        (_drop_array, "missing arrays ['succ_len']"),
        (_inconsistent, "sum(succ_len)"),
        (_edit_config("order", "6"), "order must be an integer"),
        (_edit_config("fingerprint", None), "missing 'fingerprint'"),
        (_edit_config("fingerprint", "0" * 64), "does not match the weights"),
        (_edit_config("surprise", 1), "unknown ngram entropy model config keys: surprise"),
    ],
)
@pytest.mark.parametrize("command", ["eval-entropy", "calibrate"])
def test_corrupt_model_directory_is_a_clear_cli_error(corpus, tiny_model, tmp_path, damage, message, command):
    model = _copy(tiny_model, tmp_path / "damaged")
    damage(model)
    args = [command, corpus, "-m", model] + (["-s", "4"] if command == "calibrate" else [])
    result = run(*args)  # catch_exceptions=False: a traceback would fail the test here
    assert result.exit_code == 1, result.output
    assert "cannot load entropy model" in result.output and message in result.output
    assert "Traceback" not in result.output


def test_calibrate_samples_a_bounded_spread_sample(tmp_path, tiny_model):
    big = tmp_path / "big.txt"
    big.write_text(SNIPPET * 200)  # one long document
    small = tmp_path / "small.jsonl"
    lines = [line for line in SNIPPET.splitlines() if line]
    small.write_text("".join(json.dumps({"text": t}) + "\n" for t in lines * 4))
    result = run("calibrate", big, small, "-s", "4", "-m", tiny_model, "--sample-bytes", "16000")
    assert result.exit_code == 0, result.output
    # At most 16000 bytes of pieces with their context (own bytes counted), not the whole long document.
    n = int(result.stderr.split(" on ")[1].split()[0])
    assert 4000 <= n <= 16000, result.stderr


def test_calibrate_sample_bytes_must_be_positive(corpus):
    result = run("calibrate", corpus, "-s", "4", "--sample-bytes", "0")
    assert result.exit_code == 2 and "sample-bytes" in result.output


def test_the_input_format_the_readers_errors_advise_is_taken(tmp_path):
    """A `.json` document or a PNG among the inputs stops these commands with advice to
    pass --input-format text, which they refused: `No such option '--input-format'`."""
    document = tmp_path / "settings.json"
    document.write_text('{\n  "text": "a pretty-printed JSON document, not JSON Lines"\n}\n')
    image = tmp_path / "logo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"pixels of an image, taken as bytes " * 20)
    model = tmp_path / "model"
    cases = {
        "eval-entropy": [],
        "calibrate": ["-s", "2"],
        "fit-entropy": ["--order", "3", "--min-count", "1", "-s", "2", "--output", model, "--overwrite"],
    }
    for command, extra in cases.items():
        for path, advice in ((document, "pass them with --input-format text"), (image, "pass --input-format text")):
            result = run(command, path, *extra)
            assert result.exit_code == 1 and advice in result.output, (command, result.output)
            result = run(command, path, *extra, "--input-format", "text")
            assert result.exit_code == 0, (command, result.output)
    result = run("eval-entropy", image, "--input-format", "text")
    assert json.loads(result.stdout.strip().splitlines()[-1])["bytes"] == image.stat().st_size


@pytest.mark.parametrize("command", ["eval-entropy", "calibrate", "fit-entropy", "train-entropy"])
def test_the_document_cap_their_errors_name_is_taken(tmp_path, command):
    """A document over the cap stopped these commands with `over --max-document-bytes`,
    an option they refused as unknown: with a larger corpus document there was no way on."""
    corpus = tmp_path / "corpus.jsonl"
    lines = [line for line in SNIPPET.splitlines() if line]
    corpus.write_text(
        json.dumps({"text": " ".join(lines)}) + "\n" + "".join(json.dumps({"text": t}) + "\n" for t in lines * 4)
    )
    big = len(" ".join(lines).encode())
    extra = {
        "eval-entropy": [],
        "calibrate": ["-s", "2"],
        "fit-entropy": ["--order", "3", "--min-count", "1", "-s", "2", "--output", tmp_path / "ngram"],
        "train-entropy": [
            "--preset",
            "tiny",
            "--steps",
            "1",
            "--seq-len",
            "32",
            "--batch-size",
            "2",
            "-o",
            tmp_path / "lm",
        ],
    }[command]
    result = run(command, corpus, *extra, "--max-document-bytes", big - 1)
    assert result.exit_code == 1, result.output
    assert f"{corpus}:1: document of {big:,} bytes is over --max-document-bytes ({big - 1:,})" in result.output
    result = run(command, corpus, *extra, "--max-document-bytes", big, *(["--overwrite"] if "-o" in extra else []))
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def train_run(tmp_path_factory, sample_dataset) -> Path:
    """The directory of a tiny `bytepatch train` run: a BLT checkpoint, not an entropy model."""
    from tests.tiny_runs import train_tiny

    return train_tiny(sample_dataset, tmp_path_factory.mktemp("train") / "run", steps=1)


@pytest.mark.parametrize(
    "args",
    [
        ["eval-entropy", "{corpus}"],
        ["calibrate", "{corpus}", "-s", "4"],
        ["segment", "{corpus}", "-o", "{tmp}/out"],
        ["inspect", "{corpus}"],
    ],
)
def test_a_train_run_given_as_the_entropy_model_is_named_as_one(corpus, tmp_path, train_run, args):
    """`-m RUN` said "RUN/config.json: expected a JSON object with a string 'kind' field"."""
    result = run(*(a.format(corpus=corpus, tmp=tmp_path) for a in args), "-m", train_run)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0] == (
        f"Error: cannot load entropy model '{train_run}': it is the directory of a `bytepatch train` run (a BLT "
        "checkpoint), not an entropy model; --entropy-model takes a directory written by fit-entropy or "
        "train-entropy, or a name (default, ngram-default); eval, generate and convert take the run"
    )


def test_fit_entropy_overwrite_replaces_a_transformer_model_whole(corpus, tmp_path):
    """--overwrite over a train-entropy directory left its model.pt, checkpoint.pt and log.jsonl
    beside the new n-gram model (and `train-entropy --resume` there resumed the old run)."""
    import torch

    from bytepatch.models.entropy_lm import TransformerEntropyModel
    from bytepatch.models.nn.transformer import ByteTransformer, ByteTransformerConfig

    out = tmp_path / "lm"
    torch.manual_seed(0)
    TransformerEntropyModel(ByteTransformer(ByteTransformerConfig(n_layers=1, dim=16, n_heads=2, window=8))).save(out)
    (out / "checkpoint.pt").write_bytes(b"a training checkpoint")
    (out / "log.jsonl").write_text('{"step": 1}\n')
    (out / "notes.txt").write_text("the user's")
    result = run("fit-entropy", corpus, "-o", out, "--order", "3", "--min-count", "1", "-s", "2", "--overwrite")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "ngram.npz", "notes.txt"]
    assert json.loads((out / "config.json").read_text())["kind"] == "ngram"


def test_the_transformer_files_fit_entropy_removes_are_train_entropys():
    from bytepatch.cli.entropy_cmds import TRANSFORMER_FILES
    from bytepatch.models.entropy_lm.model import WEIGHTS_FILE
    from bytepatch.models.train.checkpoint import CHECKPOINT_FILE, LOG_FILE

    assert set(TRANSFORMER_FILES) == {WEIGHTS_FILE, CHECKPOINT_FILE, LOG_FILE}


def test_an_unfinished_train_entropy_run_is_named_as_one(tmp_path):
    """A train-entropy run stopped before its end holds checkpoint.pt and no model: loading it
    said only 'has no config.json', not why nor how to finish it."""
    import sysconfig

    from bytepatch.models.entropy_lm.train import TrainingInterrupted, entropy_settings, train_entropy_lm

    lib = Path(sysconfig.get_paths()["stdlib"])
    docs = [(p.name, p.read_bytes()[:3000]) for p in sorted((lib / "json").glob("*.py"))]
    settings = entropy_settings("tiny", steps=3, batch_size=1, seq_len=32, eval_bytes=500)
    with pytest.raises(TrainingInterrupted):
        train_entropy_lm(docs, tmp_path / "lm", *settings, log=lambda line: None, stop_after=lambda step: step == 1)
    for command in (["eval-entropy", str(lib / "json" / "tool.py")], ["inspect", "--text", "hello"]):
        result = CliRunner().invoke(cli, [*command, "-m", str(tmp_path / "lm")])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert "has no config.json yet: it holds the checkpoint.pt of an unfinished train-entropy run" in result.output
        assert f"-o {tmp_path / 'lm'} --resume" in result.output


def test_fit_entropy_overwrite_refuses_a_train_run(corpus, tmp_path, train_run):
    """--overwrite replaced a `bytepatch train` run's config.json with the model's, and since the
    transformer model's files go with it, deleted the run's checkpoint: it is refused, untouched."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(train_run, out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    result = run("fit-entropy", corpus, "-o", out, "--order", "3", "--min-count", "1", "-s", "2", "--overwrite")
    assert result.exit_code == 1 and "holds a `bytepatch train` run" in result.output, result.output
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
