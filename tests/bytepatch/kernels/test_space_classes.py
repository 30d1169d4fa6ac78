"""The NumPy space path (what `SpacePatcher.patch_batch` runs) equals the Numba kernel."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepatch.kernels.reference import is_space_like_ref
from bytepatch.kernels.space import space_lengths
from bytepatch.kernels.space_classes import SPACE_LIKE, WORD_BLOCK, space_lengths_numpy, word_bytes
from bytepatch.ragged import Ragged
from tests.bytepatch.strategies import batches


@settings(max_examples=300, deadline=None)
@given(docs=batches)
def test_numpy_space_lengths_equal_the_numba_kernel(docs):
    batch = Ragged.from_bytes(docs)
    want_lengths, want_offsets = space_lengths(batch.values, batch.offsets)
    got_lengths, got_offsets = space_lengths_numpy(batch.values, batch.offsets)
    assert got_lengths.dtype == np.int32 and got_offsets.dtype == np.int64
    np.testing.assert_array_equal(got_lengths, want_lengths)
    np.testing.assert_array_equal(got_offsets, want_offsets)


def test_documents_of_one_and_two_bytes_and_empty_ones():
    docs = [b"", b" ", b"a", b"  ", b"a ", b" a", b"", b"ab cd", b"."]
    batch = Ragged.from_bytes(docs)
    lengths, offsets = space_lengths_numpy(batch.values, batch.offsets)
    rows = [lengths[offsets[i] : offsets[i + 1]].tolist() for i in range(len(docs))]
    assert rows == [[], [1], [1], [2], [2], [2], [], [3, 2], [1]]


def test_class_table_matches_the_reference():
    np.testing.assert_array_equal(SPACE_LIKE.astype(bool), is_space_like_ref(np.arange(256, dtype=np.uint8)))


@settings(max_examples=200, deadline=None)
@given(docs=batches)
def test_numpy_space_starts_equal_the_numba_kernel(docs):
    from bytepatch.kernels.space import space_starts
    from bytepatch.kernels.space_classes import space_starts_numpy

    for doc in docs:
        data = np.frombuffer(doc, dtype=np.uint8)
        want = space_starts(data, np.array([0, len(data)], dtype=np.int64))
        np.testing.assert_array_equal(space_starts_numpy(data), want)


def test_word_bytes_are_the_complement_of_the_class_table_for_every_byte():
    every = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(word_bytes(every), SPACE_LIKE[every] == 0)
    np.testing.assert_array_equal(word_bytes(np.tile(every, 3)[5:]), SPACE_LIKE[np.tile(every, 3)[5:]] == 0)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), extra=st.integers(-3, 3), blocks=st.integers(1, 3))
def test_word_bytes_across_blocks_equal_the_table(seed, extra, blocks):
    data = np.random.default_rng(seed).integers(0, 256, blocks * WORD_BLOCK + extra, dtype=np.uint8)
    np.testing.assert_array_equal(word_bytes(data), SPACE_LIKE[data] == 0)
