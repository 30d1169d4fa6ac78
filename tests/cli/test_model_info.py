"""`bytepatch model-info` through click's CliRunner."""

import json

import pytest
from click.testing import CliRunner

from bytepatch.cli.model_info import model_info
from bytepatch.models import PRESETS, TRANSFORMER_PRESETS, blt_param_counts


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_prints_table_for_every_blt_preset(preset):
    result = CliRunner().invoke(model_info, [preset, "--patch-size", "6"])
    assert result.exit_code == 0, result.output
    total = blt_param_counts(PRESETS[preset])["total"]
    assert f"{total:,}" in result.output
    for part in ("local encoder", "global transformer", "local decoder", "hash n-gram embeddings"):
        assert part in result.output
    assert "FLOP" in result.output and "mean patch size 6" in result.output


@pytest.mark.parametrize("preset", sorted(TRANSFORMER_PRESETS))
def test_baseline_presets(preset):
    result = CliRunner().invoke(model_info, [preset, "--baseline"])
    assert result.exit_code == 0, result.output
    assert "transformer blocks" in result.output


def test_larger_patches_mean_fewer_flops():
    def total_flops(patch_size: str) -> str:
        out = CliRunner().invoke(model_info, ["1b", "--patch-size", patch_size]).output
        return next(line for line in out.splitlines() if line.startswith("total")).split()[-2]

    assert float(total_flops("8")) < float(total_flops("4.5"))


def test_json_config(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(PRESETS["tiny"].to_dict()))
    result = CliRunner().invoke(model_info, [str(path)])
    assert result.exit_code == 0, result.output
    path.write_text(json.dumps({**PRESETS["tiny"].to_dict(), "typo": 1}))
    result = CliRunner().invoke(model_info, [str(path)])
    assert result.exit_code != 0 and "typo" in result.output


@pytest.mark.parametrize("kind", ["blt", "baseline"])
def test_a_runs_config_or_directory(tmp_path, kind):
    """docs/training.md calls a run's config.json a valid config; model-info refused it."""
    from bytepatch.models.train import RunConfig, TrainConfig

    model = PRESETS["tiny"] if kind == "blt" else TRANSFORMER_PRESETS["tiny"]
    (tmp_path / "config.json").write_text(json.dumps(RunConfig(kind, model, TrainConfig()).to_dict()))
    preset = ["tiny", "--seq-len", str(TrainConfig().seq_len)]  # the run's own rows
    expected = CliRunner().invoke(model_info, preset + (["--baseline"] if kind == "baseline" else []))
    for given in (tmp_path, tmp_path / "config.json"):
        result = CliRunner().invoke(model_info, [str(given)])
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[1:] == expected.output.splitlines()[1:]  # all but the name


@pytest.mark.parametrize("kind", ["blt", "baseline"])
def test_a_run_is_counted_at_its_own_row_length(tmp_path, kind):
    """model-info RUN counted FLOPs at --seq-len's default 8192, not at the run's train.seq_len;
    --seq-len given still wins."""
    from bytepatch.models.train import RunConfig, TrainConfig

    model = PRESETS["tiny"] if kind == "blt" else TRANSFORMER_PRESETS["tiny"]
    run = RunConfig(kind, model, TrainConfig(seq_len=96))
    (tmp_path / "config.json").write_text(json.dumps(run.to_dict()))
    preset = ["tiny"] + (["--baseline"] if kind == "baseline" else [])

    def body(args: list[str]) -> list[str]:
        result = CliRunner().invoke(model_info, args)
        assert result.exit_code == 0, result.output
        return result.output.splitlines()

    own = CliRunner().invoke(model_info, [str(tmp_path)]).output
    assert "context 96 bytes (the row length the run records, which eval packs)" in own.splitlines()[0]
    assert own.splitlines()[1:] == body([*preset, "--seq-len", "96"])[1:]
    assert own.splitlines()[1:] != body(preset)[1:]  # the row length changes the attention FLOPs
    given = body([str(tmp_path), "--seq-len", "8192"])
    assert "context 8192 bytes" in given[0] and "its training" not in given[0]
    assert given[1:] == body(preset)[1:]


def test_a_transformers_export_is_counted_at_its_recorded_row_length(tmp_path):
    """An export of a run records its row length (bytepatch_seq_len), as eval reads it; model-info ignored it."""
    pytest.importorskip("transformers")
    from tests.models.hf.tiny import save_hf

    save_hf(tmp_path / "blt", seed=0)
    config = json.loads((tmp_path / "blt" / "config.json").read_text())
    (tmp_path / "blt" / "config.json").write_text(json.dumps({**config, "bytepatch_seq_len": 64}))
    result = CliRunner().invoke(model_info, [str(tmp_path / "blt")])
    assert (
        result.exit_code == 0 and "context 64 bytes (the row length the run records, which eval packs)" in result.output
    ), result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope"], "unknown BLT preset"),
        (["tiny", "--patch-size", "0.5"], "patch-size"),
        (["nope", "--baseline"], "transformer preset"),
    ],
)
def test_user_errors(args, message):
    result = CliRunner().invoke(model_info, args)
    assert result.exit_code != 0 and message in result.output


