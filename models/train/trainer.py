"""The one training loop: BLT, the byte baseline and the entropy LM, single-process or under torchrun.

    summary = train(run, ["data/train"], "runs/blt")                 # segmented datasets
    summary = fit(run, open_documents(docs, eval_bytes), "runs/lm")   # raw documents (train-entropy)

One step: next batch (a loader thread for datasets) -> lr from the warmup+cosine
schedule -> forward under bf16 autocast on CUDA (fp32 on CPU) -> one all-reduce of
the step's statistics (every rank sees the same loss and stop request, so all stop
together) -> backward -> global-norm clipping (a non-finite loss or norm stops the
run) -> AdamW. Every `log_every` steps a progress line goes to stderr and a record
to `DIR/log.jsonl` (loss, train bits/byte, lr, grad norm, bytes/s, FLOP/s,
cumulative training FLOPs); every `eval_every` steps the held-out data is scored in
bits per byte; every `save_every` steps (and at the end, at `stop_at`, or after
Ctrl-C) a checkpoint is written atomically (format in `models.train.checkpoint`).

Parallelism is applied from outside the model (`parallel`): DDP or FSDP2 under
torchrun, optional activation checkpointing and `torch.compile`. Each rank reads its
own share of the data; rank 0 writes the checkpoint holding every rank's data
position, so resuming needs the same world size.

Exact resume: weights, AdamW moments, RNG states, the step, and the data positions
are checkpointed, and the schedule is a pure function of the step; on CPU a resumed
run reproduces the uninterrupted loss curve bit for bit (tested). GPU kernels may be
non-deterministic. FLOPs follow the paper's accounting (`models.blt.flops`): 3 x
forward FLOPs per byte x ids processed, with BLT's patch count measured per batch.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from bytepatch.io.sources import refuse_one_path
from bytepatch.models.entropy_lm.model import autocast_dtype
from bytepatch.models.train.checkpoint import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    KIND,
    LOG_FILE,
    VERSION,
    build_model,
    other_trainers_run,
    read_checkpoint,
)
from bytepatch.models.train.config import RunConfig
from bytepatch.models.train.data import DatasetData, DocumentData
from bytepatch.models.train.interrupt import StopOnSignal, TrainingAborted, TrainingInterrupted
from bytepatch.models.train.metrics import batch_nll, forward_flops_per_byte, mean_patch_size
from bytepatch.models.train.parallel import (
    all_sum,
    full_state,
    init_distributed,
    load_full_state,
    prepare_model,
    process_group_scope,
)
from bytepatch.models.train.resume import check_resumable, prepare_output, truncate_log
from bytepatch.models.train.schedule import WarmupCosine, set_lr
from bytepatch.models.train.state import atomic_write_text, set_rng_state, write_state
from bytepatch.models.train.step import TrainingError, check_finite, clipped_step
from bytepatch.step_progress import StepProgress

DIVERGED_HINT = "Lower --lr, raise train.warmup_steps or lower train.grad_clip"

Log = Callable[[str], None]
# (run, saved checkpoint extra or None, rank, world) -> the run's data (DatasetData or DocumentData)
OpenData = Callable[[RunConfig, dict[str, Any] | None, int, int], Any]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Session:
    """Everything one run holds between steps."""

    run: RunConfig
    out: Path
    rank: int
    world: int
    device: torch.device
    say: Log
    data: Any = None
    model: torch.nn.Module | None = None  # the plain (possibly sharded) module: weights, clipping, evaluation
    stepped: torch.nn.Module | None = None  # what the step calls: DDP-wrapped and/or compiled
    optimizer: torch.optim.Optimizer | None = None
    step: int = 0
    counters: dict[str, Any] = field(default_factory=lambda: {"train_flops": 0.0, "train_bytes": 0, "train_rows": 0})
    metrics: dict[str, Any] = field(default_factory=lambda: {"held_out_bits_per_byte": None, "loss": None})
    last_log: tuple[float, int, float] = (0.0, 0, 0.0)

    @property
    def ckpt_path(self) -> Path:
        return self.out / CHECKPOINT_FILE

    @property
    def amp(self) -> torch.dtype | None:
        return autocast_dtype(self.device, "auto")

    def record(self, event: dict[str, Any]) -> None:
        if self.rank == 0:
            try:
                with (self.out / LOG_FILE).open("a", encoding="utf-8") as f:
                    f.write(json.dumps(event) + "\n")
            except OSError as exc:
                raise TrainingError(f"{self.out / LOG_FILE}: cannot write: {exc.strerror or exc}") from exc


# -- entry points -----------------------------------------------------------------------------
def train(
    run: RunConfig,
    datasets: list[str | Path],
    output: str | Path,
    *,
    eval_datasets: list[str | Path] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Train `run` on segmented `datasets`, writing `output`; returns a summary (step, losses, bits/byte, FLOPs).

    `options` are `fit`'s: resume, overwrite, stop_at, log, interrupt_after, init_state.
    """
    refuse_one_path(datasets, "datasets", "dataset directories")
    refuse_one_path(eval_datasets, "eval_datasets", "dataset directories")

    def open_data(run: RunConfig, saved: dict[str, Any] | None, rank: int, world: int) -> DatasetData:
        if saved is not None and (other := other_trainers_run(output, saved, "train")) is not None:
            raise ValueError(other)
        t = run.train
        expected, where = (saved["data"]["signature"], "the checkpoint") if saved else (run.data, "")
        where = where or "the run config's data section"
        return DatasetData(
            datasets,
            eval_datasets,
            expected=expected,
            expected_from=where,
            batch_size=t.batch_size,
            seq_len=t.seq_len,
            seed=t.seed,
            eval_fraction=t.eval_fraction,
            prefetch=t.prefetch,
            rank=rank,
            world=world,
            reference_eos=_reference_alignment(run),
            check_patching=run.model_type == "blt",  # the baseline never reads patch boundaries
        )

    return fit(run, open_data, output, **options)


