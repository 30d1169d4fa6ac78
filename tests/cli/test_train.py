"""`bytepatch train` through the CLI: end to end on the tiny preset, resume, overrides, torchrun with 2 gloo ranks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bytepatch.cli.main import cli
from bytepatch.models.train.state import safe_torch_load
from tests.torchrun import torchrun

FAST = [
    "--preset",
    "tiny",
    "--batch-size",
    "2",
    "--seq-len",
    "64",
    "--device",
    "cpu",
    "train.log_every=1",
    "train.eval_batches=2",
    "train.eval_fraction=0.1",
]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_train_end_to_end_loss_goes_down(tmp_path: Path, sample_dataset: Path):
    run = tmp_path / "run"
    result = invoke("train", str(sample_dataset), "-o", str(run), "--steps", "16", "--lr", "3e-3", *FAST)
    assert result.exit_code == 0, result.output
    assert "held-out" in result.output and "bytes/s" in result.output and "FLOP/s" in result.output
    assert " params on cpu; " in result.output  # one process: no "x 1 (ddp)", which replicates nothing
    steps = [r for r in records(run) if "loss" in r]
    assert [r["step"] for r in steps] == list(range(1, 17))
    first, last = [r["loss"] for r in steps[:4]], [r["loss"] for r in steps[-4:]]
    assert sum(last) < sum(first) - 0.2
    assert all(r["bytes_per_s"] > 0 and r["flops_per_s"] > 0 for r in steps)
    assert any("held_out_bits_per_byte" in r for r in records(run))
    saved = json.loads((run / "config.json").read_text())
    assert saved["model_type"] == "blt" and saved["train"]["steps"] == 16 and saved["train"]["seq_len"] == 64
    # config.json is a valid --config; resuming picks it up without repeating the flags.
    more = invoke("train", str(sample_dataset), "-o", str(run), "--resume", "--steps", "18")
    assert more.exit_code == 0, more.output
    assert "resumed from" in more.output and records(run)[-1]["step"] == 18
    # `bytepatch report` draws this run's curves from its log
    import xml.etree.ElementTree as ET

    page, svg = tmp_path / "report.html", tmp_path / "bpb.svg"
    shown = invoke("report", str(run), "--html", str(page), "--svg", str(svg))
    assert shown.exit_code == 0, shown.output
    assert "held-out bits/byte" in shown.output and "last step" in shown.output
    lines = {
        e.findtext("{http://www.w3.org/2000/svg}title"): e
        for e in ET.parse(svg).iter("{http://www.w3.org/2000/svg}polyline")
    }
    assert len(lines["train bits/byte"].get("points").split()) == 18
    assert len(lines["held-out bits/byte"].get("points").split()) == sum(
        "held_out_bits_per_byte" in r for r in records(run)
    )
    assert page.read_text().count("<svg") == 2 and "<script" not in page.read_text()


@pytest.mark.slow
def test_stop_and_resume_from_the_cli(tmp_path: Path, sample_dataset: Path):
    args = [str(sample_dataset), "--steps", "4", *FAST]
    assert invoke("train", *args, "-o", str(tmp_path / "a")).exit_code == 0
    assert invoke("train", *args, "-o", str(tmp_path / "b"), "--stop-at", "2").exit_code == 0
    assert invoke("train", *args, "-o", str(tmp_path / "b"), "--resume").exit_code == 0
    loss = lambda run: [(r["step"], r["loss"]) for r in records(run) if "loss" in r]  # noqa: E731
    assert loss(tmp_path / "a") == loss(tmp_path / "b")


def test_user_errors_are_clear(tmp_path: Path, sample_dataset: Path):
    bad = invoke("train", str(sample_dataset), "-o", str(tmp_path / "x"), "--steps", "1", "encoder.dimm=3")
    assert bad.exit_code != 0 and "unknown key 'encoder.dimm'" in bad.output
    missing = invoke("train", str(tmp_path / "nope"), "-o", str(tmp_path / "y"), "--steps", "1")
    assert missing.exit_code != 0 and "not a bytepatch dataset" in missing.output
    both = invoke("train", str(sample_dataset), "-o", str(tmp_path / "z"), "--preset", "tiny", "--config", "c.json")
    assert both.exit_code != 0


def test_baseline_model_flag(tmp_path: Path, sample_dataset: Path):
    args = ["--model", "baseline", "--steps", "2", *FAST, "n_layers=1"]
    result = invoke("train", str(sample_dataset), "-o", str(tmp_path / "b"), *args)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "b" / "config.json").read_text())["model"]["n_layers"] == 1


def test_a_baseline_takes_datasets_patched_any_way(tmp_path: Path, sample_dataset: Path):
    """The baseline never reads patch boundaries, yet a dataset, --eval-dataset or --init run patched
    otherwise than the first dataset was refused ("patcher setting 'patcher' is 'stride', ..."); a BLT
    still refuses them."""
    sample = Path(__file__).resolve().parents[2] / "examples" / "sample"
    small = {}
    for patcher in ("stride", "space"):  # distinct shards from sample_dataset's: 19 one-line documents
        small[patcher] = tmp_path / f"small-{patcher}"
        args = [str(sample / "multilingual.txt"), "-o", str(small[patcher]), "--doc-per-line", "--patcher", patcher]
        assert invoke("segment", *args, "-q").exit_code == 0
    stride = tmp_path / "stride"
    assert invoke("segment", str(sample), "-o", str(stride), "--patcher", "stride", "-q").exit_code == 0
    base = ["--model", "baseline", "--steps", "1", *FAST, "n_layers=1"]
    mixed = [str(sample_dataset), str(small["stride"]), "--eval-dataset", str(small["space"])]
    first = invoke("train", *mixed, "-o", str(tmp_path / "a"), *base)
    assert first.exit_code == 0, first.output
    # --init of that run (trained on space and stride patches) on data patched by a third setting
    rest = [a for a in base if a not in ("--preset", "tiny", "n_layers=1")]  # --init takes the run's model
    tuned = invoke("train", str(stride), "-o", str(tmp_path / "b"), "--init", str(tmp_path / "a"), *rest)
    assert tuned.exit_code == 0, tuned.output
    assert "data" not in json.loads((tmp_path / "b" / "config.json").read_text())  # nothing pinned
    blt = invoke("train", *mixed, "-o", str(tmp_path / "c"), "--steps", "1", *FAST)
    assert blt.exit_code != 0 and "patcher setting 'patcher' is 'stride'" in blt.output


@pytest.mark.slow
def test_torchrun_two_gloo_ranks(tmp_path: Path, sample_dataset: Path):
    run = tmp_path / "ddp"
    done = torchrun("train", str(sample_dataset), "-o", str(run), "--steps", "3", *FAST, cwd=tmp_path, timeout=300)
    assert "cpu x 2" in done.stderr
    ckpt = safe_torch_load(run / "checkpoint.pt")
    loaders = ckpt["extra"]["loader"]
    assert ckpt["extra"]["world_size"] == 2 and [s["rank"] for s in loaders] == [0, 1]
    assert loaders[0] != loaders[1]  # each rank read its own documents
    assert [r["step"] for r in records(run) if "loss" in r] == [1, 2, 3]


def _no_traceback(result) -> None:
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


def test_cuda_without_a_gpu_is_a_clear_error(tmp_path: Path, sample_dataset: Path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    args = ["train", str(sample_dataset), "-o", str(tmp_path / "r"), "--steps", "1", *FAST, "--device", "cuda"]
    result = CliRunner().invoke(cli, args)
    _no_traceback(result)
    assert "cannot start training on device 'cuda'" in result.output and "no CUDA device" in result.output


def test_batch_size_and_seq_len_are_checked_at_parse_time(tmp_path: Path, sample_dataset: Path):
    for flag, value in (("--batch-size", "0"), ("--seq-len", "1"), ("--steps", "0")):
        result = CliRunner().invoke(cli, ["train", str(sample_dataset), "-o", str(tmp_path / "r"), *FAST, flag, value])
        assert result.exit_code == 2 and "Invalid value" in result.output


def _damaged_copy(dataset: Path, tmp_path: Path, damage: str) -> tuple[Path, Path]:
    import shutil

    import pyarrow as pa

    from bytepatch.dataset import open_dataset
    from bytepatch.dataset.files import read_arrow_table

    copy = tmp_path / damage
    shutil.copytree(dataset, copy)
    shard = open_dataset(copy).shard_files[0]
    if damage == "truncate":
        shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    else:  # patch lengths of every row one byte too long
        table = read_arrow_table(shard)
        field = table.schema.field("patch_lengths")
        bad = pa.array([[x + 1 for x in row] for row in table.column("patch_lengths").to_pylist()], field.type)
        table = table.set_column(table.schema.get_field_index("patch_lengths"), field, bad)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:  # the format segment writes
            writer.write_table(table)
        shard.write_bytes(sink.getvalue().to_pybytes())
        # Checksums made to match (as a buggy writer would): the rows themselves are refused.
        import json

        from bytepatch.dataset.integrity import checksums

        manifest = json.loads((copy / "manifest.json").read_text())
        manifest["shards"][0].update(checksums(shard))
        (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy, shard


@pytest.mark.parametrize("damage", ["truncate", "patch_lengths"])
def test_damaged_data_is_a_clear_error_naming_the_shard(tmp_path: Path, sample_dataset: Path, damage: str):
    copy, shard = _damaged_copy(sample_dataset, tmp_path, damage)
    result = CliRunner().invoke(cli, ["train", str(copy), "-o", str(tmp_path / "r"), "--steps", "2", *FAST])
    _no_traceback(result)
    assert str(shard) in result.output
    if damage == "patch_lengths":
        assert "row " in result.output and "patch lengths sum to" in result.output
