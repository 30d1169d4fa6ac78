"""bytepatch: tokenizer-free byte patching, BLT style.

The core library (this package) never imports torch: patchers, kernels, readers and
datasets work with NumPy, Numba and pyarrow alone. Models live in `bytepatch.models`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from bytepatch._version import __version__

# Public names -> the module that defines them, imported on first use: `import bytepatch`
# (and so the `bytepatch` command, before it has picked a command) loads neither NumPy
# nor pyarrow, and the kernels alone never load pyarrow.
_EXPORTS = {
    **dict.fromkeys(
        [
            "EntropyPatcher",
            "EntropyPatcherConfig",
            "IncrementalPatcher",
            "Patcher",
            "PatcherSpec",
            "SpacePatcher",
            "SpacePatcherConfig",
            "StridePatcher",
            "StridePatcherConfig",
            "entropy_patch_lengths",
            "patcher_from_dict",
            "space_patch_lengths",
            "stride_patch_lengths",
        ],
        "bytepatch.patchers",
    ),
    "Ragged": "bytepatch.ragged",
    "open_dataset": "bytepatch.dataset",
    "Dataset": "bytepatch.dataset",
    "load_patcher": "bytepatch.pretrained",
    "build_patcher": "bytepatch.pretrained",
    "patch_table": "bytepatch.table",
    "patcher_metadata": "bytepatch.table",
    "DatasetMetadata": "bytepatch.dataset.metadata",
    "DataSignature": "bytepatch.dataset.metadata",
    "EntropyModelRef": "bytepatch.entropy.ref",
    "open_entropy_model": "bytepatch.entropy.source",
    "SharedModel": "bytepatch.entropy.source",
}

if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from bytepatch.dataset import Dataset, open_dataset
    from bytepatch.dataset.metadata import DatasetMetadata, DataSignature
    from bytepatch.entropy.ref import EntropyModelRef
    from bytepatch.entropy.source import SharedModel, open_entropy_model
    from bytepatch.patchers import (
        EntropyPatcher,
        EntropyPatcherConfig,
        IncrementalPatcher,
        Patcher,
        PatcherSpec,
        SpacePatcher,
        SpacePatcherConfig,
        StridePatcher,
        StridePatcherConfig,
        entropy_patch_lengths,
        patcher_from_dict,
        space_patch_lengths,
        stride_patch_lengths,
    )
    from bytepatch.pretrained import build_patcher, load_patcher
    from bytepatch.ragged import Ragged
    from bytepatch.table import patch_table, patcher_metadata


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bytepatch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "DataSignature",
    "Dataset",
    "DatasetMetadata",
    "EntropyModelRef",
    "EntropyPatcher",
    "EntropyPatcherConfig",
    "IncrementalPatcher",
    "Patcher",
    "PatcherSpec",
    "Ragged",
    "SpacePatcher",
    "SpacePatcherConfig",
    "StridePatcher",
    "StridePatcherConfig",
    "SharedModel",
    "__version__",
    "build_patcher",
    "load_patcher",
    "open_entropy_model",
    "patch_table",
    "patcher_metadata",
    "entropy_patch_lengths",
    "open_dataset",
    "patcher_from_dict",
    "space_patch_lengths",
    "stride_patch_lengths",
]
