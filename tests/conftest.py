"""Shared test fixtures: paths to the golden reference data and small corpora."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GOLDEN = SHARED / "reference" / "blt_tokens_with_entropies.json"
FIXTURE_GOLDEN = REPO / "tests" / "data" / "blt_tokens_with_entropies.json"


@pytest.fixture(scope="session")
def golden() -> dict:
    """The BLT reference fixture as columns: doc bytes, per-byte entropies, start flags.

    Reads ../shared/reference when present, else the copy kept in tests/data, so the
    test runs in any clone.
    """
    path = GOLDEN if GOLDEN.exists() else FIXTURE_GOLDEN
    raw = json.loads(path.read_text())
    col = lambda k: np.array([raw[k][str(i)] for i in range(len(raw[k]))])  # noqa: E731
    ids = col("token_ids")
    doc = (ids[1:-1] - 4).astype(np.uint8).tobytes()
    n = len(doc)
    return {
        "doc": doc,
        "entropies": col("entropies")[:n],
        "starts": col("start")[1 : n + 1].astype(np.uint8),  # token position t+1 = byte t
        "patch": col("patch"),
    }
