"""Files every model writes: atomic saves and weights-only loads, with errors that name the file.

Used by training checkpoints (`train/state.py`) and by saved entropy models
(`entropy_lm/model.py`); it sits below both so neither imports the other.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

import torch


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
