"""SpacePatcher: patches end after the first space-like byte of a run (SpaceByte-style).

Needs no model, so it is the fastest patcher; its patches follow word boundaries in
languages that use spaces and degrade to long patches where none occur (cap them with
`max_patch_length`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from bytepatch.kernels.space_classes import space_lengths_numpy
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
from bytepatch.patchers.functions import space_patch_lengths
from bytepatch.ragged import Ragged


@dataclass(frozen=True)
class SpacePatcherConfig(PatcherConfig):
    max_patch_length: int | None = None  # cut longer patches (e.g. long URLs, CJK text)

    def __post_init__(self) -> None:
        plain_settings(self)
        check_max_patch_length(self.max_patch_length)


class SpacePatcher(PatcherBase):
    name: ClassVar[str] = "space"
    needs_entropies: ClassVar[bool] = False
    config_class: ClassVar[type] = SpacePatcherConfig

    def patch_lengths(self, data: DocumentLike, entropies: np.ndarray | None = None) -> np.ndarray:
        return space_patch_lengths(data, self._config.max_patch_length)

    def patch_batch(self, docs: BatchLike, entropies: EntropiesLike | None = None) -> Ragged:
        docs = as_ragged(docs)
        # NumPy, not the Numba kernel: a space run then never pays Numba's start-up
        # (see kernels/space_classes.py); the two are tested equal.
        lengths, offsets = space_lengths_numpy(as_uint8(docs.values), docs.offsets)
        cap = self._config.max_patch_length or 0
        if cap and len(lengths) and int(lengths.max()) > cap:
            from bytepatch.kernels.lengths import cut_lengths

            lengths, offsets = cut_lengths(lengths, offsets, cap)
        return Ragged(lengths, offsets)
