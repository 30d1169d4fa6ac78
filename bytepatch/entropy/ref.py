"""`EntropyModelRef`: which entropy model patched a dataset, as recorded in its metadata.

Segment writes it into every shard and the manifest (`"entropy_model": {name, kind,
fingerprint, precision}`); training copies it into checkpoints; generate and eval
read it back to load the same model and patch text exactly like the training data.
The fingerprint is what identifies the model (equal fingerprints, equal entropies);
the name is only where to look for it.

`EntropyModelSource` adds what a pipeline needs at run time: how to load the model in a
worker process, and the instance already loaded in this one (never pickled).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

from bytepatch.entropy.base import EntropyModel
from bytepatch.errors import ConfigError
from bytepatch.strict import from_dict

PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class EntropyModelRef:
    name: str  # what the user passed (--entropy-model): "default" or a directory
    kind: str  # the model's kind ("ngram", "transformer")
    fingerprint: str  # hash of config + weights: equal fingerprints <=> equal entropies
    # Recorded because bf16 entropies near the threshold can patch differently from fp32 ones;
    # datasets written before precision was recorded were all fp32.
    precision: str = "fp32"
    # Where this process loaded the model from. Never written to files: a dataset must not
    # depend on where a model happened to sit (jobs on other machines must agree on metadata).
    path: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name in ("name", "kind", "fingerprint"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ConfigError(f"entropy model {name} must be a non-empty string, got {getattr(self, name)!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"entropy model precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    @classmethod
    def of(cls, model: EntropyModel, name: str, path: str | None = None) -> EntropyModelRef:
        """The record of a loaded model (bf16 when it runs under autocast, as transformers on CUDA do)."""
        precision = "bf16" if getattr(model, "autocast", None) is not None else "fp32"
        return cls(name, model.kind, model.fingerprint, precision, path)

    @classmethod
    def from_dict(cls, data: Any) -> EntropyModelRef:
        """Read the JSON record (`precision` may be absent: older datasets, fp32)."""
        if isinstance(data, dict) and "path" in data:  # in-memory only: a file never holds it
            raise ConfigError("unknown entropy model record keys: path (known: name, kind, fingerprint, precision)")
        return from_dict(cls, data, "entropy model record")

    @classmethod
    def from_json(cls, data: Any) -> EntropyModelRef | None:
        """`from_dict`, or None for the JSON null that model-free patchers record."""
        return None if data is None else cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """The JSON record (the field names datasets have always used; no path)."""
        return {"name": self.name, "kind": self.kind, "fingerprint": self.fingerprint, "precision": self.precision}


@dataclass(frozen=True)
class EntropyModelSource:
    """An entropy model for a pipeline run: its record, a picklable loader for worker
    processes, and the instance already loaded here (dropped when pickled)."""

    ref: EntropyModelRef
    loader: Callable[[], EntropyModel]
    loaded: EntropyModel | None = field(default=None, compare=False, repr=False)

    def model(self) -> EntropyModel:
        """The loaded instance, loading it first if this process has none."""
        return self.loaded if self.loaded is not None else self.loader()

    def unloaded(self) -> EntropyModelSource:
        """The same source without the loaded instance (so it can be freed)."""
        return replace(self, loaded=None)

    def __getstate__(self) -> dict[str, Any]:
        # A worker loads its own copy: shipping a few hundred MB of weights per process
        # through a pipe would cost more than loading them.
        return {"ref": self.ref, "loader": self.loader, "loaded": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)
