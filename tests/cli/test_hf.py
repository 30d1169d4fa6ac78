"""`transformers` BLT directories end to end on CPU: segment/inspect/calibrate/eval-entropy with its patcher,
eval, generate, train --init, and `bytepatch convert` both ways (tiny random checkpoints built with the port)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from bytepatch.models.hf import load_blt, load_patcher
from tests.models.hf.tiny import save_hf
from tests.tiny_runs import JSON_DECODER, invoke, train_tiny

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.usefixtures("one_thread")
TRAIN = [
    "--steps",
    "5",
    "--batch-size",
    "2",
    "--seq-len",
    "64",
    "--device",
    "cpu",
    "train.eval_batches=1",
    "train.log_every=1",
    "train.eval_every=5",
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    """A tiny random BltForCausalLM (with patcher), a corpus, and the corpus patched by that patcher."""
    root = tmp_path_factory.mktemp("hf")
    save_hf(root / "blt", seed=31)
    corpus = root / "decoder.txt"
    corpus.write_bytes(JSON_DECODER.read_bytes()[:6000])
    invoke(
        "segment",
        str(corpus),
        "-o",
        str(root / "data"),
        "--doc-per-line",
        "--entropy-model",
        str(root / "blt"),
        "--device",
        "cpu",
        "-q",
    )
    return {"root": root, "blt": root / "blt", "corpus": corpus, "data": root / "data"}


def test_segment_uses_the_ports_patcher_and_threshold(setup):
    meta = json.loads((setup["data"] / "manifest.json").read_text())["metadata"]
    lm = load_patcher(setup["blt"])
    assert meta["entropy_model"]["fingerprint"] == lm.fingerprint
    assert meta["patcher"]["patcher"] == "entropy" and meta["patcher"]["threshold"] == pytest.approx(1.335442066192627)


def test_inspect_calibrate_and_eval_entropy_accept_the_directory(setup):
    blt = str(setup["blt"])
    assert invoke("inspect", "--text", "hello patches", "--entropy-model", blt).output
    out = invoke("calibrate", str(setup["corpus"]), "--doc-per-line", "-s", "2", "-m", blt).stdout
    assert float(out.strip().split()[-1]) > 0  # a random patcher's entropies sit near ln(260): thresholds near 5
    scored = json.loads(invoke("eval-entropy", str(setup["corpus"]), "--doc-per-line", "-m", blt).output)
    assert scored["bits_per_byte"] > 0


def test_eval_an_hf_directory_equals_its_converted_run(setup, tmp_path):
    direct = json.loads(invoke("eval", str(setup["blt"]), str(setup["data"]), "--device", "cpu").output)
    invoke("convert", str(setup["blt"]), "-o", str(tmp_path / "run"))
    assert (tmp_path / "run" / "entropy_model" / "config.json").exists()
    converted = json.loads(invoke("eval", str(tmp_path / "run"), str(setup["data"]), "--device", "cpu").output)
    assert direct["bits_per_byte"] == pytest.approx(converted["bits_per_byte"], abs=1e-6)
    assert direct["bytes"] == converted["bytes"] > 0
    text = json.loads(invoke("eval", str(setup["blt"]), "--text", "The quick brown fox", "--device", "cpu").output)
    assert text["bytes"] == len("The quick brown fox")


def test_generate_from_an_hf_directory(setup):
    args = ("generate", str(setup["blt"]), "-p", "def decode(", "-n", "20", "-t", "0", "--device", "cpu")
    cached = invoke(*args).stdout_bytes
    assert len(cached) == 20 or cached  # may stop at EOS
    assert invoke(*args, "--no-cache").stdout_bytes == cached


def test_train_init_fine_tunes_and_exports_back(setup, tmp_path):
    run = tmp_path / "ft"
    invoke("train", str(setup["data"]), "-o", str(run), "--init", str(setup["blt"]), *TRAIN)
    saved = json.loads((run / "config.json").read_text())
    assert saved["model"]["cross_attn_residual"] == "reference" and saved["model"]["decoder_alignment"] == "reference"
    assert saved["data"]["entropy_model_fingerprint"] == load_patcher(setup["blt"]).fingerprint  # pinned
    invoke("convert", str(run), "-o", str(tmp_path / "ft-hf"), "--to", "hf")
    port = transformers.BltForCausalLM.from_pretrained(str(tmp_path / "ft-hf")).eval()
    ours = load_blt(tmp_path / "ft-hf")
    start = load_blt(setup["blt"])
    assert ours.entropy_model.fingerprint == start.entropy_model.fingerprint  # the patcher travels unchanged
    changed = [k for k, v in ours.model.state_dict().items() if not torch.equal(v, start.model.state_dict()[k])]
    assert changed  # five steps moved the weights
    ids = torch.tensor([[1, *(b + 4 for b in b"fine-tuned, exported, reloaded")]])
    lengths = torch.tensor([[1, 10, 10, 10, 0]])
    with torch.no_grad():
        a = port(input_ids=ids, patch_lengths=lengths, use_cache=False).logits
        ext = torch.cat([ids, torch.tensor([[4]])], 1)
        b = ours.model(ext, torch.tensor([[1, 10, 10, 10, 1]]))[0][:, :-1]
    assert (a - b).abs().max() < 1e-4


def test_train_init_refuses_data_patched_otherwise(setup, tmp_path):
    other = tmp_path / "space"
    invoke("segment", str(setup["corpus"]), "-o", str(other), "--doc-per-line", "--patcher", "space", "-q")
    result = invoke("train", str(other), "-o", str(tmp_path / "ft"), "--init", str(setup["blt"]), *TRAIN, ok=False)
    assert result.exit_code != 0 and "patcher" in result.output


def test_convert_refuses_clearly(setup, tmp_path):
    # a bytepatch BLT with the default (strict) alignment has no transformers equivalent
    invoke("segment", str(setup["corpus"]), "-o", str(tmp_path / "space"), "--doc-per-line", "--patcher", "space", "-q")
    train_tiny(tmp_path / "space", tmp_path / "strict", "train.log_every=1", "train.eval_every=5", steps=5)
    result = invoke("convert", str(tmp_path / "strict"), "-o", str(tmp_path / "out"), ok=False)
    assert result.exit_code != 0 and "decoder_alignment='strict'" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    result = invoke("convert", str(setup["blt"]), "-o", str(tmp_path / "busy"), ok=False)
    assert result.exit_code != 0 and "not an empty directory" in result.output
    result = invoke("convert", str(setup["blt"]), "-o", str(tmp_path / "x"), "--to", "hf", ok=False)
    assert "already in the hf format" in result.output


def test_the_models_md_recipe_gives_the_runs_logits_in_transformers(setup, tmp_path, monkeypatch, capsys):
    """docs/models.md showed how to export a run but not how to run the export in `transformers`
    (the port needs the patch lengths of an n-gram run passed in): its recipe, run as written."""
    import re

    doc = (Path(__file__).resolve().parents[2] / "docs" / "models.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, re.S)
    (recipe,) = [b for b in blocks if 'from_pretrained("tiny-hf")' in b]
    data = tmp_path / "data"
    invoke("segment", str(setup["corpus"]), "-o", str(data), "--doc-per-line", "-q")  # the shipped n-gram model
    train_tiny(
        data, tmp_path / "runs" / "tiny", "decoder_alignment=reference", "cross_attn_residual=reference", steps=2
    )
    invoke("convert", str(tmp_path / "runs" / "tiny"), "-o", str(tmp_path / "tiny-hf"))
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    exec(compile(recipe, "docs/models.md", "exec"), {})
    assert float(capsys.readouterr().out.strip().removeprefix("tensor(").removesuffix(")")) < 1e-5


@pytest.mark.parametrize(
    ("patching", "settings", "refusal"),
    [
        (["--patcher", "space"], [], "cannot export to transformers: decoder_alignment='strict'"),
        ([], [], "cannot export to transformers: decoder_alignment='strict'"),  # the shipped n-gram model
        (["--patcher", "space"], ["decoder_alignment=reference", "cross_attn_residual=reference"], "not an empty"),
    ],
    ids=["strict-space", "strict-ngram", "busy-output"],
)
def test_convert_refuses_before_any_note(setup, tmp_path, patching, settings, refusal):
    """A run patched without the port's patcher (space, an n-gram model) printed "note: ... exporting
    without a patcher" before the refusal of a strict run or of a busy --output: the refusal comes alone."""
    data = tmp_path / "data"
    invoke("segment", str(setup["corpus"]), "-o", str(data), "--doc-per-line", *patching, "-q")
    run = train_tiny(data, tmp_path / "run", *settings, steps=1)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    result = invoke("convert", str(run), "-o", str(tmp_path / "busy"), ok=False)
    assert result.exit_code == 1
    assert len(result.output.splitlines()) == 1 and result.output.startswith("Error: "), result.output
    assert refusal in result.output
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["x"]


