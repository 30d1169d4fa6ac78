"""Scale options: activation checkpointing, torch.compile, Ctrl-C checkpoints, and DDP vs FSDP2 under torchrun."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from bytepatch.models import PRESETS, TRANSFORMER_PRESETS, BLT, ByteTransformer
from bytepatch.models.train import RunConfig, TrainingInterrupted, train
from bytepatch.models.train.parallel import checkpoint_activations
from bytepatch.models.train.state import safe_torch_load
from tests.torchrun import torchrun

REPO = Path(__file__).resolve().parents[3]


def quiet(line: str) -> None:
    pass


def losses(run_dir: Path) -> list[tuple[int, float]]:
    events = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    return [(e["step"], e["loss"]) for e in events if "loss" in e]


def _loss_and_grads(model: torch.nn.Module, call) -> tuple[float, dict[str, torch.Tensor]]:
    loss = call(model)
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["blt", "baseline"])
def test_activation_checkpointing_gives_the_same_loss_and_gradients(kind: str):
    torch.manual_seed(0)
    ids = torch.randint(4, 260, (2, 32))
    ids[:, 0] = 1
    if kind == "blt":
        make = lambda: BLT(PRESETS["tiny"])  # noqa: E731
        call = lambda m: m(ids, torch.full((2, 8), 4), ids.roll(-1, 1))[1]  # noqa: E731
    else:
        make = lambda: ByteTransformer(TRANSFORMER_PRESETS["tiny"])  # noqa: E731
        call = lambda m: m(ids, ids.roll(-1, 1))[1]  # noqa: E731
    torch.manual_seed(1)
    plain = make()
    torch.manual_seed(1)
    wrapped = make()
    assert checkpoint_activations(wrapped) > 0
    assert list(plain.state_dict()) == list(wrapped.state_dict())  # checkpoints keep their names
    loss_a, grads_a = _loss_and_grads(plain, call)
    loss_b, grads_b = _loss_and_grads(wrapped, call)
    assert loss_a == pytest.approx(loss_b, rel=1e-6) and grads_a.keys() == grads_b.keys()
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.slow
def test_interrupt_checkpoints_and_resume_is_exact(tmp_path: Path, sample_dataset: Path, tiny_run: RunConfig):
    run = replace(tiny_run, train=replace(tiny_run.train, activation_checkpointing=True))
    train(run, [sample_dataset], tmp_path / "a", log=quiet)
    with pytest.raises(TrainingInterrupted, match="interrupted after step 2"):
        train(run, [sample_dataset], tmp_path / "b", log=quiet, interrupt_after=lambda step: step == 2)
    assert safe_torch_load(tmp_path / "b" / "checkpoint.pt")["extra"]["step"] == 2
    train(run, [sample_dataset], tmp_path / "b", resume=True, log=quiet)
    assert losses(tmp_path / "a") == losses(tmp_path / "b")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])  # Ctrl-C; a scheduler's stop
def test_a_stop_signal_on_the_command_line_checkpoints_and_exits_128_plus_it(
    tmp_path: Path, sample_dataset: Path, signum: int
):
    args = [
        sys.executable,
        "-m",
        "bytepatch.cli.main",
        "train",
        str(sample_dataset),
        "-o",
        str(tmp_path / "r"),
        "--preset",
        "tiny",
        "--device",
        "cpu",
        "--steps",
        "100000",
        "--batch-size",
        "2",
        "--seq-len",
        "64",
        "train.log_every=1",
        "train.eval_every=100000",
    ]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # wait until training runs, then press Ctrl-C
        if line.startswith("step 3/"):
            proc.send_signal(signum)
            break
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 128 + signum, rest
    assert "interrupted after step" in rest and "--resume" in rest
    step = safe_torch_load(tmp_path / "r" / "checkpoint.pt")["extra"]["step"]
    assert step >= 3 and losses(tmp_path / "r")[-1][0] == step


@pytest.mark.slow
@pytest.mark.parametrize("save_every", [2, 100000])
def test_a_second_stop_signal_exits_at_once_with_its_code_and_one_line(
    tmp_path: Path, sample_dataset: Path, save_every: int
):
    """It printed "Aborted!" and exited 1, as if the run had failed; the checkpoint
    written before stays good for --resume, and without one the line says so."""
    args = [sys.executable, "-m", "bytepatch.cli.main", "train", str(sample_dataset), "-o", str(tmp_path / "r")]
    args += ["--preset", "tiny", "--device", "cpu", "--steps", "100000", "--batch-size", "2", "--seq-len", "64"]
    args += ["train.log_every=1", "train.eval_every=100000", f"train.save_every={save_every}"]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if line.startswith("step 3/"):
            proc.send_signal(signal.SIGTERM)  # two kinds: two of one kind may merge into one
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) in (128 + signal.SIGINT, 128 + signal.SIGTERM), rest  # the one handled second
    lines = [line for line in rest.splitlines() if line.strip() and "\r" not in line]
    assert len(lines) == 1 and "stopped at once by a second signal" in lines[0] and "Traceback" not in rest, rest
    if save_every == 2:  # a checkpoint of step 2 is written
        assert safe_torch_load(tmp_path / "r" / "checkpoint.pt")["extra"]["step"] >= 2 and "--resume" in lines[0]
    else:
        assert not (tmp_path / "r" / "checkpoint.pt").exists()
        assert "before any checkpoint was written: start the run again" in lines[0], lines


@pytest.mark.slow
def test_compiled_training_follows_the_eager_run(tmp_path: Path, sample_dataset: Path, tiny_run: RunConfig):
    # One layer each: compiling (the test's whole cost, minutes on 2 cores) grows with the graph.
    model = replace(tiny_run.model, decoder=replace(tiny_run.model.decoder, n_layers=1))
    run = replace(tiny_run, model=model, train=replace(tiny_run.train, steps=3))
    train(run, [sample_dataset], tmp_path / "eager", log=quiet)
    train(replace(run, train=replace(run.train, compile=True)), [sample_dataset], tmp_path / "compiled", log=quiet)
    eager, compiled = losses(tmp_path / "eager"), losses(tmp_path / "compiled")
    assert [s for s, _ in eager] == [s for s, _ in compiled]
    assert [v for _, v in compiled] == pytest.approx([v for _, v in eager], rel=1e-4)


def _torchrun(tmp: Path, dataset: Path, name: str, *extra: str) -> subprocess.CompletedProcess:
    """4 steps of the tiny preset under torchrun (2 ranks) into tmp/name."""
    return torchrun(
        "train",
        str(dataset),
        "-o",
        str(tmp / name),
        "--preset",
        "tiny",
        "--device",
        "cpu",
        "--steps",
        "4",
        "--batch-size",
        "2",
        "--seq-len",
        "64",
        "train.log_every=1",
        "train.eval_every=2",
        "train.eval_batches=2",
        *extra,
        cwd=tmp,
    )


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without torch.distributed")
def test_fsdp2_on_two_cpu_ranks_equals_ddp_and_resumes_exactly(tmp_path: Path, sample_dataset: Path):
    _torchrun(tmp_path, sample_dataset, "ddp", "--parallel", "ddp")
    _torchrun(tmp_path, sample_dataset, "fsdp", "--parallel", "fsdp")
    _torchrun(tmp_path, sample_dataset, "resumed", "--parallel", "fsdp", "--stop-at", "2")
    _torchrun(tmp_path, sample_dataset, "resumed", "--parallel", "fsdp", "--resume")
    ddp, fsdp, resumed = (safe_torch_load(tmp_path / n / "checkpoint.pt") for n in ("ddp", "fsdp", "resumed"))
    assert fsdp["extra"]["world_size"] == 2 and fsdp["extra"]["run"]["train"]["parallel"] == "fsdp"
    for k in ddp["model"]:  # full (unsharded) tensors, equal to the replicated run's
        assert fsdp["model"][k].shape == ddp["model"][k].shape
        torch.testing.assert_close(fsdp["model"][k], ddp["model"][k], rtol=1e-5, atol=1e-6, msg=k)
        assert torch.equal(fsdp["model"][k], resumed["model"][k]), k
    assert losses(tmp_path / "fsdp") == losses(tmp_path / "resumed")
    assert fsdp["extra"]["metrics"]["held_out_bits_per_byte"] == pytest.approx(
        ddp["extra"]["metrics"]["held_out_bits_per_byte"], rel=1e-5
    )


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA devices")
def test_fsdp2_on_two_gpus(tmp_path: Path, sample_dataset: Path):
    _torchrun(tmp_path, sample_dataset, "gpu", "--parallel", "fsdp", "--device", "cuda")
    ckpt = safe_torch_load(tmp_path / "gpu" / "checkpoint.pt")
    assert ckpt["extra"]["step"] == 4 and ckpt["extra"]["world_size"] == 2
