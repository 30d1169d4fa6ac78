"""Hypothesis strategies shared by the kernel and patcher tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from bytepatch.ragged import Ragged

# Bytes biased towards the interesting classes: letters, digits, spaces/punctuation,
# UTF-8 lead and continuation bytes.
byte_values = st.one_of(
    st.sampled_from(b"aZ09 .,\n\t-_"), st.integers(0x80, 0xBF), st.integers(0xC0, 0xFF), st.integers(0, 255)
)
docs = st.lists(byte_values, max_size=60).map(bytes)
batches = st.lists(docs, max_size=6)
entropy_values = st.floats(0.0, 5.5, allow_nan=False, width=32)
max_lengths = st.one_of(st.none(), st.integers(1, 9))


@st.composite
def entropy_batches(draw) -> tuple[Ragged, list[np.ndarray]]:
    rows = draw(st.lists(st.lists(entropy_values, max_size=50), max_size=6))
    arrays = [np.asarray(r, dtype=np.float32) for r in rows]
    return Ragged.from_arrays(arrays, dtype=np.float32), arrays