def test_entropy_model_directory_round_trip(setup, tmp_path):
    invoke("convert", str(setup["blt"]), "-o", str(tmp_path / "run"))
    invoke("convert", str(tmp_path / "run" / "entropy_model"), "-o", str(tmp_path / "patcher"))
    assert json.loads((tmp_path / "patcher" / "config.json").read_text())["model_type"] == "blt_patcher"
    assert load_patcher(tmp_path / "patcher").fingerprint == load_patcher(setup["blt"]).fingerprint
    invoke("convert", str(tmp_path / "patcher"), "-o", str(tmp_path / "back"))
    assert json.loads((tmp_path / "back" / "config.json").read_text())["kind"] == "transformer"


def test_convert_refuses_an_entropy_model_option_it_would_not_use(setup, tmp_path):
    """--entropy-model picks a bytepatch run's entropy model to export; converting a transformers
    directory or an entropy model's directory took it and ignored it, whatever it named."""
    invoke("convert", str(setup["blt"]), "-o", str(tmp_path / "run"))
    for src in (setup["blt"], tmp_path / "run" / "entropy_model"):
        out = tmp_path / f"out-{src.name}"
        result = invoke("convert", str(src), "-o", str(out), "-m", str(tmp_path / "nowhere"), ok=False)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert "drop --entropy-model" in result.output and not out.exists()


