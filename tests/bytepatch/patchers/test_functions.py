"""The public patch functions: golden fixture, contracts and input validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bytepatch
from bytepatch.kernels.reference import entropy_starts_ref, space_starts_ref, starts_to_lengths_ref

from tests.bytepatch.strategies import docs, entropy_values, max_lengths

REFERENCE_THRESHOLD = 1.335442066192627


def _starts(lengths: np.ndarray, n: int) -> np.ndarray:
    s = np.zeros(n, dtype=np.uint8)
    s[np.cumsum(lengths)[:-1]] = 1
    if n:
        s[0] = 1
    return s


def test_global_rule_reproduces_the_blt_reference_fixture(golden):
    lengths = bytepatch.entropy_patch_lengths(golden["entropies"], threshold=REFERENCE_THRESHOLD)
    np.testing.assert_array_equal(_starts(lengths, len(golden["doc"])), golden["starts"])
    # Patch indices of the fixture: BOS is patch 0, so byte t is in patch index + 1.
    patch_of_byte = np.repeat(np.arange(len(lengths)), lengths) + 1
    np.testing.assert_array_equal(patch_of_byte, golden["patch"][1 : len(golden["doc"]) + 1])


def test_space_rule_on_the_fixture_sentence(golden):
    patches = bytepatch.SpacePatcher().patches(golden["doc"])
    assert patches == [
        b"Daenerys ",
        b"Targaryen ",
        b"is ",
        b"in ",
        b"Game ",
        b"of ",
        b"Thrones,",
        b" a ",
        b"fantasy ",
        b"epic ",
        b"by ",
        b"George ",
        b"R.",
        b"R.",
        b" Martin.",
    ]


def test_space_rule_examples():
    cases = {
        b"": [],
        b" ": [1],
        b"  hello": [7],  # leading space-like bytes follow BOS: no cut
        b"a b": [2, 1],
        b"hello   world": [6, 7],  # "hello " | "  world": only the first space closes the word
        # UTF-8 lead bytes are space-like (they end a patch after a letter), continuation
        # bytes are letter-like: h|C3 ends, A9 l l o ' ' ends, w|C3 ends, B6 r l d.
        "héllo wörld".encode(): [2, 5, 2, 4],
        # E6 97 A5 E6 | 9C AC 20 | E8 AA 9E: a lead byte after BOS or a space does not end.
        "日本 語".encode(): [4, 3, 3],
    }
    for doc, expected in cases.items():
        assert bytepatch.space_patch_lengths(doc).tolist() == expected, doc


@settings(max_examples=200, deadline=None)
@given(st.lists(entropy_values, max_size=80), st.floats(0, 5), st.floats(-1, 3), st.integers(0, 2), max_lengths)
def test_entropy_patch_lengths_contract(h, thr, thr_add, which, cap):
    h = np.asarray(h, dtype=np.float32)
    kw = [dict(threshold=thr), dict(threshold_add=thr_add), dict(threshold=thr, threshold_add=thr_add)][which]
    lengths = bytepatch.entropy_patch_lengths(h, max_patch_length=cap, **kw)
    assert lengths.dtype == np.int32 and lengths.sum() == len(h) and np.all(lengths >= 1)
    offsets = np.array([0, len(h)])
    starts = entropy_starts_ref(h, offsets, thr, thr_add, "threshold" in kw, "threshold_add" in kw)
    np.testing.assert_array_equal(lengths, starts_to_lengths_ref(starts, offsets, cap)[0])


@settings(max_examples=200, deadline=None)
@given(docs, max_lengths)
def test_space_patch_lengths_contract(doc, cap):
    lengths = bytepatch.space_patch_lengths(doc, max_patch_length=cap)
    assert lengths.dtype == np.int32 and lengths.sum() == len(doc) and np.all(lengths >= 1)
    arr = np.frombuffer(doc, dtype=np.uint8)
    np.testing.assert_array_equal(bytepatch.space_patch_lengths(arr, max_patch_length=cap), lengths)
    offsets = np.array([0, len(doc)])
    np.testing.assert_array_equal(lengths, starts_to_lengths_ref(space_starts_ref(arr, offsets), offsets, cap)[0])


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 500), st.integers(1, 50))
def test_stride_patch_lengths_contract(n, k):
    lengths = bytepatch.stride_patch_lengths(n, k)
    assert lengths.dtype == np.int32 and lengths.sum() == n
    assert np.all(lengths[:-1] == k) and (n == 0 or 1 <= lengths[-1] <= k)


def test_float16_entropies_are_accepted_and_widened():
    h = np.array([3.0, 0.1, 2.0, 0.2], dtype=np.float16)
    assert bytepatch.entropy_patch_lengths(h, threshold=1.0).tolist() == [2, 2]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: bytepatch.entropy_patch_lengths(np.ones(3)), "threshold"),
        (lambda: bytepatch.entropy_patch_lengths(np.ones((2, 2)), threshold=1.0), "1-D"),
        (lambda: bytepatch.entropy_patch_lengths(np.array([1.0, np.nan]), threshold=1.0), "byte 1 has nan$"),
        (lambda: bytepatch.entropy_patch_lengths(np.array([-np.inf], np.float32), threshold=1.0), "byte 0 has -inf$"),
        (lambda: bytepatch.entropy_patch_lengths(np.arange(3), threshold=1.0), "float"),
        (lambda: bytepatch.entropy_patch_lengths(np.ones(3), threshold=1.0, max_patch_length=0), "max_patch_length"),
        (lambda: bytepatch.space_patch_lengths(3), "bytes"),  # a str is taken as UTF-8, as everywhere
        (lambda: bytepatch.stride_patch_lengths(10, 0), "stride"),
        (lambda: bytepatch.stride_patch_lengths(-1, 2), "n_bytes"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
