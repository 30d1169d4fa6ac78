"""Patchers: one protocol, three rules (entropy, space, stride), one set of kernels."""

from __future__ import annotations

from typing import Any

from bytepatch.patchers.base import Patcher, PatcherConfig
from bytepatch.patchers.entropy import REFERENCE_THRESHOLD, EntropyPatcher, EntropyPatcherConfig, EntropySource
from bytepatch.patchers.incremental import IncrementalPatcher, PatchState
from bytepatch.patchers.functions import entropy_patch_lengths, space_patch_lengths, stride_patch_lengths
from bytepatch.patchers.space import SpacePatcher, SpacePatcherConfig
from bytepatch.patchers.stride import StridePatcher, StridePatcherConfig

PATCHERS: dict[str, tuple[type, type]] = {
    "entropy": (EntropyPatcher, EntropyPatcherConfig),
    "space": (SpacePatcher, SpacePatcherConfig),
    "stride": (StridePatcher, StridePatcherConfig),
}


def patcher_from_dict(data: dict[str, Any], model: EntropySource | None = None) -> Patcher:
    """Rebuild a patcher from `Patcher.to_dict()` output (e.g. a dataset's metadata)."""
    data = dict(data)
    name = data.pop("patcher", None)
    if name not in PATCHERS:
        raise ValueError(f"unknown patcher {name!r}; known: {sorted(PATCHERS)}")
    cls, config_cls = PATCHERS[name]
    config = config_cls.from_dict(data)
    return cls(config, model=model) if cls is EntropyPatcher else cls(config)


__all__ = [
    "PATCHERS",
    "REFERENCE_THRESHOLD",
    "EntropyPatcher",
    "EntropyPatcherConfig",
    "EntropySource",
    "IncrementalPatcher",
    "Patcher",
    "PatchState",
    "PatcherConfig",
    "SpacePatcher",
    "SpacePatcherConfig",
    "StridePatcher",
    "StridePatcherConfig",
    "entropy_patch_lengths",
    "patcher_from_dict",
    "space_patch_lengths",
    "stride_patch_lengths",
]
