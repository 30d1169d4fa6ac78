"""EntropyPatcher: a patch starts where the entropy model is uncertain (BLT's rule).

The patcher itself only applies thresholds to entropies (docs/design.md §3); computing the
entropies is the entropy model's job. Give the patcher a model to patch raw bytes
directly, or pass entropies you computed (or stored) yourself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol, Sequence

import numpy as np

from bytepatch import kernels  # lazy: Numba loads on first use
from bytepatch.patchers.base import (
    BatchLike,
    DocumentLike,
    EntropiesLike,
    PatcherBase,
    PatcherConfig,
    as_ragged,
    as_uint8,
    check_max_patch_length,
    plain_settings,
)
from bytepatch.patchers.functions import check_entropies, check_thresholds, entropy_patch_lengths
from bytepatch.ragged import Ragged

REFERENCE_THRESHOLD = 1.335442066192627  # BLT reference default (nats)


class EntropySource(Protocol):
    """Anything that gives one entropy (nats) per byte of each document."""

    def entropies(self, docs: Sequence[bytes]) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class EntropyPatcherConfig(PatcherConfig):
    threshold: float | None = REFERENCE_THRESHOLD  # global rule: h[t] > threshold
    threshold_add: float | None = None  # relative rule: h[t] - h[t-1] > threshold_add
    max_patch_length: int | None = None  # cap, so low-entropy runs cannot grow without bound

    def __post_init__(self) -> None:
        plain_settings(self)
        check_thresholds(self.threshold, self.threshold_add)
        check_max_patch_length(self.max_patch_length)

    @property
    def rule(self) -> str:
        if self.threshold is not None and self.threshold_add is not None:
            return "both"
        return "global" if self.threshold is not None else "relative"


class EntropyPatcher(PatcherBase):
    name: ClassVar[str] = "entropy"
    needs_entropies: ClassVar[bool] = True
    config_class: ClassVar[type] = EntropyPatcherConfig

    def __init__(self, config: EntropyPatcherConfig | None = None, model: EntropySource | None = None) -> None:
        if config is None and model is not None:
            config = EntropyPatcherConfig(threshold=_model_threshold(model))
        super().__init__(config)
        self.model = model

    @classmethod
    def from_pretrained(cls, name_or_path: str = "default", **options) -> "EntropyPatcher":
        """The entropy patcher `bytepatch segment --entropy-model NAME_OR_PATH` builds
        (the model's own default threshold unless `threshold=` etc. say otherwise);
        options as `bytepatch.load_patcher`."""
        from bytepatch.pretrained import load_patcher

        return load_patcher("entropy", entropy_model=name_or_path, **options)

    def _entropies_of(self, data: bytes | np.ndarray, entropies: np.ndarray | None) -> np.ndarray:
        if entropies is not None:
            return entropies
        if self.model is None:
            raise ValueError("EntropyPatcher needs entropies, or an entropy model to compute them")
        return self.model.entropies([bytes(as_uint8(data).tobytes())])[0]

    def patch_lengths(self, data: DocumentLike, entropies: np.ndarray | None = None) -> np.ndarray:
        h = self._entropies_of(data, entropies)
        n = len(as_uint8(data))
        if len(h) != n:
            raise ValueError(f"got {len(h)} entropies for a document of {n} bytes (need one per byte)")
        c = self._config
        return entropy_patch_lengths(h, c.threshold, c.threshold_add, c.max_patch_length)

    def patch_batch(self, docs: BatchLike, entropies: EntropiesLike | None = None) -> Ragged:
        docs = as_ragged(docs)
        if entropies is None:
            if self.model is None:
                raise ValueError("EntropyPatcher needs entropies, or an entropy model to compute them")
            rows = self.model.entropies([bytes(r.tobytes()) for r in docs])
            entropies = Ragged.from_arrays(rows, dtype=np.float32)
        elif not isinstance(entropies, Ragged):
            entropies = _entropy_rows(entropies)
        if not np.array_equal(entropies.offsets, docs.offsets):
            raise ValueError("entropies must have exactly one value per byte of each document")
        c = self._config
        starts = kernels.entropy_starts(
            check_entropies(entropies.values),
            docs.offsets,
            c.threshold if c.threshold is not None else 0.0,
            c.threshold_add if c.threshold_add is not None else 0.0,
            c.threshold is not None,
            c.threshold_add is not None,
        )
        lengths, offsets = kernels.starts_to_lengths(starts, docs.offsets, c.max_patch_length or 0)
        return Ragged(lengths, offsets)


def _entropy_rows(entropies: Sequence[np.ndarray]) -> Ragged:
    """Per-document entropies (a list of arrays or of lists) as one ragged batch, in the
    values' own float type: `patch_lengths` compares float64 entropies in float64, and so
    must the batch (they were cast to float32 here, so a value just above the threshold
    could fall on it and the batch missed a patch start the document alone had)."""
    rows = [np.asarray(r) for r in entropies]
    for i, r in enumerate(rows):
        if r.ndim != 1:  # flattened, a (2, 2) row was reported as a count mismatch of the whole batch
            raise ValueError(f"entropies of document {i} must be 1-D (one value per byte), got shape {r.shape}")
    dtype = np.result_type(*rows) if rows else np.dtype(np.float32)
    return Ragged.from_arrays(rows, dtype=dtype)


def _model_threshold(model: EntropySource) -> float:
    """A model's own default threshold, as `segment` uses it: the BLT reference value
    belongs to the BLT reference model and would give another model arbitrary patch sizes."""
    threshold = getattr(model, "default_threshold", None)
    if threshold is None:
        raise ValueError(
            "this entropy model has no default threshold; pass EntropyPatcherConfig(threshold=...) "
            "(or use bytepatch.load_patcher(..., target_patch_size=...))"
        )
    return float(threshold)
