"""Losses, held-out bits per byte and FLOP accounting shared by the trainer, `bytepatch eval` and the bench.

Bits per byte counts only targets that are document bytes (ids >= 4): the model's
total surprise over the bytes of the held-out documents, divided by their number.
EOS targets are trained on (a model must learn where documents end) but left out
of bits per byte, so the figure is comparable across models and patchers and with
the entropy LM's. Positions stay in the packed rows (a row cut mid-document sees
less context), which costs a little for every model alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F

from bytepatch.ids import OFFSET
from bytepatch.models.data.packing import IGNORE_INDEX
from bytepatch.models.blt.flops import blt_flops_per_byte, transformer_flops_per_byte
from bytepatch.models.train.config import RunConfig

LN2 = math.log(2.0)


def batch_nll(
    model_type: str, model: torch.nn.Module, batch: dict[str, Any]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean loss over all non-ignored targets, summed nats over byte targets, number of byte targets)."""
    ids, targets = batch["ids"], batch["targets"]
    if model_type == "blt":
        logits, _ = model(ids, batch["patch_lengths"])  # (B, T, V)
    else:
        # Dataset rows are packed unmasked, like BLT's (see models.data.packing); the entropy LM's
        # document stream carries doc_ids, which keep attention inside each document.
        logits, _ = model(ids, doc_ids=batch.get("doc_ids"))
    nll = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE_INDEX, reduction="none")
    valid = targets.flatten() != IGNORE_INDEX
    is_byte = targets.flatten() >= OFFSET
    loss = nll.sum() / valid.sum().clamp(min=1)
    return loss, (nll * is_byte).sum(), is_byte.sum()


def forward_flops_per_byte(run: RunConfig, mean_patch_size: float) -> float:
    """Inference (forward) FLOPs per byte at the run's context length (paper accounting, models.flops)."""
    if run.model_type == "blt":
        return blt_flops_per_byte(run.model, max(mean_patch_size, 1.0), run.train.seq_len)["total"]
    return transformer_flops_per_byte(run.model, run.train.seq_len)["total"]


def mean_patch_size(patch_lengths: torch.Tensor) -> float:
    """Ids per real (non-zero) patch of a batch; BOS/EOS patches and row-boundary cuts included."""
    return float(patch_lengths.sum()) / max(int((patch_lengths > 0).sum()), 1)


@torch.no_grad()
def bits_per_byte(
    model_type: str,
    model: torch.nn.Module,
    batches: Iterable[dict[str, Any]],
    device: torch.device,
    amp: torch.dtype | None = None,
    max_batches: int | None = None,
) -> tuple[float, int, int]:
    """(summed bits over byte targets, byte targets, rows) over `batches`; the model is put in eval mode."""
    was_training = model.training
    model.eval()
    bits, n_bytes, rows = 0.0, 0, 0
    for i, batch in enumerate(batches):
        if max_batches is not None and i >= max_batches:
            break
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            _, nats, n = batch_nll(model_type, model, batch)
        bits += float(nats) / LN2
        n_bytes += int(n)
        rows += int(batch["ids"].shape[0])
    model.train(was_training)
    return bits, n_bytes, rows
