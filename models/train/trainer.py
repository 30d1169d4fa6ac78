"""The BLT / baseline training loop behind `bytepatch train`, single-process or data-parallel under torchrun.

    summary = train(run, ["data/train"], "runs/blt")            # RunConfig from models.train.config

One step: next packed batch (background loader thread) -> lr from the warmup+cosine
schedule -> forward under bf16 autocast on CUDA (fp32 on CPU) -> one all-reduce of
the step's statistics (so every rank sees the same loss and stops together on a
non-finite one) -> backward -> global-norm clipping (non-finite norm stops too) ->
AdamW. Every `log_every` steps a progress line goes to stderr and a record to
`DIR/log.jsonl` (loss, train bits/byte, lr, grad norm, bytes/s, FLOP/s, cumulative
training FLOPs); every `eval_every` steps the held-out split is scored in bits per
byte; every `save_every` steps (and at the end, or at `stop_at`) a checkpoint is
written atomically (format in `models.train.checkpoint`).

Data parallelism is applied from outside the model: under torchrun (WORLD_SIZE > 1)
the process group is initialised (NCCL on CUDA, gloo on CPU) and the model wrapped
in DDP; each rank reads its own shard of the documents (`PackedLoader`), the loss is
each rank's mean, so DDP's gradient average weights ranks equally. Rank 0 writes the
checkpoint, holding every rank's loader position, so resuming needs the same world size.

Exact resume: weights, AdamW moments, RNG states, the step, and the loader positions
are checkpointed, and the schedule is a pure function of the step; on CPU a resumed
run reproduces the uninterrupted loss curve bit for bit (tested). GPU kernels may be
non-deterministic. FLOPs follow the paper's accounting (`models.flops`): 3 x forward
FLOPs per byte x ids processed, with BLT's patch count measured on each batch.
Trade-off: DDP replicates the model on each rank (simple, fast for models that fit
one device); FSDP2 sharding would be the next step for models that do not.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from bytepatch.models.data import DocumentSource, PackedLoader, evaluation_batches
from bytepatch.models.entropy_lm.model import autocast_dtype, resolve_device
from bytepatch.models.train.checkpoint import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    KIND,
    LOG_FILE,
    VERSION,
    build_model,
    read_checkpoint,
)
from bytepatch.models.train.config import RESUMABLE_CHANGES, RunConfig
from bytepatch.models.train.metrics import batch_nll, bits_per_byte, forward_flops_per_byte, mean_patch_size
from bytepatch.models.train.state import atomic_write_text, save_state, set_rng_state
from bytepatch.models.train.schedule import WarmupCosine, set_lr
from bytepatch.models.train.step import TrainingError, check_finite, clipped_step

DIVERGED_HINT = "Lower --lr, raise train.warmup_steps or lower train.grad_clip"

Log = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# -- distributed setup ------------------------------------------------------------------------
def init_distributed(device_name: str) -> tuple[int, int, torch.device]:
    """(rank, world size, device). Under torchrun (WORLD_SIZE > 1) joins the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_name)
    if world == 1:
        return 0, 1, device
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


def _all_sum(values: list[float], device: torch.device, world: int) -> list[float]:
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if world > 1:
        dist.all_reduce(t)
    return t.tolist()


# -- the run ---------------------------------------------------------------------------------
def _prepare_output(out: Path, resume: bool, overwrite: bool) -> None:
    if resume and overwrite:
        raise TrainingError("pass either --resume or --overwrite, not both")
    if out.exists() and not out.is_dir():
        raise TrainingError(f"{out}: exists and is not a directory")
    has_ckpt = (out / CHECKPOINT_FILE).exists()
    if resume and not has_ckpt:
        raise TrainingError(f"{out}: no {CHECKPOINT_FILE} to resume from")
    if has_ckpt and not (resume or overwrite):
        raise TrainingError(f"{out}: already holds a {CHECKPOINT_FILE}; pass --resume to continue or --overwrite")


