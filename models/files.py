"""Files every model writes: atomic saves and weights-only loads, with errors that name the file.

Used by training checkpoints (`train/state.py`) and by saved entropy models
(`entropy_lm/model.py`); it sits below both so neither imports the other.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import os
import sys
import zlib
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

import torch


def atomic_write(path: str | Path, write: Callable[[IO[Any]], None], binary: bool = True) -> None:
    """Call `write(f)` on a temporary file beside `path`, fsync it, then rename it over `path`.

    Readers see the old file or the complete new one, never a partial write.
    """
    path = Path(path)
    handled = sys.exc_info()[1]  # a caller's own exception: not one raised by this write
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file 0600: give it what open() would, so others on a shared
        # machine can read a checkpoint or model as they can a dataset.
        if hasattr(os, "fchmod"):
            with contextlib.suppress(OSError):  # a filesystem without modes (vfat): keep its own
                os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        stop = _stop_under(exc, handled)
        if stop is not None:  # a stop signal must reach the caller as itself (exit 130, its line)
            raise stop.with_traceback(stop.__traceback__) from None
        raise


def _stop_under(exc: BaseException, handled: BaseException | None) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt (a stop signal) that `exc` was raised while handling, if any,
    short of `handled` (what the caller was handling already).
    torch's zip writer ends its archive on the way out of an exception; cut short, the
    archive then fails with a RuntimeError ("unexpected pos") that hides the signal."""
    seen: set[int] = set()
    cause: BaseException | None = exc.__context__
    while cause is not None and cause is not handled and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        cause = cause.__context__
    return None


def _umask() -> int:
    """The process's umask: from /proc where Linux shows it, else by setting it and setting
    it back (which another thread creating a file at that instant could notice)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


CHECKSUM_KEY = "__bytepatch_checksums__"


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """`torch.save(obj, path)` atomically (see `atomic_write`). A dict gets checksums of
    its content (every tensor's bytes and every plain value) under CHECKSUM_KEY, which
    `safe_torch_load` checks and removes: torch's zip reader does not check CRCs, so a
    flipped byte inside a tensor would otherwise load silently."""
    if isinstance(obj, dict):
        obj = {**obj, CHECKSUM_KEY: content_checksums(obj)}
    atomic_write(path, lambda f: torch.save(obj, f))


def content_checksums(obj: Any, full: bool = True) -> dict[str, str]:
    """CRC-32 (fast, checked on every load) and SHA-256 (`bytepatch verify`) of the
    content of a nested dict/list of tensors and plain values, in iteration order."""
    crc, sha = 0, hashlib.sha256() if full else None
    for piece in _pieces(obj):
        crc = zlib.crc32(piece, crc)
        if sha is not None:
            sha.update(piece)
    return {"crc32": f"{crc:08x}", **({"sha256": sha.hexdigest()} if sha is not None else {})}


def _pieces(obj: Any):
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        yield f"T{t.dtype}{tuple(t.shape)}".encode()
        if t.numel():
            yield t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.dtype != torch.bool else t.numpy().tobytes()
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if k == CHECKSUM_KEY:
                continue
            yield f"K{k!r}".encode()
            yield from _pieces(v)
    elif isinstance(obj, (list, tuple)):
        yield f"L{len(obj)}".encode()
        for v in obj:
            yield from _pieces(v)
    else:
        yield f"V{obj!r}".encode()


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 text atomically (see `atomic_write`)."""
    atomic_write(path, lambda f: f.write(text), binary=False)


def safe_torch_load(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    full: bool = False,
    what: str = "model file",
    unchecked_mmap: bool = False,
) -> Any:
    """`torch.load` restricted to tensors and plain containers, with errors that name the file
    (`what` it should have been: "checkpoint", "model file") in one line.

    The content checksums written by `atomic_torch_save` are checked (CRC-32; SHA-256 too
    with `full`) and removed; files written before checksums existed load unchecked.
    `unchecked_mmap`: the tensors memory-mapped and the checksums not checked, so only the
    parts used are read: for a caller that needs the plain entries of a file read in full
    (and checked) later."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        try:
            obj = torch.load(path, map_location=map_location, weights_only=True, mmap=unchecked_mmap)
        except Exception:
            if not unchecked_mmap:
                raise
            # A filesystem that cannot map files (some FUSE and network mounts): read it
            # whole, checked, as without the option; a damaged file fails the same way.
            unchecked_mmap = False
            obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        # Not torch's message: several lines, and advice (weights_only=False) that would run the file's code.
        raise ValueError(f"{path}: not a readable bytepatch {what} (damaged, or another kind of file)") from exc
    if unchecked_mmap:
        if isinstance(obj, dict):
            obj.pop(CHECKSUM_KEY, None)
        return obj
    damaged = ValueError(f"{path}: checksum mismatch: the file is damaged (its content differs from when it was saved)")
    if isinstance(obj, dict) and CHECKSUM_KEY in obj:
        recorded = obj.pop(CHECKSUM_KEY)
        got = content_checksums(obj, full=full)
        if not isinstance(recorded, dict) or any(recorded.get(k) != v for k, v in got.items()):
            raise damaged
    elif isinstance(obj, dict) and any(_looks_like_checksums(k, v) for k, v in obj.items()):
        raise damaged  # the checksum entry's own name was damaged: not a file from before checksums
    return obj


def _looks_like_checksums(key: Any, value: Any) -> bool:
    similar = isinstance(key, str) and difflib.SequenceMatcher(None, key, CHECKSUM_KEY).ratio() > 0.6
    return similar or (
        isinstance(value, dict)
        and len(value) == 2
        and all(isinstance(v, str) for v in value.values())
        and any(isinstance(k, str) and k.startswith(("crc", "sha")) for k in value)
    )