def test_resuming_a_converted_run_says_to_fine_tune_it(setup, tmp_path):
    """A run directory converted from a transformers BLT holds weights only (step 0, no optimizer
    state, no data position): `train --resume` in it said 'cannot restore the run from it:
    AttributeError: 'NoneType' object has no attribute 'copy'' (or, with few --steps, that the
    default warmup was too long)."""
    run = tmp_path / "run"
    invoke("convert", str(setup["blt"]), "-o", str(run))
    before = sorted(p.name for p in run.iterdir())
    for extra in ([], ["--steps", "2"]):
        result = invoke("train", str(setup["data"]), "-o", str(run), "--resume", *extra, ok=False)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert len(result.output.splitlines()) == 1 and "converted from" in result.output, result.output
        assert f"train --init {run}" in result.output
    assert sorted(p.name for p in run.iterdir()) == before


def test_a_transformers_directory_with_a_broken_config_says_so(setup, tmp_path):
    """It said '.../checkpoint.pt: no such file', about a file such a directory never has."""
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(setup["blt"], broken)
    (broken / "config.json").write_text("{")
    result = invoke("eval", str(broken), "--text", "hello", ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{broken / 'config.json'}: not valid JSON" in result.output


def test_convert_takes_a_train_entropy_directory_with_its_resume_checkpoint(setup, tmp_path):
    """`train-entropy` keeps checkpoint.pt beside the model; convert took the directory for a run
    ('holds a baseline model') instead of exporting the entropy model as a BltPatcher."""
    lm_dir = tmp_path / "lm"
    invoke(
        "train-entropy",
        str(setup["corpus"]),
        "--doc-per-line",
        "-o",
        str(lm_dir),
        "--preset",
        "tiny",
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--seq-len",
        "64",
        "--eval-bytes",
        "512",
        "--held-out",
        "0.2",
        "-s",
        "2",
    )
    assert (lm_dir / "checkpoint.pt").exists()
    result = invoke("convert", str(lm_dir), "-o", str(tmp_path / "patcher"), ok=False)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "patcher" / "config.json").read_text())["model_type"] == "blt_patcher"
    from bytepatch.models.entropy_lm import load

    lm = load(lm_dir)
    port = transformers.models.blt.modeling_blt.BltPatcher.from_pretrained(str(tmp_path / "patcher")).eval()
    doc = setup["corpus"].read_bytes()[:200]
    ids = torch.tensor([[1, *(b + 4 for b in doc)]])
    with torch.no_grad():
        port_h = port(ids)[0][0, :-1].numpy()
    assert abs(port_h - lm.entropies([doc])[0]).max() < 1e-4


def test_a_space_patched_export_still_evaluates_on_its_data(setup, tmp_path):
    """A run patched by the space patcher exports without the port's patcher; the directory then
    claimed the port's entropy patching, so eval and train --init refused the run's own data
    ("patcher setting 'patcher' is 'space', but checkpoint ... has 'entropy'"), also once converted back."""
    data = tmp_path / "space"
    invoke("segment", str(setup["corpus"]), "-o", str(data), "--doc-per-line", "--patcher", "space", "-q")
    run = train_tiny(data, tmp_path / "run", "decoder_alignment=reference", "cross_attn_residual=reference")
    invoke("convert", str(run), "-o", str(tmp_path / "hf"))
    port = transformers.BltForCausalLM.from_pretrained(str(tmp_path / "hf"))  # the record is a key the port keeps
    assert port.config.patch_in_forward is False
    invoke("convert", str(tmp_path / "hf"), "-o", str(tmp_path / "back"))

    def bits(checkpoint: Path, *what: str) -> float:
        out = invoke("eval", str(checkpoint), *what, "--device", "cpu", "--seq-len", "64").output  # the run's rows
        return json.loads(out)["bits_per_byte"]

    for what in ((str(data),), ("--text", "a space-patched line of text")):
        expected = bits(run, *what)
        assert bits(tmp_path / "hf", *what) == bits(tmp_path / "back", *what) == expected
    invoke("train", str(data), "-o", str(tmp_path / "ft"), "--init", str(tmp_path / "hf"), *TRAIN)


