"""Numba kernels against their NumPy twins, plus the rules' defining properties."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepatch.kernels import entropy_starts, space_lengths, space_starts, starts_to_lengths, stride_starts
from bytepatch.kernels.reference import (
    entropy_starts_ref,
    space_starts_ref,
    split_long,
    starts_to_lengths_ref,
    stride_starts_ref,
)
from bytepatch.ragged import Ragged

from tests.bytepatch.strategies import batches, entropy_batches, max_lengths

THRESH = st.floats(0.0, 5.0, allow_nan=False)
RULES = st.sampled_from([(True, False), (False, True), (True, True)])


def _check_lengths(lengths: np.ndarray, offsets: np.ndarray, doc_offsets: np.ndarray, cap: int | None) -> None:
    assert lengths.dtype == np.int32 and offsets.dtype == np.int64
    assert np.all(lengths >= 1)
    if cap:
        assert np.all(lengths <= cap)
    for d in range(len(doc_offsets) - 1):
        n = doc_offsets[d + 1] - doc_offsets[d]
        got = lengths[offsets[d] : offsets[d + 1]].sum()
        assert got == n, (d, got, n)


@settings(max_examples=200, deadline=None)
@given(entropy_batches(), THRESH, st.floats(-1.0, 3.0, allow_nan=False), RULES, max_lengths)
def test_entropy_kernel_matches_twin(batch, thr, thr_add, rule, cap):
    ragged, _ = batch
    args = (ragged.values, ragged.offsets, thr, thr_add, *rule)
    starts = entropy_starts(*args)
    np.testing.assert_array_equal(starts, entropy_starts_ref(*args))
    lengths, offsets = starts_to_lengths(starts, ragged.offsets, cap or 0)
    ref_lengths, ref_offsets = starts_to_lengths_ref(starts, ragged.offsets, cap)
    np.testing.assert_array_equal(lengths, ref_lengths)
    np.testing.assert_array_equal(offsets, ref_offsets)
    _check_lengths(lengths, offsets, ragged.offsets, cap)


@settings(max_examples=200, deadline=None)
@given(entropy_batches(), THRESH)
def test_global_rule_definition(batch, thr):
    ragged, rows = batch
    starts = entropy_starts(ragged.values, ragged.offsets, thr, 0.0, True, False)
    for d, h in enumerate(rows):
        s = starts[ragged.offsets[d] : ragged.offsets[d + 1]]
        for t in range(len(h)):
            assert s[t] == (t == 0 or float(h[t]) > thr)


@settings(max_examples=200, deadline=None)
@given(entropy_batches(), st.floats(-1.0, 3.0, allow_nan=False), THRESH)
def test_relative_and_both_rules_definition(batch, thr_add, thr):
    ragged, rows = batch
    rel = entropy_starts(ragged.values, ragged.offsets, 0.0, thr_add, False, True)
    both = entropy_starts(ragged.values, ragged.offsets, thr, thr_add, True, True)
    for d, h in enumerate(rows):
        lo, hi = ragged.offsets[d], ragged.offsets[d + 1]
        for t in range(len(h)):
            inc = t > 0 and float(h[t]) - float(h[t - 1]) > thr_add
            # No byte-1 quirk and no byte-2 blind spot (the reference has both).
            assert rel[lo:hi][t] == (t == 0 or inc)
            assert both[lo:hi][t] == (t == 0 or (inc and float(h[t]) > thr))


@settings(max_examples=300, deadline=None)
@given(batches)
def test_space_kernel_matches_twin_and_rule(docs):
    ragged = Ragged.from_bytes(docs)
    starts = space_starts(ragged.values, ragged.offsets)
    np.testing.assert_array_equal(starts, space_starts_ref(ragged.values, ragged.offsets))
    alnum = set(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

    def space_like(b: int) -> bool:
        return not (b in alnum or 0x80 <= b <= 0xBF)

    for d, doc in enumerate(docs):
        s = starts[ragged.offsets[d] : ragged.offsets[d + 1]]
        for t in range(len(doc)):
            if t == 0:
                expected = True
            else:
                before = space_like(doc[t - 2]) if t >= 2 else True  # BOS is space-like
                expected = space_like(doc[t - 1]) and not before
            assert bool(s[t]) == expected, (doc, t)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=6), st.integers(1, 9))
def test_stride_kernel_matches_twin(lengths, stride):
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    starts = stride_starts(offsets, stride)
    np.testing.assert_array_equal(starts, stride_starts_ref(offsets, stride))
    out, out_offsets = starts_to_lengths(starts, offsets, 0)
    for d, n in enumerate(lengths):
        row = out[out_offsets[d] : out_offsets[d + 1]]
        assert row.tolist() == [stride] * (n // stride) + ([n % stride] if n % stride else [])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 30), max_size=8), st.integers(1, 7))
def test_max_patch_length_cuts_left_to_right(raw_lengths, cap):
    n = sum(raw_lengths)
    starts = np.zeros(n, dtype=np.uint8)
    starts[np.cumsum([0] + raw_lengths[:-1])[: len(raw_lengths)]] = 1
    offsets = np.array([0, n], dtype=np.int64)
    lengths, _ = starts_to_lengths(starts, offsets, cap)
    expected = [piece for length in raw_lengths for piece in split_long(length, cap)]
    assert lengths.tolist() == expected


def test_starts_to_lengths_forces_a_start_at_byte_zero():
    starts = np.zeros(5, dtype=np.uint8)
    lengths, offsets = starts_to_lengths(starts, np.array([0, 2, 2, 5], dtype=np.int64), 0)
    assert lengths.tolist() == [2, 3] and offsets.tolist() == [0, 1, 1, 2]


@settings(max_examples=300, deadline=None)
@given(batches)
def test_fused_space_lengths_equal_the_two_step_form(docs):
    ragged = Ragged.from_bytes(docs)
    fused, fused_offsets = space_lengths(ragged.values, ragged.offsets)
    two_step, offsets = starts_to_lengths(space_starts(ragged.values, ragged.offsets), ragged.offsets, 0)
    np.testing.assert_array_equal(fused, two_step)
    np.testing.assert_array_equal(fused_offsets, offsets)