def _reference_alignment(run: RunConfig) -> bool:
    return run.model_type == "blt" and run.model.decoder_alignment == "reference"


def open_documents(docs: Iterable[tuple[str, bytes]], eval_bytes: int) -> OpenData:
    """Raw (id, bytes) documents as the run's data; `eval_bytes` of held-out text are scored per evaluation."""

    def open_data(run: RunConfig, saved: dict[str, Any] | None, rank: int, world: int) -> DocumentData:
        t = run.train
        return DocumentData(
            docs,
            batch_size=t.batch_size,
            seq_len=t.seq_len,
            seed=t.seed,
            eval_fraction=t.eval_fraction,
            eval_bytes=eval_bytes,
            rank=rank,
            world=world,
        )

    return open_data


@process_group_scope()  # a group joined inside is destroyed on the way out
def fit(
    run: RunConfig,
    open_data: OpenData,
    output: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    stop_at: int | None = None,
    log: Log = _stderr,
    interrupt_after: Callable[[int], bool] | None = None,
    write_config: bool = True,
    init_state: dict[str, torch.Tensor] | None = None,
    before_steps: Callable[[], None] | None = None,
    replaces: Sequence[str] = (),
) -> dict[str, Any]:
    """Train `run` on the data `open_data` gives, writing checkpoints and the log to `output`.

    `stop_at`: stop after that step with a checkpoint, as a preempted job would
    (continue with `resume=True`); the schedule still runs to `run.train.steps`.
    Ctrl-C (or `interrupt_after(step)` returning True, for tests) checkpoints after
    the current step and raises `TrainingInterrupted`. `write_config`: also write
    the run config as `DIR/config.json` (train-entropy keeps that name for its model).
    `init_state`: weights to start a new run from (fine-tuning, `train --init`) instead of a fresh init.
    `before_steps`: called on rank 0 once the run is set up (output, checkpoint and data all
    checked) and before its first step writes anything; not when there is no step left to take.
    `replaces`: names of files in `output` that the caller replaces itself with --overwrite (in
    `before_steps`, once nothing can refuse the run any more): not refused as foreign files.
    """
    # On rank 0 with the default log (stderr): a live progress line (step, loss, bytes/s,
    # elapsed, ETA) on a terminal, a plain line at least every 30 s otherwise.
    progress = StepProgress(run.train.steps) if log is _stderr else None
    s = set_up(
        run,
        open_data,
        Path(output),
        resume,
        overwrite,
        progress.say if progress else log,
        write_config,
        init_state,
        stop_at,
        replaces,
    )
    t = s.run.train
    if progress is not None:
        progress.start_step = progress.step = s.step
        if s.rank != 0:
            progress = None
    if before_steps is not None and s.rank == 0 and s.step < t.steps:
        before_steps()
    schedule = WarmupCosine(t.lr, t.warmup, t.steps, t.min_lr_ratio)
    s.last_log = (time.perf_counter(), s.counters["train_bytes"], s.counters["train_flops"])
    if progress is not None:  # its speed and ETA count the steps, not the set-up above
        progress.begin()
    start_bytes = s.counters["train_bytes"]  # a resumed run's rate counts this process's bytes only
    s.model.train()
    try:
        with StopOnSignal() as stop_signal:
            while s.step < t.steps:
                lr = schedule(s.step)
                wants_stop = stop_signal.requested or (interrupt_after is not None and interrupt_after(s.step + 1))
                stats = train_step(s, lr, wants_stop)
                last = s.step == t.steps
                if progress is not None:
                    progress.update(s.step, stats["loss"], s.counters["train_bytes"] - start_bytes)
                if s.step % t.log_every == 0 or last:
                    log_step(s, stats, lr)
                if s.step % t.eval_every == 0 or last:
                    if progress is not None:
                        progress.status("evaluating held-out bits/byte")
                    evaluate(s)
                # A stop asked during this step or its evaluation: stop now, not after the next
                # step (several ranks agree on a stop in a step's all-reduce: one step later).
                if s.world == 1 and stop_signal.requested and not last:
                    stats["stop"] = True
                planned = stop_at is not None and s.step >= stop_at and not last
                if s.step % t.save_every == 0 or last or planned or stats["stop"]:
                    checkpoint(s)
                if stats["stop"] and not last:  # a stop agreed at the last step: the run is complete
                    raise TrainingInterrupted(s.step, stop_signal.signum)
                if planned:
                    s.say(f"stopped after step {s.step}; continue with --resume")
                    break
    except TrainingAborted as exc:  # say whether --resume has anything to start from
        raise TrainingAborted(exc.signum, s.ckpt_path.exists()) from None
    finally:
        if progress is not None:
            progress.close()
        s.data.close()
    return {"step": s.step, "steps": t.steps, **s.metrics, **s.counters, "checkpoint": str(s.ckpt_path), "rank": s.rank}


