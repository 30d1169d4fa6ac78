"""A patch longer than 2^31 bytes: lengths computed in 64 bits, never wrapped (issue 13.1)."""

from __future__ import annotations

import numpy as np
import pytest

from bytepatch import SpacePatcher, SpacePatcherConfig
from bytepatch.dataset.schema import check_storable
from bytepatch.segment.windows import patch_long_document

N = (1 << 31) + 4097  # one run of NUL bytes: a single space-like run, so one patch


def zeros(n: int) -> memoryview:
    # calloc'd pages that are only read stay shared zero pages: no 2 GB of RSS.
    return memoryview(np.zeros(n, dtype=np.uint8))


@pytest.mark.slow
def test_patch_over_2_31_bytes_is_not_negative():
    lengths, _ = patch_long_document(SpacePatcher(SpacePatcherConfig()), zeros(N), window=64 << 20)
    assert lengths.tolist() == [N]
    assert lengths.dtype == np.int64
    with pytest.raises(ValueError, match=r"doc-7: a patch of 2,147,487,745 bytes .*--max-patch-length"):
        check_storable(lengths, "doc-7")


@pytest.mark.slow
def test_max_patch_length_applies_to_a_patch_over_2_31_bytes():
    cap = 1_000_000
    lengths, _ = patch_long_document(SpacePatcher(SpacePatcherConfig(max_patch_length=cap)), zeros(N), window=64 << 20)
    assert lengths.dtype == np.int32
    assert int(lengths.sum()) == N and lengths.max() == cap and lengths.min() > 0
    assert len(lengths) == -(-N // cap)
