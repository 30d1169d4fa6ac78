"""Training checkpoints: one file holding model, optimizer, RNG states and trainer extras.

What a checkpoint is: a `torch.save` of a plain dict

    {"format": 1, "model": state_dict, "optimizer": state_dict,
     "rng": {"python": ..., "numpy": ..., "torch": ByteTensor, "cuda": [ByteTensor, ...]},
     "extra": {...JSON-like: step, data position, config...}}

written atomically (temporary file in the same directory, fsync, `os.replace`), so
a crash mid-write leaves the previous checkpoint intact, never a truncated one. It
is read back with `torch.load(..., weights_only=True)`: only tensors and plain
Python containers/scalars, never arbitrary pickled objects. That is why RNG states
are converted to plain lists and ints here rather than pickled as numpy objects.

Trade-off: a single file is simple to move and to replace atomically, but is
rewritten whole each time (fine for models up to a few GB; sharded checkpoints
would be the next step for larger ones). Model-agnostic: both trainers use it; `checkpoint.load_checkpoint` reads it for inference.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bytepatch.models.files import atomic_torch_save, atomic_write, atomic_write_text, safe_torch_load

__all__ = [
    "CHECKPOINT_FORMAT",
    "atomic_torch_save",
    "atomic_write",
    "atomic_write_text",
    "restore_state",
    "rng_state",
    "safe_torch_load",
    "save_state",
    "set_rng_state",
    "write_state",
]

CHECKPOINT_FORMAT = 1


def rng_state() -> dict[str, Any]:
    """Every global RNG state a training step may consume, as weights-only-loadable values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": _to_lists(random.getstate()),
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore states saved by `rng_state` (CUDA states only where CUDA is present)."""
    random.setstate(_to_tuples(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_state(
    path: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    extra: dict[str, Any],
) -> None:
    """Atomically write model + optimizer + current RNG states + `extra` (plain data) to `path`."""
    write_state(path, model.state_dict(), optimizer.state_dict() if optimizer is not None else None, extra)


def write_state(
    path: str | Path, model_state: dict[str, Any], optimizer_state: dict[str, Any] | None, extra: dict[str, Any]
) -> None:
    """`save_state` from state dicts already gathered (e.g. unsharded from FSDP ranks)."""
    atomic_torch_save(
        {
            "format": CHECKPOINT_FORMAT,
            "model": model_state,
            "optimizer": optimizer_state,
            "rng": rng_state(),
            "extra": extra,
        },
        path,
    )


def restore_state(
    path: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Load a checkpoint into `model` (and `optimizer`), restore RNGs, and return its `extra` dict."""
    ckpt = safe_torch_load(path, what="checkpoint")
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a bytepatch checkpoint (format {CHECKPOINT_FORMAT})")
    model.load_state_dict(ckpt["model"])
    if optimizer is not None:
        if ckpt["optimizer"] is None:
            raise ValueError(f"{path}: checkpoint has no optimizer state to resume from")
        optimizer.load_state_dict(ckpt["optimizer"])
    if restore_rng:
        set_rng_state(ckpt["rng"])
    return ckpt["extra"]


def _to_lists(x: Any) -> Any:
    return [_to_lists(v) for v in x] if isinstance(x, (tuple, list)) else x


def _to_tuples(x: Any) -> Any:
    return tuple(_to_tuples(v) for v in x) if isinstance(x, list) else x
