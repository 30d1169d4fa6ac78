"""Entropy models that travel by reference: `ModelSource` and `SharedModel`.

A loaded n-gram model is a few hundred MB in memory; pickling it (as multiprocessing,
`datasets.map(num_proc=...)`, Ray, Dask and Spark all do with a patcher) would ship all
of it to every task. A `SharedModel` wraps a loaded model and pickles as its
`ModelSource` only: the packaged name or absolute directory, the kind and the
fingerprint. Unpickled in another process it loads the model on first use, once per
process (`load_source` is memoised), and refuses a model whose fingerprint differs, so
a worker can never patch with other weights than the driver chose.

The trade-off: the model directory must be readable at the same path on every worker
(a shared filesystem, or the packaged default, which every install carries).
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bytepatch.entropy.base import EntropyModel
from bytepatch.entropy.registry import (
    CORE_KINDS,
    DEFAULT_NAMES,
    TRANSFORMERS_KIND,
    load_entropy_model,
    model_kind,
    resolve_model_path,
)

# Kinds that live outside the core (they need torch): module and function that load them,
# imported by name only when such a model is asked for, so the core never imports torch
# otherwise (the import direction cli -> models -> bytepatch holds for every static import).
PLUGIN_LOADERS: dict[str, tuple[str, str]] = {
    "transformer": ("bytepatch.models.entropy_lm", "load"),
    TRANSFORMERS_KIND: ("bytepatch.models.hf", "load_patcher"),  # a transformers BLT's patcher
}
MAX_LOADED = 2  # models kept loaded per process


@dataclass(frozen=True)
class ModelSource:
    """Where an entropy model comes from: small, picklable, comparable."""

    name: str  # a packaged name ("default") or an absolute model directory
    kind: str  # config.json's "kind"
    fingerprint: str  # what the loaded model must report (checked on every load)
    device: str = "cpu"  # where a transformer model runs

    def load(self) -> EntropyModel:
        """The model (loaded at most once per process while it stays cached)."""
        return load_source(self)


@functools.lru_cache(maxsize=MAX_LOADED)
def load_source(source: ModelSource) -> EntropyModel:
    """Load `source` and check its fingerprint (errors are not cached)."""
    model = _load_raw(source.name, source.kind, source.device)
    if model.fingerprint != source.fingerprint:
        raise ValueError(
            f"entropy model {source.name!r}: fingerprint {model.fingerprint[:16]} differs from the expected "
            f"{source.fingerprint[:16]} (the model changed on disk, or another machine has another model there)"
        )
    return model


def _load_raw(name: str, kind: str, device: str) -> EntropyModel:
    if kind in CORE_KINDS:
        return load_entropy_model(name)
    if kind in PLUGIN_LOADERS:
        module_name, function = PLUGIN_LOADERS[kind]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise ValueError(
                f"entropy model {name!r} is a {kind} model, but {module_name} cannot be imported ({exc})"
            ) from exc
        return getattr(module, function)(str(resolve_model_path(name)), device=device)
    known = sorted(CORE_KINDS) + sorted(PLUGIN_LOADERS)
    raise ValueError(f"entropy model {name!r} has kind {kind!r}; known kinds: {known}")


class SharedModel:
    """An entropy model (EntropyModel protocol) that pickles as its `ModelSource`."""

    def __init__(self, source: ModelSource, model: EntropyModel | None = None) -> None:
        self.source = source
        self._model = model

    @property
    def model(self) -> EntropyModel:
        if self._model is None:
            self._model = self.source.load()
        return self._model

    # The protocol's attributes and methods, delegated.
    @property
    def kind(self) -> str:
        return self.source.kind

    @property
    def fingerprint(self) -> str:
        return self.source.fingerprint

    @property
    def default_threshold(self) -> float | None:
        return self.model.default_threshold

    @property
    def context_length(self) -> int:
        return self.model.context_length

    def entropies(self, docs: Sequence[bytes]) -> list[np.ndarray]:
        return self.model.entropies(docs)

    def cross_entropy(self, docs: Sequence[bytes]) -> float:
        return self.model.cross_entropy(docs)

    def __getattr__(self, name: str) -> Any:
        # Anything else a kind offers (e.g. `autocast`, `entropies_and_surprisals`).
        if name.startswith("__") or name in ("source", "_model"):
            raise AttributeError(name)
        return getattr(self.model, name)

    def __getstate__(self) -> dict[str, Any]:
        return {"source": self.source}  # never the weights

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.source = state["source"]
        self._model = None  # loaded on first use in this process

    def __repr__(self) -> str:
        return f"SharedModel({self.source.name!r}, kind={self.kind!r}, fingerprint={self.fingerprint[:12]!r})"


def open_entropy_model(name_or_path: str | Path = "default", device: str = "cpu") -> SharedModel:
    """Load the entropy model named like `--entropy-model` (a packaged name or a model
    directory of any kind) as a `SharedModel`: pickles small, loads once per process."""
    name = str(name_or_path)
    kind = model_kind(name)
    if name not in DEFAULT_NAMES:
        name = str(Path(resolve_model_path(name)).resolve())  # the same directory from any working directory
    if kind in CORE_KINDS:
        device = "cpu"  # n-gram kernels are CPU code
    model = _load_raw(name, kind, device)
    source = ModelSource(name, kind, model.fingerprint, device)
    return SharedModel(source, model)