# -- set-up -----------------------------------------------------------------------------------
def set_up(
    run: RunConfig,
    open_data: OpenData,
    out: Path,
    resume: bool,
    overwrite: bool,
    log: Log,
    write_config: bool,
    init_state: dict[str, torch.Tensor] | None = None,
    stop_at: int | None = None,
    replaces: Sequence[str] = (),
) -> Session:
    """Join the process group, check the output, open the data, build (or restore) model and optimizer."""
    try:
        rank, world, device = init_distributed(run.train.device)
    except (ValueError, RuntimeError) as exc:  # e.g. --device cuda without a GPU, a process group that fails
        raise TrainingError(f"cannot start training on device {run.train.device!r}: {exc}") from exc
    s = Session(run, out, rank, world, device, log if rank == 0 else (lambda line: None))
    _check_output_everywhere(s, resume, overwrite, replaces)
    try:
        saved = read_checkpoint(s.ckpt_path) if resume else None
        if saved is not None and saved.get("optimizer") is None:  # `convert` writes weights only, at step 0
            origin = saved["extra"].get("converted_from")
            raise TrainingError(
                f"{s.ckpt_path}: holds weights only{f' (converted from {origin})' if origin else ''}, no optimizer "
                f"state or data position to resume from; fine-tune it with `train --init {s.out}` and a new -o"
            )
        if saved is not None:
            s.run = run = _keep_warmup(run, RunConfig.from_dict(saved["extra"]["run"]).train)
    except (ValueError, KeyError, TypeError) as exc:  # damaged, truncated, or not a run's checkpoint
        raise TrainingError(_naming(s.ckpt_path, exc)) from exc
    _check_warmup(run)
    at = int(saved["extra"].get("step", 0)) if saved is not None else 0
    if stop_at is not None and stop_at <= at:  # checked before anything is written: it would step past it
        raise TrainingError(f"{s.ckpt_path}: the run is at step {at} already; --stop-at {stop_at} is not after it")
    try:
        s.data = open_data(run, saved["extra"] if saved else None, rank, world)
        if saved is not None:
            s.data.check_resume(s.ckpt_path, saved["extra"]["data"])
    except ValueError as exc:
        raise TrainingError(str(exc)) from exc
    _build(s, saved, init_state)
    if rank == 0 and write_config:  # the run as it goes on (a resume may change steps and pin a derived warmup)
        atomic_write_text(out / CONFIG_FILE, json.dumps(run.to_dict(), indent=2) + "\n")
    n_params = sum(p.numel() for p in s.model.parameters())
    t = run.train
    s.say(
        # "(ddp)" only where it holds: one process replicates nothing
        f"{run.model_type} model: {n_params:,} params on {device}"
        f"{f' x {world} ({t.parallel})' if world > 1 else ''}; "
        f"train {s.data.n_train:,} docs, held out {s.data.n_held:,} docs; steps {t.steps}, "
        f"batch {t.batch_size} x {t.seq_len} ids per rank"
    )
    return s


