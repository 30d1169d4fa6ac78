"""The training loop: loss goes down, exact resume, divergence stops with a clear error, baseline, checkpoints."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from bytepatch.models import TRANSFORMER_PRESETS, ByteTransformer
from bytepatch.models.train import LOG_FILE, RunConfig, TrainingError, apply_overrides, load_checkpoint, train
from bytepatch.models.train.state import safe_torch_load


def losses(run_dir: Path) -> list[tuple[int, float]]:
    events = [json.loads(line) for line in (run_dir / LOG_FILE).read_text().splitlines()]
    return [(e["step"], e["loss"]) for e in events if "loss" in e]


def quiet(line: str) -> None:
    pass


@pytest.mark.slow
def test_resume_reproduces_the_uninterrupted_run(tmp_path: Path, sample_dataset: Path, tiny_run: RunConfig):
    straight = train(tiny_run, [sample_dataset], tmp_path / "a", log=quiet)
    stopped = train(tiny_run, [sample_dataset], tmp_path / "b", stop_at=3, log=quiet)
    assert stopped["step"] == 3
    resumed = train(tiny_run, [sample_dataset], tmp_path / "b", resume=True, log=quiet)
    assert losses(tmp_path / "a") == losses(tmp_path / "b")  # bit-identical losses, step by step
    assert resumed["held_out_bits_per_byte"] == straight["held_out_bits_per_byte"]
    assert resumed["train_flops"] == straight["train_flops"] > 0
    a, b = safe_torch_load(tmp_path / "a" / "checkpoint.pt"), safe_torch_load(tmp_path / "b" / "checkpoint.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


@pytest.mark.slow
def test_load_checkpoint_for_inference(tmp_path: Path, sample_dataset: Path, tiny_run: RunConfig):
    train(replace(tiny_run, train=replace(tiny_run.train, steps=2)), [sample_dataset], tmp_path / "r", log=quiet)
    model, config, meta = load_checkpoint(tmp_path / "r")
    assert config == tiny_run.model and not model.training
    assert meta["model_type"] == "blt" and meta["step"] == 2
    assert meta["data"]["patcher"]["patcher"] == "space" and meta["data"]["entropy_model"] is None
    ids = torch.tensor([[1, 76, 77, 2]])
    logits, _ = model(ids, torch.tensor([[1, 2, 1]]))
    assert logits.shape == (1, 4, 260)


def test_divergence_stops_with_a_clear_error(tmp_path: Path, sample_dataset: Path, tiny_run: RunConfig):
    run = apply_overrides(tiny_run, ["train.lr=1e30", "train.warmup_steps=0"])
    with pytest.raises(TrainingError, match=r"training diverged: (loss|gradient norm) is (nan|inf)"):
        train(run, [sample_dataset], tmp_path / "nan", log=quiet)


@pytest.mark.slow
def test_the_same_trainer_trains_the_baseline(tmp_path: Path, sample_dataset: Path, tiny_run: RunConfig):
    run = RunConfig("baseline", TRANSFORMER_PRESETS["tiny"], replace(tiny_run.train, steps=12, eval_every=12))
    summary = train(run, [sample_dataset], tmp_path / "base", log=quiet)
    curve = [loss for _, loss in losses(tmp_path / "base")]
    assert sum(curve[-3:]) < sum(curve[:3])
    model, _, meta = load_checkpoint(tmp_path / "base")
    assert isinstance(model, ByteTransformer) and meta["model_type"] == "baseline"
    assert 0 < summary["held_out_bits_per_byte"] < 8.5


@pytest.mark.slow
def test_output_and_resume_misuse(tmp_path: Path, sample_dataset: Path, tiny_run: RunConfig):
    with pytest.raises(TrainingError, match="no checkpoint.pt to resume from"):
        train(tiny_run, [sample_dataset], tmp_path / "none", resume=True, log=quiet)
    one = replace(tiny_run, train=replace(tiny_run.train, steps=1))
    train(one, [sample_dataset], tmp_path / "r", log=quiet)
    with pytest.raises(TrainingError, match="already holds a checkpoint.pt"):
        train(one, [sample_dataset], tmp_path / "r", log=quiet)
    with pytest.raises(TrainingError, match=r"cannot resume with different settings \(lr"):
        train(apply_overrides(tiny_run, ["train.lr=0.1"]), [sample_dataset], tmp_path / "r", resume=True, log=quiet)


def _segment(tmp: Path, name: str, docs: list[str]) -> Path:
    import json as _json

    from click.testing import CliRunner

    from bytepatch.cli.main import cli

    src = tmp / f"{name}.jsonl"
    src.write_text("".join(_json.dumps({"id": f"d{i}", "text": d}) + "\n" for i, d in enumerate(docs)))
    out = tmp / name
    result = CliRunner().invoke(
        cli, ["segment", str(src), "-o", str(out), "--id-field", "id", "-q", "--patcher", "space"]
    )
    assert result.exit_code == 0, result.output
    return out


def test_one_dataset_path_instead_of_a_list_is_refused_saying_so(tmp_path: Path, sample_dataset: Path, tiny_run):
    """`train(run, "data/train", out)` iterated the path's characters: 'dataset / is given twice (/ and /)'."""
    for datasets, held in ((str(sample_dataset), None), ([sample_dataset], sample_dataset)):
        with pytest.raises(TypeError, match=r"a list of dataset directories, e.g. \[.*\], not one path"):
            train(tiny_run, datasets, tmp_path / "r", eval_datasets=held, log=quiet)
    assert not (tmp_path / "r").exists()


