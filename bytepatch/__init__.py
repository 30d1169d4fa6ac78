"""bytepatch: tokenizer-free byte patching, BLT style.

The core library (this package) never imports torch: patchers, kernels, readers and
datasets work with NumPy, Numba and pyarrow alone. Models live in `bytepatch.models`.
"""

from bytepatch._version import __version__
from bytepatch.patchers import (
    EntropyPatcher,
    EntropyPatcherConfig,
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

__all__ = [
    "EntropyPatcher",
    "EntropyPatcherConfig",
    "Patcher",
    "Ragged",
    "SpacePatcher",
    "SpacePatcherConfig",
    "StridePatcher",
    "StridePatcherConfig",
    "__version__",
    "entropy_patch_lengths",
    "patcher_from_dict",
    "space_patch_lengths",
    "stride_patch_lengths",
]
