"""Patchers: one protocol, three rules (entropy, space, stride), one set of kernels."""

from __future__ import annotations

from typing import Any

from bytepatch.patchers.base import Patcher, PatcherConfig
from bytepatch.patchers.entropy import REFERENCE_THRESHOLD, EntropyPatcher, EntropyPatcherConfig, EntropySource
from bytepatch.patchers.incremental import IncrementalPatcher, PatchState
from bytepatch.patchers.functions import entropy_patch_lengths, space_patch_lengths, stride_patch_lengths
from bytepatch.patchers.space import SpacePatcher, SpacePatcherConfig
from bytepatch.patchers.spec import PATCHERS, PatcherSpec
from bytepatch.patchers.stride import StridePatcher, StridePatcherConfig


def patcher_from_dict(data: dict[str, Any] | PatcherSpec, model: EntropySource | None = None) -> Patcher:
    """Rebuild a patcher from `Patcher.to_dict()` output (e.g. a dataset's metadata) or a `PatcherSpec`."""
    spec = data if isinstance(data, PatcherSpec) else PatcherSpec.from_dict(data)
    return spec.build(model)


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
    "PatcherSpec",
    "SpacePatcher",
    "SpacePatcherConfig",
    "StridePatcher",
    "StridePatcherConfig",
    "entropy_patch_lengths",
    "patcher_from_dict",
    "space_patch_lengths",
    "stride_patch_lengths",
]
