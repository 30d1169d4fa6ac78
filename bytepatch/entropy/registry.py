"""Resolve an entropy-model name or directory to a loaded model (core kinds only).

Core kinds are those that need no torch: today only "ngram". A directory whose config
says another kind (e.g. "transformer") is refused with a ValueError naming the path and
the kind; the CLI catches that case and dispatches to `bytepatch.models` itself, which
keeps the import direction `cli -> models -> bytepatch` (DESIGN §8).
"""

from __future__ import annotations

from pathlib import Path

from bytepatch.entropy.base import EntropyModel, read_model_config
from bytepatch.entropy.ngram import NgramModel

# The model shipped inside the package (trained by scripts/train_default_entropy_model.py).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "entropy" / "default"
DEFAULT_NAMES = ("default", "ngram-default")
CORE_KINDS: dict[str, type] = {"ngram": NgramModel}

_cache: dict[Path, EntropyModel] = {}


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


def model_kind(name_or_path: str | Path) -> str:
    """The `kind` recorded in the model directory's config.json."""
    return read_model_config(resolve_model_path(name_or_path))["kind"]


def load_entropy_model(name_or_path: str | Path = "default") -> EntropyModel:
    """Load a core-kind entropy model; the shipped default is loaded once and cached."""
    path = resolve_model_path(name_or_path)
    kind = read_model_config(path)["kind"]
    cls = CORE_KINDS.get(kind)
    if cls is None:
        raise ValueError(
            f"entropy model {str(path)!r} has kind {kind!r}, which the core library cannot load "
            f"(core kinds: {sorted(CORE_KINDS)}; 'transformer' models load through bytepatch.models)"
        )
    if path == DEFAULT_MODEL_DIR:
        if path not in _cache:
            _cache[path] = cls.load(path)
        return _cache[path]
    return cls.load(path)
