"""StridePatcher: fixed-size patches of `stride` bytes (MegaByte-style).

The baseline that ignores content: every patch but a document's last has exactly
`stride` bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from bytepatch.kernels import starts_to_lengths, stride_starts
from bytepatch.patchers.base import PatcherBase, PatcherConfig, as_uint8
from bytepatch.patchers.functions import check_stride, stride_patch_lengths
from bytepatch.ragged import Ragged


@dataclass(frozen=True)
class StridePatcherConfig(PatcherConfig):
    stride: int = 4  # bytes per patch; the paper compares against strides 4, 6 and 8

    def __post_init__(self) -> None:
        check_stride(self.stride)


class StridePatcher(PatcherBase):
    name: ClassVar[str] = "stride"
    needs_entropies: ClassVar[bool] = False
    config_class: ClassVar[type] = StridePatcherConfig

    def patch_lengths(self, data: bytes | np.ndarray, entropies: np.ndarray | None = None) -> np.ndarray:
        return stride_patch_lengths(len(as_uint8(data)), self._config.stride)

    def patch_batch(self, docs: Ragged, entropies: Ragged | None = None) -> Ragged:
        lengths, offsets = starts_to_lengths(stride_starts(docs.offsets, self._config.stride), docs.offsets, 0)
        return Ragged(lengths, offsets)
