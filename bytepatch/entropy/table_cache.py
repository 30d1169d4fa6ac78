"""On-disk cache of an n-gram model's derived tables, memory-mapped on load.

Building the float tables the entropy kernel reads (probability stream, context index,
dense rows: ~150 MB for the shipped model) from the stored integer counts takes most
of a second, and every process that loads the model paid it again. The tables are a
pure function of the model directory's bytes, so the first load writes them as `.npy`
files under a key that is the sha256 of those bytes (plus the table layout version),
and later loads memory-map them: near-instant, and every process (or thread) that maps
them shares one copy in the page cache instead of holding its own.

Where: `$BYTEPATCH_CACHE_DIR`, else `$XDG_CACHE_HOME/bytepatch`, else
`~/.cache/bytepatch`. The cache is only an accelerator: an unwritable directory, a
missing or damaged entry or a key mismatch just means the tables are built in memory.
Entries are written to a temporary directory and renamed into place, so a reader never
sees a half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

LAYOUT_VERSION = 3  # bump whenever the derived tables change shape or meaning
META_FILE = "meta.json"


def cache_root() -> Path:
    """The directory holding cache entries (see the module docstring)."""
    explicit = os.environ.get("BYTEPATCH_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bytepatch"


def content_key(files: list[Path], extra: dict) -> str:
    """sha256 of the files' bytes, their names, `extra` and the layout version."""
    digest = hashlib.sha256(json.dumps({"layout": LAYOUT_VERSION, **extra}, sort_keys=True).encode())
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def load_tables(key: str, names: list[str]) -> tuple[dict[str, np.ndarray], dict] | None:
    """(tables memory-mapped read-only, the entry's metadata), or None on any miss."""
    entry = cache_root() / "ngram-tables" / key
    try:
        meta = json.loads((entry / META_FILE).read_text())
        tables = {name: np.load(entry / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in names}
    except (OSError, ValueError):
        return None
    shapes = meta.get("shapes", {})
    for name, array in tables.items():  # a truncated or swapped file must never reach a kernel
        if list(array.shape) != shapes.get(name) or array.dtype.str != meta.get("dtypes", {}).get(name):
            return None
    return tables, meta


def store_tables(key: str, tables: dict[str, np.ndarray], meta: dict) -> None:
    """Write an entry atomically; failures are ignored (the cache is optional)."""
    root = cache_root() / "ngram-tables"
    entry = root / key
    if entry.exists():
        return
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key[:16]}-", dir=root))
    except OSError:
        return
    try:
        for name, array in tables.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        full = {
            **meta,
            "shapes": {n: list(a.shape) for n, a in tables.items()},
            "dtypes": {n: a.dtype.str for n, a in tables.items()},
        }
        (tmp / META_FILE).write_text(json.dumps(full, sort_keys=True))
        os.rename(tmp, entry)  # atomic; fails harmlessly if another process won the race
    except OSError:
        pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