def test_the_progress_lines_speed_counts_from_the_first_step(tmp_path: Path, sample_dataset: Path, tiny_run, capsys):
    """The progress line's bytes/s and ETA counted the set-up (opening the data, reading a checkpoint) as
    training time: after a slow set-up its first line showed a fraction of the speed log.jsonl records."""
    import time

    one = replace(tiny_run, train=replace(tiny_run.train, steps=1))
    train(one, [sample_dataset], tmp_path / "r", before_steps=lambda: time.sleep(3))  # the default log: stderr
    line = next(ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("step 1/1") and "elapsed" in ln)
    shown = float(line.split("bytes/s")[0].split()[-1].replace(",", ""))
    logged = json.loads((tmp_path / "r" / LOG_FILE).read_text().splitlines()[0])["bytes_per_s"]
    assert shown > logged / 2, (line, logged)  # the same step; it was ~1/20 of it


def test_run_config_data_section_pins_the_patcher(tmp_path: Path, sample_dataset: Path, tiny_run: RunConfig):
    one = replace(tiny_run, train=replace(tiny_run.train, steps=1))
    stride = RunConfig.from_dict({**one.to_dict(), "data": {"patcher": {"patcher": "stride", "stride": 4}}})
    with pytest.raises(TrainingError, match=r"patcher setting 'patcher' is 'space', but the run config's data section"):
        train(stride, [sample_dataset], tmp_path / "a", log=quiet)
    space = RunConfig.from_dict({**one.to_dict(), "data": {"patcher": {"patcher": "space"}}})  # defaults filled in
    assert space.data == {"patcher": {"patcher": "space", "max_patch_length": None}, "entropy_model_fingerprint": None}
    train(space, [sample_dataset], tmp_path / "b", log=quiet)
    with pytest.raises(ValueError, match="unknown run config data keys: bogus"):
        RunConfig.from_dict({**one.to_dict(), "data": {"patcher": {"patcher": "space"}, "bogus": 1}})


def test_resume_refuses_other_data_with_the_same_document_count(tmp_path: Path, tiny_run: RunConfig):
    docs = [f"document {i}: " + "words and more words " * (3 + i % 5) for i in range(24)]
    data = _segment(tmp_path, "data", docs)
    run = replace(tiny_run, train=replace(tiny_run.train, steps=2))
    train(run, [data], tmp_path / "r", stop_at=1, log=quiet)
    other = _segment(tmp_path, "other", [d.upper() + " extra" for d in docs])  # same count, other content
    with pytest.raises(TrainingError, match="resume with the same datasets"):
        train(run, [other], tmp_path / "r", resume=True, log=quiet)
    import shutil

    shutil.rmtree(data)
    shutil.copytree(other, data)  # same path, other content
    with pytest.raises(TrainingError, match=r"dataset .*data changed since the checkpoint"):
        train(run, [data], tmp_path / "r", resume=True, log=quiet)


@pytest.mark.slow
def test_resume_with_more_steps_keeps_the_warmup(tmp_path: Path, sample_dataset: Path, tiny_run: RunConfig):
    import json as _json

    run = replace(tiny_run, train=replace(tiny_run.train, steps=40, eval_every=1000))  # derived warmup: 2
    train(run, [sample_dataset], tmp_path / "r", stop_at=1, log=quiet)
    longer = replace(run, train=replace(run.train, steps=80))  # derived warmup would be 4
    summary = train(longer, [sample_dataset], tmp_path / "r", resume=True, stop_at=2, log=quiet)
    assert summary["step"] == 2
    saved = _json.loads((tmp_path / "r" / "config.json").read_text())["train"]
    assert saved["steps"] == 80 and saved["warmup_steps"] == 2
    lrs = [r["lr"] for r in map(_json.loads, (tmp_path / "r" / "log.jsonl").read_text().splitlines()) if "lr" in r]
    assert lrs[1] == pytest.approx(run.train.lr)  # step 2 ends the warmup of 2, as the run began


@pytest.mark.slow
def test_resuming_an_extended_run_again_with_the_same_config_keeps_its_warmup(
    tmp_path: Path, sample_dataset: Path, tiny_run: RunConfig
):
    """The same `--config`/`--preset` command given again after a resume that extended the run:
    its warmup_steps is null, the checkpoint's is the pinned 2; it was refused with
    'cannot resume with different settings (warmup_steps: 2 -> None)'."""
    import json as _json

    run = replace(tiny_run, train=replace(tiny_run.train, steps=40, eval_every=1000))  # derived warmup: 2
    straight = replace(run, train=replace(run.train, steps=80, warmup_steps=2))
    train(straight, [sample_dataset], tmp_path / "a", stop_at=3, log=quiet)
    train(run, [sample_dataset], tmp_path / "b", stop_at=1, log=quiet)
    longer = replace(run, train=replace(run.train, steps=80))  # the same command, --steps 80, twice
    train(longer, [sample_dataset], tmp_path / "b", resume=True, stop_at=2, log=quiet)
    summary = train(longer, [sample_dataset], tmp_path / "b", resume=True, stop_at=3, log=quiet)
    assert summary["step"] == 3
    assert _json.loads((tmp_path / "b" / "config.json").read_text())["train"]["warmup_steps"] == 2
    lrs = lambda d: [r["lr"] for r in map(_json.loads, (d / "log.jsonl").read_text().splitlines()) if "lr" in r]  # noqa: E731
    assert lrs(tmp_path / "b") == lrs(tmp_path / "a")  # as a run of 80 steps with a warmup of 2


def test_dataset_signature_ignores_the_entropy_models_precision():
    from bytepatch.models.data import data_signature

    base = {"patcher": {"patcher": "entropy", "threshold": 1.3}, "entropy_model": {"name": "m", "fingerprint": "f"}}
    with_precision = {**base, "entropy_model": {**base["entropy_model"], "precision": "bf16"}}
    assert data_signature(base) == data_signature(with_precision)
