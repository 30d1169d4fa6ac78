"""`EntropyModelRef`: which entropy model patched a dataset, as recorded in its metadata.

Segment writes it into every shard and the manifest (`"entropy_model": {name, kind,
fingerprint, precision}`); training copies it into checkpoints; generate and eval
read it back to load the same model and patch text exactly like the training data.
The fingerprint is what identifies the model (equal fingerprints, equal entropies);
the name is only where to look for it.

The loaded model itself travels another way: inside its patcher, as a `SharedModel`
(`bytepatch.entropy.source`), which pickles as a reference so worker processes load
their own copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    def of(cls, model: EntropyModel, name: str | None = None) -> EntropyModelRef:
        """The record of a loaded model: bf16 when it runs under autocast (as transformers on
        CUDA do); named `name`, else by its `SharedModel` source, else by its type."""
        precision = "bf16" if getattr(model, "autocast", None) is not None else "fp32"
        source = getattr(model, "source", None)
        path = getattr(source, "name", None)
        return cls(name or path or type(model).__name__, model.kind, model.fingerprint, precision, path)

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