def _check_output_everywhere(s: Session, resume: bool, overwrite: bool, replaces: Sequence[str] = ()) -> None:
    problem = None
    if s.rank == 0:
        try:
            prepare_output(s.out, resume, overwrite, replaces)
        except TrainingError as exc:
            problem = exc
    if s.world > 1 and all_sum([float(problem is not None)], s.device, s.world)[0]:  # stop every rank
        raise problem or TrainingError(f"rank 0 refused the output directory {s.out}; see its message")
    if problem is not None:
        raise problem


def _naming(path: Path, exc: BaseException, what: str = "") -> str:
    """The error's message, led by the file it concerns unless it names it already."""
    message = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
    return message if str(path) in message else f"{path}: {what}{message}"


def _check_warmup(run: RunConfig) -> None:
    """Refuse a warmup longer than the run: the learning rate would never reach its peak.
    Checked when a run starts or resumes (the warmup a resume keeps included), not in
    `TrainConfig`, so that a checkpoint saved with such a setting still loads for eval."""
    t = run.train
    if t.warmup > t.steps:
        raise TrainingError(
            f"a warmup of {t.warmup} steps (train.warmup_steps, --warmup-steps) is longer than the run's {t.steps} steps: "
            "the learning rate would never reach its peak; lower the warmup or raise the steps"
        )


def _keep_warmup(run: RunConfig, saved_train: Any) -> RunConfig:
    """A resume whose warmup is derived from steps (`warmup_steps` null) keeps the warmup the run has:
    when it changes `steps`, and when the checkpoint's warmup was pinned by such a resume before
    (the same --config or --preset command again; deriving it from steps would change it)."""
    t = run.train
    if t.warmup_steps is None and (t.steps != saved_train.steps or saved_train.warmup_steps is not None):
        return replace(run, train=replace(t, warmup_steps=saved_train.warmup))
    return run


def _misfit(model: dict[str, torch.Tensor], weights: dict[str, torch.Tensor]) -> str:
    """The first way `weights` do not fit `model`'s tensors, and how many tensors differ, in one line."""
    missing = [k for k in model if k not in weights]
    extra = [k for k in weights if k not in model]
    shapes = [k for k in model if k in weights and tuple(model[k].shape) != tuple(weights[k].shape)]
    if shapes:
        k = shapes[0]
        first = f"{k} is {tuple(weights[k].shape)} in the weights, {tuple(model[k].shape)} in the model"
    elif missing:
        first = f"{missing[0]} is missing from the weights"
    elif extra:
        first = f"{extra[0]} is not in the model"
    else:
        return "their tensors differ"
    n = len(set(missing) | set(extra) | set(shapes))
    return first + (f" ({n} tensors differ)" if n > 1 else "")


