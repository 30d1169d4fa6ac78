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
would be the next step for larger ones). Model-agnostic: the BLT trainer reuses it.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

import numpy as np
import torch

CHECKPOINT_FORMAT = 1


def atomic_write(path: str | Path, write: Callable[[IO[Any]], None], binary: bool = True) -> None:
    """Call `write(f)` on a temporary file beside `path`, fsync it, then rename it over `path`.

    Readers see the old file or the complete new one, never a partial write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """`torch.save(obj, path)` atomically (see `atomic_write`)."""
    atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 text atomically (see `atomic_write`)."""
    atomic_write(path, lambda f: f.write(text), binary=False)


def safe_torch_load(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """`torch.load` restricted to tensors and plain containers, with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        raise ValueError(f"{path}: not a readable weights-only torch file ({type(exc).__name__}: {exc})") from exc


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


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    extra: dict[str, Any],
) -> None:
    """Atomically write model + optimizer + current RNG states + `extra` (plain data) to `path`."""
    atomic_torch_save(
        {
            "format": CHECKPOINT_FORMAT,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "rng": rng_state(),
            "extra": extra,
        },
        path,
    )


def load_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Load a checkpoint into `model` (and `optimizer`), restore RNGs, and return its `extra` dict."""
    ckpt = safe_torch_load(path)
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
