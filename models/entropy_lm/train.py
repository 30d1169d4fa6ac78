"""Training loop of the transformer entropy LM (what `bytepatch train-entropy` runs).

One function, `train_entropy_lm`, from documents to a finished model directory:
deterministic held-out split, packed BOS-framed stream (`data`), AdamW with
warmup + cosine (`training.schedule`), gradient clipping, bf16 autocast on CUDA,
held-out bits per byte through the same streaming scorer that patching uses, and
atomic checkpoints (`training.checkpoint`) holding weights, optimizer, RNG states,
step, data position and config. A resumed run replays the uninterrupted one
exactly (CPU; GPU kernels may be non-deterministic). At the end the default
threshold is calibrated on the held-out sample to the target mean patch size
(global rule) and the directory becomes a loadable entropy model.

Directory layout while and after training:

    DIR/checkpoint.pt     latest checkpoint (kept at the end, so training can be extended)
    DIR/train_log.jsonl   one JSON object per log/eval event
    DIR/config.json, DIR/model.pt   the entropy model, written when training finishes

Trade-off: everything runs in one process on one device; data parallelism and
compilation would be applied from outside (torchtitan style) if ever needed.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from bytepatch.entropy.base import score
from bytepatch.entropy.calibrate import calibrate_threshold
from bytepatch.models.entropy_lm.data import PackedStream, sample_prefix, split_documents
from bytepatch.models.entropy_lm.model import TransformerEntropyModel, autocast_dtype, resolve_device
from bytepatch.models.nn.layers import doc_ids_from_bos
from bytepatch.models.train.state import atomic_write_text, restore_state, save_state
from bytepatch.models.train.schedule import WarmupCosine, set_lr
from bytepatch.models.train.step import TrainingError, check_finite, clipped_step
from bytepatch.models.nn.transformer import TRANSFORMER_PRESETS, ByteTransformer, check_keys

CHECKPOINT_FILE = "checkpoint.pt"
LOG_FILE = "train_log.jsonl"
# Settings that may differ between a run and its resumption without changing what is computed
# (`steps` changes the cosine schedule, so extending a run is allowed but no longer "exact").
RESUMABLE_CHANGES = frozenset({"steps", "device", "log_every", "eval_every", "save_every"})
HINT = "Lower --lr or raise --warmup-steps"


class TrainingInterrupted(Exception):
    """Training stopped early on request (Ctrl-C); a checkpoint for `--resume` was written."""

    def __init__(self, step: int) -> None:
        super().__init__(f"interrupted after step {step}; checkpoint saved, continue with --resume")
        self.step = step


@dataclass(frozen=True)
class TrainConfig:
    preset: str = "small"  # a TRANSFORMER_PRESETS name; its window is the entropy LM's attention window
    steps: int = 2000  # optimizer steps in total
    batch_size: int = 16  # rows per step
    seq_len: int = 1024  # ids per row (documents are packed; attention stays inside each document)
    lr: float = 1e-3  # peak learning rate (small models tolerate more than the paper model's ~4e-4)
    warmup_steps: int | None = None  # None: 5% of steps, at least 1
    min_lr_ratio: float = 0.1  # cosine floor as a fraction of lr
    weight_decay: float = 0.1  # AdamW decay on matrices and embeddings, not on norm gains
    grad_clip: float = 1.0  # max global gradient norm
    seed: int = 0  # model init and data order
    held_out_fraction: float = 0.05  # share of documents (by id hash) kept for evaluation and calibration
    eval_bytes: int = 262_144  # held-out bytes scored per evaluation and for calibration (a fixed prefix sample)
    eval_every: int = 200  # steps between held-out evaluations (and after the last step)
    save_every: int = 200  # steps between checkpoints (and after the last step)
    log_every: int = 10  # steps between loss lines
    device: str = "cpu"  # "cpu", "cuda" or "auto"
    target_patch_size: float = 4.5  # the default threshold gives this mean patch size on the held-out sample

    def __post_init__(self) -> None:
        if self.preset not in TRANSFORMER_PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose from {', '.join(TRANSFORMER_PRESETS)}")
        if TRANSFORMER_PRESETS[self.preset].window is None:
            raise ValueError(f"preset {self.preset!r} has no sliding window; the entropy LM needs one")
        for name in ("steps", "batch_size", "seq_len", "eval_bytes", "eval_every", "save_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive finite number, got {self.lr}")

    @property
    def warmup(self) -> int:
        return self.warmup_steps if self.warmup_steps is not None else max(1, self.steps // 20)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        check_keys(cls, d)
        return cls(**d)


def train_entropy_lm(
    docs: Iterable[tuple[str, bytes]],
    output: str | Path,
    cfg: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
    stop_after: Callable[[int], bool] | None = None,
) -> TransformerEntropyModel:
    """Train on (id, bytes) documents and write the model directory `output`; returns the model.

    `stop_after(step)` returning True stops like Ctrl-C does (checkpoint, then
    `TrainingInterrupted`); tests use it to interrupt a run at a known step.
    """
    out = Path(output)
    ckpt_path, log_path = out / CHECKPOINT_FILE, out / LOG_FILE
    _check_output(out, resume, overwrite)
    split = split_documents(docs, cfg.held_out_fraction)
    eval_docs = sample_prefix(split.held_out, cfg.eval_bytes)
    corpus = {
        "train_documents": len(split.train),
        "train_bytes": sum(map(len, split.train)),
        "held_out_documents": len(split.held_out),
        "held_out_bytes": sum(map(len, split.held_out)),
    }
    device = resolve_device(cfg.device)
    amp = autocast_dtype(device, "auto")

    torch.manual_seed(cfg.seed)
    model = ByteTransformer(TRANSFORMER_PRESETS[cfg.preset]).to(device)
    optimizer = _adamw(model, cfg, device)
    stream = PackedStream(split.train, cfg.seed)
    schedule = WarmupCosine(cfg.lr, cfg.warmup, cfg.steps, cfg.min_lr_ratio)
    step = 0
    if resume and ckpt_path.exists():
        extra = restore_state(ckpt_path, model, optimizer)
        _check_resumable(ckpt_path, extra, cfg, corpus)
        step = int(extra["step"])
        stream.set_state(extra["data"])
        _truncate_log(log_path, step)
        log(f"resumed from {ckpt_path} at step {step}")
    else:
        out.mkdir(parents=True, exist_ok=True)
        log_path.unlink(missing_ok=True)
    log(
        f"entropy LM {cfg.preset}: {model.num_params():,} params, window {model.config.window}; "
        f"train {corpus['train_documents']:,} docs / {corpus['train_bytes']:,} bytes, "
        f"held out {corpus['held_out_documents']:,} docs / {corpus['held_out_bytes']:,} bytes; device {device}"
    )

    def checkpoint() -> None:
        save_state(ckpt_path, model, optimizer,
                        {"step": step, "data": stream.state(), "config": cfg.to_dict(), "corpus": corpus})  # fmt: skip

    def record(event: dict[str, Any]) -> None:
        with log_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")

    scorer = TransformerEntropyModel(model, device=cfg.device)  # shares the module; used for held-out scoring
    loss_value = math.nan
    held_out: tuple[list, float] | None = None  # (entropies, bits/byte) of the latest evaluation
    model.train()
    with _StopOnSigint() as stop:
        while step < cfg.steps:
            t0 = time.perf_counter()
            lr = schedule(step)
            set_lr(optimizer, lr)
            idx, targets = (t.to(device) for t in stream.next_batch(cfg.batch_size, cfg.seq_len))
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                _, loss = model(idx, targets, doc_ids=doc_ids_from_bos(idx))
            loss_value = loss.item()
            check_finite("loss", loss_value, step + 1, ckpt_path, HINT)
            grad_norm = clipped_step(model, optimizer, loss, cfg.grad_clip, step + 1, ckpt_path, HINT)
            step += 1
            last = step == cfg.steps
            if step % cfg.log_every == 0 or last:
                rate = idx.numel() / (time.perf_counter() - t0)
                record({"step": step, "loss": loss_value, "lr": lr, "grad_norm": grad_norm, "bytes_per_s": rate})
                log(f"step {step}/{cfg.steps}  loss {loss_value:.4f}  lr {lr:.2e}  {rate:,.0f} bytes/s")
            if step % cfg.eval_every == 0 or last:
                held_out = _evaluate(scorer, eval_docs)
                record({"step": step, "held_out_bits_per_byte": held_out[1]})
                log(f"step {step}/{cfg.steps}  held-out {held_out[1]:.4f} bits/byte")
                model.train()
            if step % cfg.save_every == 0 or last:
                checkpoint()
            if stop.requested or (stop_after is not None and stop_after(step)):
                if step % cfg.save_every and not last:
                    checkpoint()
                raise TrainingInterrupted(step)

    if held_out is None:  # resumed a finished run (e.g. to rewrite the model directory)
        held_out = _evaluate(scorer, eval_docs)
    return _finish(out, scorer, cfg, held_out, corpus, loss_value, log)


def _evaluate(lm: TransformerEntropyModel, docs: list[bytes]) -> tuple[list, float]:
    """(entropies, bits per byte) of the held-out sample, in one pass."""
    hs, bits, n = score(lm, docs)
    return hs, bits / max(n, 1)


def _finish(out, lm, cfg, held_out, corpus, loss_value, log) -> TransformerEntropyModel:
    """Calibrate the default threshold on the held-out entropies and write config.json + model.pt."""
    lm.model.eval()
    hs, bpb = held_out
    training: dict[str, Any] = {"config": cfg.to_dict(), "corpus": corpus, "final_loss": loss_value,
                                "held_out_bits_per_byte": bpb,
                                "held_out_sample_bytes": sum(map(len, hs))}  # fmt: skip
    try:
        cal = calibrate_threshold(hs, cfg.target_patch_size, rule="global")
        lm.default_threshold = cal.threshold
        training["calibration"] = {"rule": "global", "target_patch_size": cfg.target_patch_size,
                                   "threshold": cal.threshold, "mean_patch_size": cal.mean_patch_size}  # fmt: skip
        log(f"default threshold {cal.threshold:.4f} nats -> mean patch size {cal.mean_patch_size:.3f} on held-out")
    except ValueError as exc:  # e.g. a held-out sample too small or a model too flat for the target
        training["calibration"] = {"error": str(exc)}
        log(f"warning: no default threshold calibrated ({exc}); pass --threshold when segmenting")
    lm.training = training
    lm.save(out)
    log(f"{out}: entropy model written ({lm.fingerprint}); held-out {bpb:.4f} bits/byte")
    return lm


def _adamw(model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on >= 2-D parameters only (norm gains are not decayed)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8, fused=device.type == "cuda")


def _check_output(out: Path, resume: bool, overwrite: bool) -> None:
    if resume and overwrite:
        raise TrainingError("pass either --resume or --overwrite, not both")
    if out.exists() and not out.is_dir():
        raise TrainingError(f"{out}: exists and is not a directory")
    existing = [name for name in (CHECKPOINT_FILE, "config.json", "model.pt") if (out / name).exists()]
    if resume and not (out / CHECKPOINT_FILE).exists():
        raise TrainingError(f"{out}: no {CHECKPOINT_FILE} to resume from")
    if existing and not (resume or overwrite):
        raise TrainingError(f"{out}: already holds {', '.join(existing)}; pass --resume to continue or --overwrite")
    if overwrite:
        for name in existing:
            (out / name).unlink()


def _check_resumable(path: Path, extra: dict[str, Any], cfg: TrainConfig, corpus: dict[str, int]) -> None:
    saved = extra["config"]
    changed = sorted(k for k, v in cfg.to_dict().items() if k not in RESUMABLE_CHANGES and saved.get(k) != v)
    if changed:
        diffs = ", ".join(f"{k}: {saved.get(k)!r} -> {getattr(cfg, k)!r}" for k in changed)
        raise TrainingError(f"{path}: cannot resume with different settings ({diffs})")
    if extra["corpus"] != corpus:
        raise TrainingError(f"{path}: the inputs differ from the checkpointed run ({extra['corpus']} vs {corpus})")
    if cfg.steps < int(extra["step"]):
        raise TrainingError(f"{path}: checkpoint is at step {extra['step']}, beyond --steps {cfg.steps}")


def _truncate_log(path: Path, step: int) -> None:
    """Drop log events after the checkpointed step (written by the interrupted run, about to be redone)."""
    if not path.exists():
        return
    keep = [line for line in path.read_text(encoding="utf-8").splitlines() if line and json.loads(line)["step"] <= step]
    atomic_write_text(path, "".join(line + "\n" for line in keep))


class _StopOnSigint:
    """First Ctrl-C asks the loop to stop after the current step (and checkpoint); a second one aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> _StopOnSigint:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