def _build(s: Session, saved: dict[str, Any] | None, init_state: dict[str, torch.Tensor] | None = None) -> None:
    """Model and optimizer, fresh (seeded, or from `init_state`) or restored from `saved` with RNGs, data position
    and counters."""
    t = s.run.train
    torch.manual_seed(t.seed)
    s.model = build_model(s.run)
    if init_state is not None and saved is None:
        try:
            s.model.load_state_dict(init_state)
        except RuntimeError as exc:  # torch's message lists every tensor, one per line
            raise TrainingError(
                f"the --init weights do not fit the run's model config: {_misfit(s.model.state_dict(), init_state)}; "
                "drop the overrides that change the model's shape"
            ) from exc
    s.model = s.model.to(s.device)
    if saved is not None:
        check_resumable(s.ckpt_path, saved["extra"], s.run, s.world)
    s.stepped = prepare_model(
        s.model,
        parallel=t.parallel,
        compile=t.compile,
        activation_checkpointing=t.activation_checkpointing,
        device=s.device,
        world=s.world,
    )
    s.optimizer = adamw(s.model, s.run, s.device)
    if saved is None:
        if s.rank == 0:
            s.out.mkdir(parents=True, exist_ok=True)
            (s.out / LOG_FILE).unlink(missing_ok=True)
            s.ckpt_path.unlink(
                missing_ok=True
            )  # --overwrite: never leave the old run's checkpoint beside the new config
        return
    extra = saved["extra"]
    try:  # a checkpoint whose checksums match can still lack a part or hold a foreign one
        load_full_state(s.model, s.optimizer, saved["model"], saved["optimizer"], t.parallel, s.world)
        set_rng_state(saved["rng"])
        s.data.load_state_dict(extra["loader"][s.rank])
        s.step, s.counters, s.metrics = int(extra["step"]), dict(extra["counters"]), dict(extra["metrics"])
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise TrainingError(_naming(s.ckpt_path, exc, "cannot restore the run from it: ")) from exc
    if s.rank == 0:
        truncate_log(s.out / LOG_FILE, s.step)
    s.say(f"resumed from {s.ckpt_path} at step {s.step}")


