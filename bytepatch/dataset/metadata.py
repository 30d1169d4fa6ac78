"""`DatasetMetadata`: how a dataset was made, as every shard's schema and the manifest record it.

In code it is typed (the `PatcherSpec`, the `EntropyModelRef`); on disk it is the JSON
object under the schema metadata key `bytepatch` and the manifest's `metadata`, with
the field names datasets have always used:

    {"bytepatch_version": "0.1.0", "format_version": 1,
     "patcher": {"patcher": "entropy", "threshold": 1.33, ...},
     "entropy_model": {"name": "default", "kind": "ngram", "fingerprint": "...", "precision": "fp32"} | null,
     "columns": ["id", "bytes", "patch_lengths", "entropies"],
     "calibration": {...}}            # only when segment calibrated the threshold

Reading is strict (`from_dict` refuses unknown keys): a dataset written by a newer
bytepatch with a setting this version does not know is refused, not misread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bytepatch._version import __version__
from bytepatch.dataset.schema import FORMAT_VERSION
from bytepatch.entropy.ref import EntropyModelRef
from bytepatch.errors import ConfigError
from bytepatch.patchers.base import Patcher
from bytepatch.patchers.spec import PatcherSpec
from bytepatch.strict import check_keys

REQUIRED_COLUMNS = ("id", "bytes", "patch_lengths")


@dataclass(frozen=True)
class DataSignature:
    """What a model trained on a dataset depends on: the patcher and all its settings, and
    the entropy model's fingerprint (None for patchers without one). A run config's
    optional `data` section pins it; a dataset patched otherwise is refused."""

    patcher: PatcherSpec
    entropy_model_fingerprint: str | None = None

    def __post_init__(self) -> None:
        fingerprint = self.entropy_model_fingerprint
        if fingerprint is not None and not isinstance(fingerprint, str):
            raise ConfigError(f"entropy_model_fingerprint must be a string or null, got {fingerprint!r}")

    @classmethod
    def from_dict(cls, data: Any, what: str = "data signature") -> DataSignature:
        """Read `{"patcher": {...}, "entropy_model_fingerprint": "..." | null}`; `what` names it in errors."""
        check_keys(data, ("patcher", "entropy_model_fingerprint"), what, required=("patcher",))
        try:
            patcher = PatcherSpec.from_dict(data["patcher"])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{what}.patcher: {exc}") from exc
        try:
            return cls(patcher, data.get("entropy_model_fingerprint"))
        except ConfigError as exc:
            raise ConfigError(f"{what}.{exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """Every patcher setting spelled out, defaults included, as a dataset's metadata records them."""
        return {"patcher": self.patcher.to_dict(), "entropy_model_fingerprint": self.entropy_model_fingerprint}


@dataclass(frozen=True)
class DatasetMetadata:
    bytepatch_version: str  # the version that wrote the dataset
    format_version: int  # the dataset format (readers refuse newer ones)
    patcher: PatcherSpec  # the patcher and all its settings
    entropy_model: EntropyModelRef | None  # the model that gave the entropies; None for model-free patchers
    columns: tuple[str, ...] = REQUIRED_COLUMNS  # the shard columns, in order
    calibration: dict[str, Any] | None = field(default=None, hash=False)  # how --target-patch-size chose the threshold

    @classmethod
    def of(
        cls,
        patcher: Patcher,
        save_entropies: bool = False,
        calibration: dict[str, Any] | None = None,
        entropy_model: EntropyModelRef | None = None,
    ) -> DatasetMetadata:
        """The metadata of rows made by `patcher` with this bytepatch (as `segment` records it).

        `entropy_model` defaults to the record of the patcher's own model (entropy patcher).
        """
        model = getattr(patcher, "model", None) if patcher.needs_entropies else None
        if entropy_model is None and model is not None:
            entropy_model = EntropyModelRef.of(model)
        columns = REQUIRED_COLUMNS + (("entropies",) if save_entropies else ())
        return cls(__version__, FORMAT_VERSION, PatcherSpec.of(patcher), entropy_model, columns, calibration)

    @classmethod
    def from_dict(cls, data: Any) -> DatasetMetadata:
        """Read the JSON object (from a shard's schema or the manifest)."""
        names = ("bytepatch_version", "format_version", "patcher", "entropy_model", "columns", "calibration")
        check_keys(data, names, "dataset metadata", required=names[:5])
        return cls(
            data["bytepatch_version"],
            data["format_version"],
            PatcherSpec.from_dict(data["patcher"]),
            EntropyModelRef.from_json(data["entropy_model"]),
            tuple(data["columns"]) if isinstance(data["columns"], list) else data["columns"],
            data.get("calibration"),
        )

    def __post_init__(self) -> None:
        if not isinstance(self.bytepatch_version, str):
            raise ConfigError(f"dataset metadata bytepatch_version must be a string, got {self.bytepatch_version!r}")
        if not isinstance(self.format_version, int) or isinstance(self.format_version, bool):
            raise ConfigError(f"dataset metadata format_version must be an integer, got {self.format_version!r}")
        if self.columns not in (REQUIRED_COLUMNS, REQUIRED_COLUMNS + ("entropies",)):
            raise ConfigError(
                f"dataset metadata columns must be {list(REQUIRED_COLUMNS)}, optionally with 'entropies' last; "
                f"got {list(self.columns) if isinstance(self.columns, tuple) else self.columns!r}"
            )
        if self.calibration is not None and not isinstance(self.calibration, dict):
            raise ConfigError(f"dataset metadata calibration must be an object, got {self.calibration!r}")

    def signature(self) -> DataSignature:
        """What a model trained on this dataset depends on."""
        fingerprint = self.entropy_model.fingerprint if self.entropy_model is not None else None
        return DataSignature(self.patcher, fingerprint)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (calibration only when there is one, as always)."""
        out = {
            "bytepatch_version": self.bytepatch_version,
            "format_version": self.format_version,
            "patcher": self.patcher.to_dict(),
            "entropy_model": None if self.entropy_model is None else self.entropy_model.to_dict(),
            "columns": list(self.columns),
        }
        if self.calibration is not None:
            out["calibration"] = dict(self.calibration)
        return out
