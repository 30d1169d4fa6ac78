"""Model-agnostic training utilities shared by the entropy-LM and BLT trainers.

`checkpoint`: atomic, weights-only-loadable checkpoints of model, optimizer, RNG
states and trainer extras. `schedule`: warmup + cosine learning rate as a pure
function of the step (nothing to checkpoint). `step`: one optimizer step with
clipping and the non-finite checks that stop a diverging run.
"""

from bytepatch.models.training.checkpoint import (
    atomic_torch_save,
    atomic_write,
    atomic_write_text,
    load_checkpoint,
    safe_torch_load,
    save_checkpoint,
)
from bytepatch.models.training.schedule import WarmupCosine, set_lr
from bytepatch.models.training.step import TrainingError, check_finite, clipped_step

__all__ = [
    "TrainingError",
    "WarmupCosine",
    "atomic_torch_save",
    "atomic_write",
    "atomic_write_text",
    "check_finite",
    "clipped_step",
    "load_checkpoint",
    "safe_torch_load",
    "save_checkpoint",
    "set_lr",
]