def test_eval_packs_the_runs_rows_after_a_round_trip(setup, tmp_path):
    """eval packs rows of the run's seq_len; a run exported to transformers (and back) fell back to
    the trainer's default 1024, so `eval` of the same weights on the same data gave other bits per byte."""
    run = tmp_path / "ft"
    invoke("train", str(setup["data"]), "-o", str(run), "--init", str(setup["blt"]), *TRAIN)  # rows of 64 ids
    invoke("convert", str(run), "-o", str(tmp_path / "hf"))
    invoke("convert", str(tmp_path / "hf"), "-o", str(tmp_path / "back"))
    scores = [
        json.loads(invoke("eval", str(where), str(setup["data"]), "--device", "cpu").output)["bits_per_byte"]
        for where in (run, tmp_path / "hf", tmp_path / "back")
    ]
    assert scores[0] == scores[1] == scores[2]


def test_a_port_directory_without_a_patcher_reads_one_byte_per_patch(setup, tmp_path):
    """A transformers BLT with no patcher (patch_in_forward=false) was read as entropy patching without an
    entropy model: `eval --text` and `generate` said "EntropyPatcher needs entropies", adding -m said "this
    checkpoint's patcher uses no entropy model", and `eval DATA` wanted data patched at threshold 1.335.
    The port itself, given no patch_lengths, makes every position a patch: so does bytepatch now."""
    from bytepatch.ids import EOS_ID, OFFSET

    port = save_hf(tmp_path / "np", seed=35, patcher=False)
    np_dir = str(tmp_path / "np")
    text = b"one byte per patch, longer than the window"
    ids = torch.tensor([[1, *(b + OFFSET for b in text), EOS_ID]])
    with torch.no_grad():
        logp = torch.log_softmax(port(input_ids=ids, use_cache=False).logits.double(), -1)[0, :-2]
    expected = -logp.gather(1, ids[0, 1:-1, None]).sum().item() / math.log(2) / len(text)  # byte targets only
    scored = json.loads(invoke("eval", np_dir, "--text", text.decode(), "--device", "cpu").output)
    assert scored["bits_per_byte"] == pytest.approx(expected, rel=1e-5)

    # greedy generation == the port's own forward, one byte at a time (bytes and EOS only, as bytepatch samples)
    prompt, want = b"def decode(", []
    seq = [1, *(b + OFFSET for b in prompt)]
    for _ in range(6):
        with torch.no_grad():
            logits = port(input_ids=torch.tensor([seq]), use_cache=False).logits[0, -1]
        logits[:OFFSET] = torch.where(torch.arange(OFFSET) == EOS_ID, logits[:OFFSET], -math.inf)
        token = int(logits.argmax())
        if token == EOS_ID:
            break
        want.append(token - OFFSET)
        seq.append(token)
    args = ("generate", np_dir, "-p", prompt.decode(), "-n", "6", "-t", "0", "--device", "cpu")
    assert invoke(*args).stdout_bytes == bytes(want)

    # data patched otherwise is refused in one line that says what to do; so is an entropy model
    result = invoke("eval", np_dir, str(setup["data"]), "--device", "cpu", ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1 and "--patcher stride --stride 1" in result.output
    args = (
        "train",
        str(setup["data"]),
        "-o",
        str(tmp_path / "ft"),
        "--init",
        np_dir,
        "--steps",
        "1",
        "--device",
        "cpu",
    )
    result = invoke(*args, ok=False)  # fine-tuning on it says the same
    assert result.exit_code == 1 and "--patcher stride --stride 1" in result.output and "Traceback" not in result.output
    for cmd in (("eval", np_dir, "--text", "hi"), ("generate", np_dir, "-p", "hi")):
        result = invoke(*cmd, "--device", "cpu", "-m", str(setup["blt"]), ok=False)
        assert (
            result.exit_code == 1 and "one byte per patch" in result.output and "drop --entropy-model" in result.output
        )
    per_byte = tmp_path / "per-byte"
    invoke(
        "segment",
        str(setup["corpus"]),
        "-o",
        str(per_byte),
        "--doc-per-line",
        "--patcher",
        "stride",
        "--stride",
        "1",
        "-q",
    )
    assert json.loads(invoke("eval", np_dir, str(per_byte), "--device", "cpu").output)["bytes"] > 0


def test_convert_a_run_whose_entropy_model_moved(setup, tmp_path):
    """convert stopped with "cannot load entropy model ...: no such directory" and no hint of
    --entropy-model; the message now names the recorded path and the option, and -m works."""
    import shutil

    lm = tmp_path / "lm"
    shutil.copytree(setup["blt"], lm)  # the port's patcher: a transformer entropy model, exported as such
    data = tmp_path / "data"
    invoke("segment", str(setup["corpus"]), "-o", str(data), "--doc-per-line", "-m", str(lm), "--device", "cpu", "-q")
    run = train_tiny(data, tmp_path / "run", "decoder_alignment=reference", "cross_attn_residual=reference")
    lm.rename(tmp_path / "moved")
    result = invoke("convert", str(run), "-o", str(tmp_path / "hf"), ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert str(lm) in result.output and "--entropy-model" in result.output
    invoke("convert", str(run), "-o", str(tmp_path / "hf"), "--entropy-model", str(tmp_path / "moved"))
    assert load_blt(tmp_path / "hf").entropy_model.fingerprint == load_patcher(setup["blt"]).fingerprint


def test_convert_a_run_patched_by_an_ngram_model_does_not_load_it(setup, tmp_path):
    """An n-gram entropy model is never exported (the port cannot run it), yet convert loaded it,
    and stopped when it had moved."""
    import shutil

    ngram = tmp_path / "ngram"
    invoke("fit-entropy", str(setup["corpus"]), "--doc-per-line", "-o", str(ngram), "-s", "3")
    data = tmp_path / "data"
    invoke("segment", str(setup["corpus"]), "-o", str(data), "--doc-per-line", "-m", str(ngram), "-q")
    run = train_tiny(data, tmp_path / "run", "decoder_alignment=reference", "cross_attn_residual=reference")
    recorded = json.loads((data / "manifest.json").read_text())["metadata"]["entropy_model"]
    shutil.rmtree(ngram)
    result = invoke("convert", str(run), "-o", str(tmp_path / "hf"))
    assert "is an n-gram model, which the port cannot run" in result.output and "pass patch_lengths" in result.output
    ckpt = load_blt(tmp_path / "hf")
    assert ckpt.entropy_model is None and ckpt.entropy_ref["fingerprint"] == recorded["fingerprint"]


def test_a_transformers_directory_of_another_model_says_what_it_is(tmp_path):
    """A transformers directory of another model (a Llama...) was taken for a bytepatch run or
    entropy model: 'checkpoint.pt: no such file', 'expected a JSON object with a string 'kind'
    field', or model-info's list of every key a BLT config does not know."""
    other = tmp_path / "llama"
    save_hf(other, seed=51)
    config = other / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "model_type": "llama"}))
    for args in (
        ("convert", str(other), "-o", str(tmp_path / "out")),
        ("eval", str(other), "--text", "hello", "--device", "cpu"),
        ("generate", str(other), "-p", "hello", "--device", "cpu"),
        ("inspect", "--text", "hello", "-m", str(other)),
        ("model-info", str(other)),
    ):
        result = invoke(*args, ok=False)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert f"{config}: model_type is 'llama': a transformers model other than BLT" in result.output
    assert not (tmp_path / "out").exists()


def test_an_interrupted_export_says_so(tmp_path, monkeypatch):
    """An export stopped before its last file (config.json) leaves model.safetensors alone, which
    reads as no model (the port builds its default 1B config without one: do not try it here), and
    bytepatch said 'checkpoint.pt: no such file'."""
    from bytepatch.models.hf import checkpoint

    save_hf(tmp_path / "blt", seed=53)
    ckpt = load_blt(tmp_path / "blt")

    class Stopped(Exception):
        """The process stopping there (a signal, a full disk)."""

    def interrupted(path: Path, data: dict) -> None:
        raise Stopped

    monkeypatch.setattr(checkpoint, "_write_json", interrupted)
    with pytest.raises(Stopped):
        checkpoint.save_blt(ckpt.model, tmp_path / "out", ckpt.entropy_model, ckpt.patcher)
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.safetensors"]
    for args in (("eval", str(tmp_path / "out"), "--text", "hi"), ("convert", str(tmp_path / "out"), "-o", "x")):
        result = invoke(*args, ok=False)
        assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
        assert f"{tmp_path / 'out'}: holds model.safetensors but no config.json" in result.output
