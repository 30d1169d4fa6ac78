"""One guarded optimizer step: backward, global-norm clipping, non-finite checks, update.

Shared by every trainer so that all of them stop the same way on divergence: a
non-finite loss or gradient norm raises `TrainingError` naming the step and whether
the last checkpoint is intact, *before* the optimizer could write NaNs into the
weights (so that checkpoint stays good). The trade-off is one host sync per step
(`.item()` on the loss and the norm), which every trainer pays anyway for logging.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from bytepatch.models.errors import TrainingError


def check_finite(what: str, value: float, step: int, checkpoint: Path, hint: str = "Lower --lr") -> None:
    """Raise `TrainingError` if `value` (e.g. the loss of 1-based `step`) is NaN or infinite."""
    if math.isfinite(value):
        return
    where = f"the last checkpoint ({checkpoint}) is intact" if checkpoint.exists() else "no checkpoint was written yet"
    raise TrainingError(f"training diverged: {what} is {value} at step {step}; {where}. {hint}")


def clipped_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    grad_clip: float,
    step: int,
    checkpoint: Path,
    hint: str = "Lower --lr",
) -> float:
    """zero_grad, backward, clip to `grad_clip`, check the norm, optimizer step; returns the pre-clip norm."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip).item()
    check_finite("gradient norm", grad_norm, step, checkpoint, hint)
    optimizer.step()
    return grad_norm
