"""Resolve an entropy-model name or directory to a loaded model (core kinds only).

Core kinds are those that need no torch: today only "ngram". A directory whose config
says another kind (e.g. "transformer") is refused with a ValueError naming the path and
the kind; the CLI catches that case and dispatches to `bytepatch.models` itself, which
keeps the import direction `cli -> models -> bytepatch` (docs/design.md §8).

Loaded models are memoised by `_load_cached`, an explicit `functools.lru_cache` of
`MAX_CACHED` entries on a pure loader keyed by the resolved directory, its kind and
the (name, mtime, size) of its files. Why: one process often resolves the same model
several times (the CLI's model info and segment factory, `inspect`, test suites) and a
load costs a fraction of a second and a few hundred MB; why keyed so: a directory
rewritten in place (a new fit-entropy into the same --output) has new mtimes and is
read again, never served stale. The bound keeps memory bounded; `clear_model_cache()`
empties it. Callers share the returned model and must treat it as read-only.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from bytepatch.entropy.base import CONFIG_FILE, TRANSFORMERS_MODEL_TYPES, EntropyModel, read_model_config
from bytepatch.entropy.ngram import NgramModel

# The model shipped inside the package (trained by scripts/train_default_entropy_model.py).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "entropy" / "default"
DEFAULT_NAMES = ("default", "ngram-default")
CORE_KINDS: dict[str, type] = {"ngram": NgramModel}
MAX_CACHED = 2  # the default model plus one other: each is a few hundred MB


def resolve_model_path(name_or_path: str | Path) -> Path:
    """The directory a name stands for: the shipped default, or the path itself."""
    if str(name_or_path) in DEFAULT_NAMES:
        return DEFAULT_MODEL_DIR
    path = Path(name_or_path)
    if not path.exists():
        raise FileNotFoundError(
            f"entropy model {str(name_or_path)!r}: no such directory (names: {', '.join(DEFAULT_NAMES)})"
        )
    return path


# A `transformers` BLT directory (or a BltPatcher saved alone): its patcher is the entropy model.
# Its config.json has a "model_type" instead of a "kind"; bytepatch.models.hf loads it.
TRANSFORMERS_KIND = "transformers-blt"


def model_kind(name_or_path: str | Path) -> str:
    """The `kind` recorded in the model directory's config.json (TRANSFORMERS_KIND for a transformers BLT)."""
    path = resolve_model_path(name_or_path)
    try:
        raw = json.loads((Path(path) / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raw = None  # read_model_config below says what is wrong
    hf = isinstance(raw, dict) and "kind" not in raw and "model" not in raw  # "model": a bytepatch run config
    if hf and raw.get("model_type") in TRANSFORMERS_MODEL_TYPES:
        return TRANSFORMERS_KIND
    return read_model_config(path)["kind"]


def load_entropy_model(name_or_path: str | Path = "default") -> EntropyModel:
    """Load a core-kind entropy model (memoised while its files are unchanged, see above)."""
    path = resolve_model_path(name_or_path)
    kind = read_model_config(path)["kind"]
    if kind not in CORE_KINDS:
        raise ValueError(
            f"entropy model {str(path)!r} has kind {kind!r}, which the core library cannot load "
            f"(core kinds: {sorted(CORE_KINDS)}; 'transformer' models load through bytepatch.models)"
        )
    resolved = path.resolve()
    return _load_cached(str(resolved), kind, _file_stamps(resolved))


def _file_stamps(path: Path) -> tuple[tuple[str, int, int], ...]:
    """(name, mtime_ns, size) of every file in the model directory: the cache's freshness key."""
    stats = ((p.name, p.stat()) for p in sorted(path.iterdir()) if p.is_file())
    return tuple((name, st.st_mtime_ns, st.st_size) for name, st in stats)


@functools.lru_cache(maxsize=MAX_CACHED)
def _load_cached(path: str, kind: str, stamps: tuple[tuple[str, int, int], ...]) -> EntropyModel:
    """Pure: the model in `path`; `stamps` only keys the cache (errors are never cached)."""
    model = CORE_KINDS[kind].load(path)
    # Remembered so that the model pickles as (directory, fingerprint), not as its weights
    # (`NgramModel.__reduce_ex__`): a patcher holding it ships cheaply to worker processes.
    model.loaded_from = path
    return model


def clear_model_cache() -> None:
    """Forget every memoised model (the next load reads the directory again)."""
    _load_cached.cache_clear()