def test_a_transformers_blt_directory(tmp_path):
    """The docs say every command takes the released BLT's directory; model-info refused its config.json."""
    pytest.importorskip("transformers")
    from tests.models.hf.tiny import save_hf

    port = save_hf(tmp_path / "blt", seed=0)
    blt_params = sum(p.numel() for n, p in port.named_parameters() if ".patcher." not in n)
    for given in (tmp_path / "blt", tmp_path / "blt" / "config.json"):
        result = CliRunner().invoke(model_info, [str(given)])
        assert result.exit_code == 0, result.output
        total = next(line for line in result.output.splitlines() if line.startswith("total"))
        assert f"{blt_params:,}" in total
    port.model.patcher.save_pretrained(str(tmp_path / "patcher"))  # a BltPatcher directory alone
    result = CliRunner().invoke(model_info, [str(tmp_path / "patcher")])
    assert result.exit_code == 0, result.output
    total = next(line for line in result.output.splitlines() if line.startswith("total"))
    assert f"{sum(p.numel() for p in port.model.patcher.parameters()):,}" in total


def test_a_model_whose_patching_fixes_the_patch_size_defaults_to_it(tmp_path):
    """A transformers BLT without a patcher reads one byte per patch, a stride-patched run
    its stride: the default 4.5 gave FLOPs 4.5x too low for the global model."""
    pytest.importorskip("transformers")
    from bytepatch.cli.main import cli
    from tests.models.hf.tiny import save_hf
    from tests.tiny_runs import train_tiny

    save_hf(tmp_path / "np", seed=0, patcher=False)
    result = CliRunner().invoke(model_info, [str(tmp_path / "np")])
    assert result.exit_code == 0 and "mean patch size 1 bytes (its patching's, fixed)" in result.output
    given = CliRunner().invoke(model_info, [str(tmp_path / "np"), "--patch-size", "6"])
    assert "mean patch size 6 bytes, context" in given.output  # an explicit choice stands
    save_hf(tmp_path / "with", seed=0)  # its own entropy patcher: the size varies with the text
    assert "mean patch size 4.5 bytes, context" in CliRunner().invoke(model_info, [str(tmp_path / "with")]).output

    corpus, strided = tmp_path / "c.txt", tmp_path / "strided"
    corpus.write_text("".join(f"line {i} of a small corpus\n" for i in range(200)))
    args = ["segment", str(corpus), "-o", str(strided), "--patcher", "stride", "--stride", "3", "--doc-per-line", "-q"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    run = train_tiny(strided, tmp_path / "run", steps=1, seq_len=32)
    result = CliRunner().invoke(model_info, [str(run)])
    assert result.exit_code == 0 and "mean patch size 3 bytes (its patching's, fixed)" in result.output


def test_an_entropy_model_directory(tmp_path):
    """A BltPatcher directory was described, but bytepatch's own entropy LM (what `train-entropy` writes, what
    `convert` turns into that BltPatcher) was refused as 'not a valid BLT or run config: unknown BLTConfig keys'."""
    from bytepatch.entropy import NgramConfig, NgramModel
    from bytepatch.models import ByteTransformer
    from bytepatch.models.entropy_lm import TransformerEntropyModel

    TransformerEntropyModel(ByteTransformer(TRANSFORMER_PRESETS["tiny"])).save(tmp_path / "lm")
    window = TRANSFORMER_PRESETS["tiny"].window
    # Its context is its attention window, as it scores (it said 8192 bytes, the option's default).
    expected = CliRunner().invoke(model_info, ["tiny", "--baseline", "--seq-len", str(window)])
    for given in (tmp_path / "lm", tmp_path / "lm" / "config.json"):
        result = CliRunner().invoke(model_info, [str(given)])
        assert result.exit_code == 0, result.output
        assert f"context {window} bytes (its attention window" in result.output.splitlines()[0]
        assert result.output.splitlines()[1:] == expected.output.splitlines()[1:]  # all but the name
    NgramModel.fit([b"some text to count " * 20], NgramConfig(order=3)).save(tmp_path / "ngram")
    result = CliRunner().invoke(model_info, [str(tmp_path / "ngram")])
    assert result.exit_code == 1 and "is an ngram entropy model" in result.output, result.output
    assert "BLTConfig" not in result.output


def test_a_patch_size_for_a_byte_transformer_is_refused_not_ignored(tmp_path):
    """A byte transformer has no patches: `--patch-size` was accepted and the table printed without it."""
    from bytepatch.models.train import RunConfig, TrainConfig

    (tmp_path / "config.json").write_text(
        json.dumps(RunConfig("baseline", TRANSFORMER_PRESETS["tiny"], TrainConfig()).to_dict())
    )
    for args in (["tiny", "--baseline"], [str(tmp_path)]):
        result = CliRunner().invoke(model_info, [*args, "--patch-size", "6"])
        assert result.exit_code == 1 and result.output.startswith("Error: --patch-size"), result.output
        assert "no patches" in result.output and len(result.output.splitlines()) == 1
        assert CliRunner().invoke(model_info, args).exit_code == 0
