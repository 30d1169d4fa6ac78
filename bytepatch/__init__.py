"""bytepatch: tokenizer-free byte patching, BLT style.

The core library (this package) never imports torch: patchers, kernels, readers and
datasets work with NumPy, Numba and pyarrow alone. Models live in `bytepatch.models`.
"""

from bytepatch._version import __version__
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
from bytepatch.ragged import Ragged


def __getattr__(name: str):
    # Lazy so that `import bytepatch` for the kernels alone does not load pyarrow.
    if name in ("open_dataset", "Dataset"):
        from bytepatch import dataset

        return getattr(dataset, name)
    if name in ("load_patcher", "build_patcher"):
        from bytepatch import pretrained

        return getattr(pretrained, name)
    if name in ("patch_table", "patcher_metadata"):
        from bytepatch import table

        return getattr(table, name)
    if name in ("DatasetMetadata", "DataSignature"):
        from bytepatch.dataset import metadata

        return getattr(metadata, name)
    if name == "EntropyModelRef":
        from bytepatch.entropy.ref import EntropyModelRef

        return EntropyModelRef
    if name in ("open_entropy_model", "SharedModel"):
        from bytepatch.entropy import source

        return getattr(source, name)
    raise AttributeError(f"module 'bytepatch' has no attribute {name!r}")


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
