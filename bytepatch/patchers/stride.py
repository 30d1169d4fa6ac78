"""StridePatcher: fixed-size patches of `stride` bytes (MegaByte-style).

The baseline that ignores content: every patch but a document's last has exactly
`stride` bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

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
    single,
)
from bytepatch.patchers.functions import check_stride, stride_patch_lengths
from bytepatch.ragged import Ragged


@dataclass(frozen=True)
class StridePatcherConfig(PatcherConfig):
    stride: int = 4  # bytes per patch; the paper compares against strides 4, 6 and 8
    max_patch_length: int | None = None  # any patcher takes the cap (docs/design.md §3); here it bites below the stride

    def __post_init__(self) -> None:
        plain_settings(self)
        check_stride(self.stride)
        check_max_patch_length(self.max_patch_length)


class StridePatcher(PatcherBase):
    name: ClassVar[str] = "stride"
    needs_entropies: ClassVar[bool] = False
    config_class: ClassVar[type] = StridePatcherConfig

    def patch_lengths(self, data: DocumentLike, entropies: np.ndarray | None = None) -> np.ndarray:
        lengths = stride_patch_lengths(len(as_uint8(data)), self._config.stride)
        return kernels.apply_cap(lengths, single(len(lengths)), self._config.max_patch_length or 0)[0]

    def patch_batch(self, docs: BatchLike, entropies: EntropiesLike | None = None) -> Ragged:
        docs = as_ragged(docs)
        starts = kernels.stride_starts(docs.offsets, self._config.stride)
        return Ragged(*kernels.starts_to_lengths(starts, docs.offsets, self._config.max_patch_length or 0))
