"""Training BLT and the byte baseline on bytepatch datasets (what `bytepatch train` / `eval` run).

    from bytepatch.models.train import RunConfig, TrainConfig, train, load_checkpoint
    run = RunConfig("blt", PRESETS["tiny"], TrainConfig(steps=100, batch_size=8, seq_len=256))
    train(run, ["data/train"], "runs/tiny")
    model, config, metadata = load_checkpoint("runs/tiny")

`config` (run and trainer settings, overrides), `trainer` (the one loop: set-up,
step, log, evaluate, checkpoint), `data` (segmented datasets or raw documents),
`parallel` (DDP, FSDP2, activation checkpointing, compile), `resume` (output and
resume checks), `interrupt` (Ctrl-C),
`checkpoint` (format and loading for inference), `metrics` (loss, bits per byte,
FLOPs), and the model-agnostic pieces every trainer uses: `state` (atomic
weights-only saves of model, optimizer and RNG states), `schedule` (warmup +
cosine learning rate), `step` (clipped optimizer step, non-finite stop).
"""

from bytepatch.models.train.checkpoint import CHECKPOINT_FILE, CONFIG_FILE, LOG_FILE, build_model, load_checkpoint
from bytepatch.models.train.config import (
    MODEL_TYPES,
    RunConfig,
    TrainConfig,
    apply_overrides,
    load_run_config,
    preset_config,
)
from bytepatch.models.train.metrics import batch_nll, bits_per_byte, forward_flops_per_byte
from bytepatch.models.train.interrupt import TrainingAborted, TrainingInterrupted
from bytepatch.models.train.trainer import TrainingError, fit, open_documents, train

__all__ = [
    "CHECKPOINT_FILE",
    "CONFIG_FILE",
    "LOG_FILE",
    "MODEL_TYPES",
    "RunConfig",
    "TrainConfig",
    "TrainingError",
    "TrainingAborted",
    "TrainingInterrupted",
    "apply_overrides",
    "batch_nll",
    "bits_per_byte",
    "build_model",
    "fit",
    "forward_flops_per_byte",
    "load_checkpoint",
    "load_run_config",
    "open_documents",
    "preset_config",
    "train",
]
