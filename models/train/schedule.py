"""Learning-rate schedule: linear warmup, then cosine decay to a floor.

A pure function of the step rather than a `torch.optim.lr_scheduler` object: the
trainer sets `group["lr"] = lr_at(step)` before each optimizer step, so there is no
scheduler state to checkpoint and a resumed run cannot drift from an uninterrupted
one. The trade-off is that changing the schedule mid-run means changing the config,
which is deliberate.

    sched = WarmupCosine(max_lr=1e-3, warmup_steps=100, total_steps=2000)
    for step in range(total):
        set_lr(optimizer, sched(step))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class WarmupCosine:
    max_lr: float  # peak learning rate, reached at the end of warmup
    warmup_steps: int  # linear ramp from max_lr / warmup_steps (never 0: step 0 must learn) to max_lr
    total_steps: int  # cosine reaches min_lr here and stays there
    min_lr_ratio: float = 0.1  # floor as a fraction of max_lr (Chinchilla-style 10x decay)

    def __post_init__(self) -> None:
        if not self.max_lr > 0:
            raise ValueError(f"max_lr must be > 0, got {self.max_lr}")
        if self.warmup_steps < 0 or self.total_steps < 1:
            raise ValueError(
                f"need warmup_steps >= 0 and total_steps >= 1, got {self.warmup_steps}, {self.total_steps}"
            )
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")

    def __call__(self, step: int) -> float:
        """Learning rate for 0-based optimizer step `step`."""
        if step < self.warmup_steps:
            return self.max_lr * (step + 1) / self.warmup_steps
        min_lr = self.max_lr * self.min_lr_ratio
        decay_steps = max(self.total_steps - self.warmup_steps, 1)
        progress = min((step - self.warmup_steps) / decay_steps, 1.0)
        return min_lr + 0.5 * (self.max_lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr
