"""The NumPy space path (what `SpacePatcher.patch_batch` runs) equals the Numba kernel."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepatch.kernels.reference import is_space_like_ref, space_starts_ref
from bytepatch.kernels.space import space_lengths
from bytepatch.kernels.space_classes import SPACE_LIKE, WORD_BLOCK, rule_starts, space_lengths_numpy
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


def _rule_starts_ref(data: np.ndarray) -> np.ndarray:
    """The plain-NumPy reference's starts of one document, but for byte 0 (which
    `rule_starts` leaves to the caller, who knows where documents begin)."""
    want = space_starts_ref(data, np.array([0, len(data)])).astype(bool)
    want[:1] = False
    return want


def test_rule_starts_follow_the_reference_for_every_byte():
    every = np.arange(256, dtype=np.uint8)
    for data in (every, np.tile(every, 3)[5:], every[::-1], every[:1], every[:2]):
        np.testing.assert_array_equal(rule_starts(data), _rule_starts_ref(data))


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), extra=st.integers(-3, 3), blocks=st.integers(1, 3))
def test_rule_starts_across_blocks_equal_the_reference(seed, extra, blocks):
    """Blocks carry two bytes of look-behind: a start right after a block boundary counts."""
    data = np.random.default_rng(seed).integers(0, 256, blocks * WORD_BLOCK + extra, dtype=np.uint8)
    np.testing.assert_array_equal(rule_starts(data), _rule_starts_ref(data))
    words = np.frombuffer(b"ab " * (blocks * WORD_BLOCK // 3 + 2), dtype=np.uint8)[: blocks * WORD_BLOCK + extra]
    np.testing.assert_array_equal(rule_starts(words), _rule_starts_ref(words))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), extra=st.integers(-3, 3), blocks=st.integers(1, 3), density=st.floats(0, 1))
def test_positions_found_a_block_at_a_time_equal_flatnonzero(seed, extra, blocks, density):
    from bytepatch.kernels.space_classes import _flat_positions

    flags = np.random.default_rng(seed).random(blocks * WORD_BLOCK + extra) < density
    got = _flat_positions(flags)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, np.flatnonzero(flags))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), docs=st.integers(1, 40))
def test_numpy_space_lengths_over_several_blocks_equal_the_numba_kernel(seed, docs):
    """Batches larger than a block (the strategy's are smaller): text-like bytes, so
    patches start in every block, and document boundaries anywhere."""
    rng = np.random.default_rng(seed)
    alphabet = np.frombuffer(b"abcdefghij  ,.\n\xc3\xa9", dtype=np.uint8)
    values = alphabet[rng.integers(0, len(alphabet), 3 * WORD_BLOCK + 7)]
    cuts = np.sort(rng.integers(0, len(values), docs - 1))
    offsets = np.concatenate([[0], cuts, [len(values)]]).astype(np.int64)
    want_lengths, want_offsets = space_lengths(values, offsets)
    got_lengths, got_offsets = space_lengths_numpy(values, offsets)
    np.testing.assert_array_equal(got_lengths, want_lengths)
    np.testing.assert_array_equal(got_offsets, want_offsets)
