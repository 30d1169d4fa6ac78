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
    raise AttributeError(f"module 'bytepatch' has no attribute {name!r}")


__all__ = [
    "Dataset",
    "EntropyPatcher",
    "EntropyPatcherConfig",
    "IncrementalPatcher",
    "Patcher",
    "Ragged",
    "SpacePatcher",
    "SpacePatcherConfig",
    "StridePatcher",
    "StridePatcherConfig",
    "__version__",
    "entropy_patch_lengths",
    "open_dataset",
    "patcher_from_dict",
    "space_patch_lengths",
    "stride_patch_lengths",
]