def adamw(model: torch.nn.Module, run: RunConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW; matrices and embeddings decay, norm gains (1-D) do not."""
    params = list(model.parameters())
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": run.train.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    t = run.train
    return torch.optim.AdamW(groups, lr=t.lr, betas=(t.beta1, t.beta2), eps=1e-8, fused=device.type == "cuda")


# -- one step, logging, evaluation, checkpoints -----------------------------------------------
def train_step(s: Session, lr: float, wants_stop: bool) -> dict[str, Any]:
    """One optimizer step; returns the step's statistics summed over ranks (and whether any rank wants to stop)."""
    set_lr(s.optimizer, lr)
    try:
        host = next(s.data)
    except ValueError as exc:  # a document or shard the loader cannot use (DataError, ShardError)
        raise TrainingError(f"bad training data: {exc}") from exc
    # From the host copy: reading the patch count of a device tensor would sync every step.
    patch = mean_patch_size(host["patch_lengths"]) if "patch_lengths" in host else 1.0
    flops = 3.0 * forward_flops_per_byte(s.run, patch) * host["ids"].numel()
    batch = {k: v.to(s.device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in host.items()}
    if s.run.train.compile and "patch_lengths" in batch:
        # The patch count changes from batch to batch: compiled for it from the first step,
        # the model is compiled once, not once for the first batch's count and again for any.
        torch._dynamo.maybe_mark_dynamic(batch["patch_lengths"], 1)
    with torch.autocast(s.device.type, dtype=s.amp, enabled=s.amp is not None):
        loss, nats, n_bytes = batch_nll(s.run.model_type, s.stepped, batch)
    loss_sum, nats_sum, bytes_sum, flops_sum, stops = all_sum(
        [loss.item(), nats.item(), n_bytes.item(), flops, float(wants_stop)], s.device, s.world
    )
    loss_value = loss_sum / s.world  # every rank sees the same value, so all stop together
    check_finite("loss", loss_value, s.step + 1, s.ckpt_path, DIVERGED_HINT)
    grad_norm = clipped_step(s.model, s.optimizer, loss, s.run.train.grad_clip, s.step + 1, s.ckpt_path, DIVERGED_HINT)
    s.step += 1
    s.counters["train_flops"] += flops_sum
    s.counters["train_bytes"] += int(bytes_sum)
    s.counters["train_rows"] += s.run.train.batch_size * s.world
    s.metrics["loss"] = loss_value
    return {"loss": loss_value, "nats": nats_sum, "bytes": bytes_sum, "grad_norm": grad_norm, "stop": stops > 0}


def log_step(s: Session, stats: dict[str, Any], lr: float) -> None:
    """A progress line and a log record with rates since the previous record."""
    now = time.perf_counter()
    dt = max(now - s.last_log[0], 1e-9)
    c = s.counters
    event = {
        "step": s.step,
        "loss": stats["loss"],
        "bits_per_byte": stats["nats"] / max(stats["bytes"], 1) / math.log(2),
        "lr": lr,
        "grad_norm": stats["grad_norm"],
        "bytes_per_s": (c["train_bytes"] - s.last_log[1]) / dt,
        "flops_per_s": (c["train_flops"] - s.last_log[2]) / dt,
        **c,
    }
    s.last_log = (now, c["train_bytes"], c["train_flops"])
    s.record(event)
    s.say(
        f"step {s.step}/{s.run.train.steps}  loss {stats['loss']:.4f}  {event['bits_per_byte']:.3f} bits/byte  "
        f"lr {lr:.2e}  {event['bytes_per_s']:,.0f} bytes/s  {event['flops_per_s']:.3g} FLOP/s"
    )


def evaluate(s: Session) -> float:
    """Held-out bits per byte over every rank's share; recorded, logged and kept in the metrics."""
    try:
        sharded = s.world > 1 and s.run.train.parallel == "fsdp"
        bits, n_bytes = s.data.evaluate(s.run.model_type, s.model, s.device, s.amp, s.run.train.eval_batches, sharded)
    except ValueError as exc:
        raise TrainingError(f"bad held-out data: {exc}") from exc
    bits, n_bytes = all_sum([bits, n_bytes], s.device, s.world)
    if not n_bytes:  # bits per byte of nothing is undefined: never report 0.0 for it
        raise TrainingError(
            f"no held-out byte was scored in train.eval_batches={s.run.train.eval_batches} batches "
            "(their documents are empty); raise train.eval_batches or pass another --eval-dataset"
        )
    s.metrics["held_out_bits_per_byte"] = bpb = bits / n_bytes
    check_finite("held-out bits per byte", bpb, s.step, s.ckpt_path, DIVERGED_HINT)  # never NaN in the log
    s.record({"step": s.step, "held_out_bits_per_byte": bpb, **s.counters})
    s.say(f"step {s.step}/{s.run.train.steps}  held-out {bpb:.4f} bits/byte")
    s.last_log = (
        time.perf_counter(),
        s.counters["train_bytes"],
        s.counters["train_flops"],
    )  # eval time is not training
    return bpb


def checkpoint(s: Session) -> None:
    """Write the checkpoint (rank 0), with every rank's data position; a collective under DDP/FSDP."""
    states = [s.data.state_dict()]
    if s.world > 1:
        states = [None] * s.world
        dist.all_gather_object(states, s.data.state_dict())
    model_state, optim_state = full_state(s.model, s.optimizer, s.run.train.parallel, s.world)
    if s.rank == 0:
        extra = {
            "kind": KIND,
            "version": VERSION,
            "run": s.run.to_dict(),
            "step": s.step,
            "world_size": s.world,
            "loader": states,
            "data": s.data.info,
            "counters": s.counters,
            "metrics": s.metrics,
        }
        try:
            write_state(s.ckpt_path, model_state, optim_state, extra)
        except (OSError, RuntimeError) as exc:  # torch's zip writer reports a failed write as a RuntimeError
            io_error = exc if isinstance(exc, OSError) else exc.__cause__ or exc.__context__
            if not isinstance(io_error, OSError):
                raise
            raise TrainingError(
                f"{s.ckpt_path}: cannot write the checkpoint ({io_error.strerror or io_error}); "
                "one written before, if any, is intact"
            ) from exc