def _check_resumable(path: Path, extra: dict[str, Any], run: RunConfig, world: int) -> None:
    """Refuse a resume whose model, trainer settings or world size differ (the data is checked by the loader)."""
    saved = RunConfig.from_dict(extra["run"])
    if saved.data != run.data:
        raise TrainingError(f"{path}: the run config's data section differs from the checkpoint's; resume with "
                            "the same one")  # fmt: skip
    if saved.model_type != run.model_type or saved.model != run.model:
        raise TrainingError(f"{path}: the checkpoint's model ({saved.model_type}) differs from the requested one; "
                            "resume without --preset/--config/overrides or with the same ones")  # fmt: skip
    changed = sorted(k for k, v in asdict(run.train).items()  # warmup: compared as the schedule uses it
                     if k not in RESUMABLE_CHANGES | {"warmup_steps"} and getattr(saved.train, k) != v)  # fmt: skip
    if saved.train.warmup != run.train.warmup:
        changed.append("warmup_steps")
    if changed:
        diffs = ", ".join(f"{k}: {getattr(saved.train, k)!r} -> {getattr(run.train, k)!r}" for k in changed)
        raise TrainingError(f"{path}: cannot resume with different settings ({diffs})")
    if int(extra["world_size"]) != world:
        raise TrainingError(f"{path}: saved with {extra['world_size']} ranks, resumed with {world}; use the same")
    if run.train.steps < int(extra["step"]):
        raise TrainingError(f"{path}: checkpoint is at step {extra['step']}, beyond --steps {run.train.steps}")


def _check_same_data(path: Path, saved: dict[str, Any], source: DocumentSource) -> None:
    """Refuse a resume on other datasets: same paths (resolved) and the same content signature per dataset."""
    if "content" not in saved:  # checkpoints before content signatures: the loader compares document counts
        return
    was = [Path(p).resolve() for p in saved["datasets"]]
    now = [p.resolve() for p in source.paths]
    if was != now:
        raise TrainingError(f"{path}: the run was trained on {', '.join(map(str, was))}, not "
                            f"{', '.join(map(str, now))}; resume with the same datasets in the same order")  # fmt: skip
    for old, new in zip(saved["content"], source.content()):
        old_c, new_c = ({k: v for k, v in c.items() if k != "path"} for c in (old, new))
        if old_c != new_c:
            raise TrainingError(f"{path}: dataset {new['path']} changed since the checkpoint (its manifest lists "
                                f"{new_c['documents']} documents, {new_c['bytes']} bytes in {len(new_c['shards'])} "
                                f"shards; the run saw {old_c['documents']}, {old_c['bytes']}, "
                                f"{len(old_c['shards'])}); resume on the same data or start a new run")  # fmt: skip


def _truncate_log(path: Path, step: int) -> None:
    """Drop records after the checkpointed step (the interrupted run's, about to be redone)."""
    if path.exists():
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln and json.loads(ln)["step"] <= step]
        atomic_write_text(path, "".join(ln + "\n" for ln in lines))


def _adamw(model: torch.nn.Module, run: RunConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW; matrices and embeddings decay, norm gains (1-D) do not."""
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": run.train.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]  # fmt: skip
    t = run.train
    return torch.optim.AdamW(groups, lr=t.lr, betas=(t.beta1, t.beta2), eps=1e-8, fused=device.type == "cuda")


def train(
    run: RunConfig,
    datasets: list[str | Path],
    output: str | Path,
    *,
    eval_datasets: list[str | Path] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    stop_at: int | None = None,
    log: Log = _stderr,
) -> dict[str, Any]:
    """Train `run` on `datasets`, writing `output`; returns a summary (step, losses, bits/byte, FLOPs).

    `stop_at`: stop after that step with a checkpoint, as a preempted job would
    (continue with `resume=True`); the schedule still runs to `run.train.steps`.
    """
    t = run.train
    out = Path(output)
    try:
        rank, world, device = init_distributed(t.device)
    except (ValueError, RuntimeError) as exc:  # e.g. --device cuda without a GPU, a process group that fails
        raise TrainingError(f"cannot start training on device {t.device!r}: {exc}") from exc
    say: Log = log if rank == 0 else (lambda line: None)
    ckpt_path, log_path = out / CHECKPOINT_FILE, out / LOG_FILE
    problem = None
    if rank == 0:
        try:
            _prepare_output(out, resume, overwrite)
        except TrainingError as exc:
            problem = exc
    if world > 1 and _all_sum([float(problem is not None)], device, world)[0]:  # stop every rank, not just rank 0
        raise problem or TrainingError(f"rank 0 refused the output directory {out}; see its message")
    if problem is not None:
        raise problem
    saved = read_checkpoint(ckpt_path) if resume else None
    if saved is not None:
        expected, expected_from = saved["extra"]["data"]["signature"], f"checkpoint {ckpt_path}"
        saved_train = RunConfig.from_dict(saved["extra"]["run"]).train
        if t.steps != saved_train.steps and t.warmup_steps is None:  # keep the warmup the run started with
            run = replace(run, train=replace(t, warmup_steps=saved_train.warmup))
            t = run.train
    else:
        expected, expected_from = run.data, "the run config's data section"
    try:
        source = DocumentSource(list(datasets), expected, expected_from if expected is not None else "")
        if saved is not None:
            _check_same_data(ckpt_path, saved["extra"]["data"], source)
        if eval_datasets:
            held_source = DocumentSource(list(eval_datasets), source.signature, f"training dataset {source.paths[0]}")
            train_docs, held_docs = source.split(0.0)[0], held_source.split(0.0)[0]
        else:
            held_source = source
            train_docs, held_docs = source.split(t.eval_fraction)
        if not len(held_docs):
            raise ValueError("no held-out documents: set train.eval_fraction > 0 or pass --eval-dataset")
        loader = PackedLoader(source, train_docs, batch_size=t.batch_size, seq_len=t.seq_len, seed=t.seed,
                              rank=rank, world_size=world, prefetch=t.prefetch)  # fmt: skip
    except ValueError as exc:
        raise TrainingError(str(exc)) from exc

    torch.manual_seed(t.seed)
    model = build_model(run).to(device)
    optimizer = _adamw(model, run, device)
    meta0 = source.datasets[0].metadata
    data_info = {
        "datasets": [str(p) for p in source.paths],
        "eval_datasets": [str(p) for p in held_source.paths] if eval_datasets else [],
        "patcher": source.signature["patcher"],
        "entropy_model": meta0.get("entropy_model"),
        "signature": source.signature,
        "content": source.content(),
    }
    step, counters = 0, {"train_flops": 0.0, "train_bytes": 0, "train_rows": 0}
    metrics: dict[str, Any] = {"held_out_bits_per_byte": None, "loss": None}
    if saved is not None:
        extra = saved["extra"]
        _check_resumable(ckpt_path, extra, run, world)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        set_rng_state(saved["rng"])
        loader.load_state_dict(extra["loader"][rank])
        step, counters, metrics = int(extra["step"]), dict(extra["counters"]), dict(extra["metrics"])
        if rank == 0:
            _truncate_log(log_path, step)
        say(f"resumed from {ckpt_path} at step {step}")
    elif rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        log_path.unlink(missing_ok=True)
        ckpt_path.unlink(missing_ok=True)  # --overwrite: never leave the old run's checkpoint beside the new config
    if rank == 0:  # the run as it goes on (a resume may change steps and pin a derived warmup)
        atomic_write_text(out / CONFIG_FILE, json.dumps(run.to_dict(), indent=2) + "\n")

    amp = autocast_dtype(device, "auto")
    ddp_model: torch.nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ddp_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    schedule = WarmupCosine(t.lr, t.warmup, t.steps, t.min_lr_ratio)
    n_params = sum(p.numel() for p in model.parameters())
    say(f"{run.model_type} model: {n_params:,} params on {device} x {world}; "
        f"train {len(train_docs):,} docs, held out {len(held_docs):,} docs; steps {t.steps}, "
        f"batch {t.batch_size} x {t.seq_len} ids per rank")  # fmt: skip

    def record(event: dict[str, Any]) -> None:
        if rank == 0:
            with log_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(event) + "\n")

    def checkpoint() -> None:
        states = [loader.state_dict()]
        if world > 1:
            states = [None] * world
            dist.all_gather_object(states, loader.state_dict())
        if rank == 0:
            extra = {"kind": KIND, "version": VERSION, "run": run.to_dict(), "step": step, "world_size": world,
                     "loader": states, "data": data_info, "counters": counters, "metrics": metrics}  # fmt: skip
            save_state(ckpt_path, model, optimizer, extra)

    def evaluate() -> float:
        batches = evaluation_batches(held_source, held_docs, batch_size=t.batch_size, seq_len=t.seq_len,
                                     rank=rank, world_size=world)  # fmt: skip
        bits, n_bytes, _ = bits_per_byte(run.model_type, model, batches, device, amp, t.eval_batches)
        bits, n_bytes = _all_sum([bits, n_bytes], device, world)
        return bits / max(n_bytes, 1)

    last_log = (time.perf_counter(), counters["train_bytes"], counters["train_flops"])
    model.train()
    try:
        while step < t.steps:
            lr = schedule(step)
            set_lr(optimizer, lr)
            try:
                host = next(loader)
            except ValueError as exc:  # a document or shard the loader cannot use (DataError, ShardError)
                raise TrainingError(f"bad training data: {exc}") from exc
            # From the host copy: reading the patch count of a device tensor would sync every step.
            flops = 3.0 * forward_flops_per_byte(run, mean_patch_size(host["patch_lengths"])) * host["ids"].numel()
            batch = {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in host.items()}
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                loss, nats, n_bytes = batch_nll(run.model_type, ddp_model, batch)
            loss_sum, nats_sum, bytes_sum, flops_sum = _all_sum(
                [loss.item(), nats.item(), n_bytes.item(), flops], device, world)  # fmt: skip
            loss_value = loss_sum / world  # every rank sees the same value, so all stop together
            check_finite("loss", loss_value, step + 1, ckpt_path, DIVERGED_HINT)
            grad_norm = clipped_step(model, optimizer, loss, t.grad_clip, step + 1, ckpt_path, DIVERGED_HINT)
            step += 1
            counters["train_flops"] += flops_sum
            counters["train_bytes"] += int(bytes_sum)
            counters["train_rows"] += t.batch_size * world
            metrics["loss"] = loss_value
            last = step == t.steps
            if step % t.log_every == 0 or last:
                now = time.perf_counter()
                dt = max(now - last_log[0], 1e-9)
                event = {"step": step, "loss": loss_value, "bits_per_byte": nats_sum / max(bytes_sum, 1) / math.log(2),
                         "lr": lr, "grad_norm": grad_norm,
                         "bytes_per_s": (counters["train_bytes"] - last_log[1]) / dt,
                         "flops_per_s": (counters["train_flops"] - last_log[2]) / dt, **counters}  # fmt: skip
                last_log = (now, counters["train_bytes"], counters["train_flops"])
                record(event)
                say(f"step {step}/{t.steps}  loss {loss_value:.4f}  {event['bits_per_byte']:.3f} bits/byte  "
                    f"lr {lr:.2e}  {event['bytes_per_s']:,.0f} bytes/s  {event['flops_per_s']:.3g} FLOP/s")  # fmt: skip
            if step % t.eval_every == 0 or last:
                try:
                    metrics["held_out_bits_per_byte"] = bpb = evaluate()
                except ValueError as exc:
                    raise TrainingError(f"bad held-out data: {exc}") from exc
                record({"step": step, "held_out_bits_per_byte": bpb, **counters})
                say(f"step {step}/{t.steps}  held-out {bpb:.4f} bits/byte")
                last_log = (time.perf_counter(), counters["train_bytes"], counters["train_flops"])
            stopping = stop_at is not None and step >= stop_at and not last
            if step % t.save_every == 0 or last or stopping:
                checkpoint()
            if stopping:
                say(f"stopped after step {step}; continue with --resume")
                break
    finally:
        loader.close()
    return {"step": step, "steps": t.steps, **metrics, **counters, "checkpoint": str(ckpt_path), "rank": rank}

