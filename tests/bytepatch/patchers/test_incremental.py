"""Incremental patching equals batch patching, byte by byte and in chunks, for every patcher."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepatch.patchers import (
    REFERENCE_THRESHOLD,
    EntropyPatcher,
    EntropyPatcherConfig,
    SpacePatcher,
    SpacePatcherConfig,
    StridePatcher,
    StridePatcherConfig,
)
from bytepatch.patchers.incremental import IncrementalPatcher, PatchState, starts_patch

from tests.bytepatch.strategies import byte_values, docs, entropy_values, max_lengths

thresholds = st.one_of(st.none(), st.floats(0.0, 5.0, width=32))
threshold_adds = st.one_of(st.none(), st.floats(-1.0, 2.0, width=32))


@st.composite
def entropy_patchers(draw) -> EntropyPatcher:
    threshold, threshold_add = draw(thresholds), draw(threshold_adds)
    if threshold is None and threshold_add is None:
        threshold = 2.0
    return EntropyPatcher(EntropyPatcherConfig(threshold, threshold_add, draw(max_lengths)))


patchers = st.one_of(
    entropy_patchers(),
    max_lengths.map(lambda m: SpacePatcher(SpacePatcherConfig(max_patch_length=m))),
    st.integers(1, 9).map(lambda k: StridePatcher(StridePatcherConfig(stride=k))),
)


@st.composite
def documents(draw) -> tuple[bytes, np.ndarray]:
    """A document and one entropy per byte; entropies sometimes repeat, to hit ties and equalities."""
    doc = draw(docs)
    values = draw(st.lists(entropy_values, min_size=len(doc), max_size=len(doc)))
    return doc, np.asarray(values, dtype=np.float32)


def chunked(n: int, sizes: list[int]) -> list[tuple[int, int]]:
    """Cut range(n) into consecutive chunks of the given sizes (cycled), possibly empty."""
    spans, start, i = [], 0, 0
    while start < n:
        size = sizes[i % len(sizes)]
        spans.append((start, min(n, start + size)))
        start += size
        i += 1
    return spans


@settings(max_examples=300, deadline=None)
@given(patchers, documents())
def test_byte_by_byte_equals_batch(patcher, document):
    doc, h = document
    expected = patcher.patch_lengths(doc, h)
    inc = IncrementalPatcher(patcher)
    flags = []
    for t, b in enumerate(doc):
        entropy = float(h[t]) if patcher.needs_entropies else None
        ahead = inc.starts_next(entropy)  # decided before the byte is seen ...
        flags.append(inc.push(b, entropy))  # ... and pushing it agrees
        assert flags[-1] == ahead
    np.testing.assert_array_equal(inc.finish(), expected)
    assert inc.finish().dtype == np.int32
    starts = np.cumsum(expected) - expected
    np.testing.assert_array_equal(np.flatnonzero(flags), starts)


@settings(max_examples=300, deadline=None)
@given(patchers, documents(), st.lists(st.integers(0, 7), min_size=1, max_size=5).filter(any))
def test_random_chunks_equal_batch(patcher, document, sizes):
    doc, h = document
    inc = IncrementalPatcher(patcher.to_dict())  # also from a dataset's metadata dict
    for lo, hi in chunked(len(doc), sizes):
        inc.push_bytes(doc[lo:hi], h[lo:hi] if patcher.needs_entropies else None)
    np.testing.assert_array_equal(inc.finish(), patcher.patch_lengths(doc, h))


@settings(max_examples=100, deadline=None)
@given(st.lists(byte_values, min_size=1, max_size=40).map(bytes), max_lengths)
def test_space_rule_knows_the_next_start_before_the_next_byte(doc, cap):
    """The space rule needs bytes t-2 and t-1 only: `starts_next` must not depend on byte t."""
    inc = IncrementalPatcher(SpacePatcherConfig(max_patch_length=cap))
    for b in doc:
        assert inc.starts_next() == inc.fork().push((b + 1) % 256) == inc.fork().push(b)
        inc.push(b)


def test_space_rule_examples():
    inc = IncrementalPatcher(SpacePatcher())
    flags = inc.push_bytes(b"hi  you.x")
    # the first space ends "hi "; the second follows a space, so it ends nothing; "." ends " you."
    assert flags.tolist() == [True, False, False, True, False, False, False, False, True]
    assert inc.finish().tolist() == [3, 5, 1]


def test_stride_and_cap_decisions_come_from_the_position():
    inc = IncrementalPatcher(StridePatcherConfig(stride=3))
    assert inc.push_bytes(b"abcdefg").tolist() == [True, False, False, True, False, False, True]
    inc = IncrementalPatcher(SpacePatcherConfig(max_patch_length=2))
    assert inc.push_bytes(b"abcde").tolist() == [True, False, True, False, True]
    assert inc.finish().tolist() == [2, 2, 1]


def test_relative_rule_has_neither_reference_quirk():
    """No forced start at byte 1, and byte 2 can start a patch under global + relative (docs/design.md §3)."""
    config = EntropyPatcherConfig(threshold=1.0, threshold_add=0.5)
    inc = IncrementalPatcher(config)
    assert inc.push_bytes(b"abc", [0.1, 0.2, 2.0]).tolist() == [True, False, True]
    rel = IncrementalPatcher(EntropyPatcherConfig(threshold=None, threshold_add=0.5))
    assert rel.push_bytes(b"ab", [3.0, 3.1]).tolist() == [True, False]


def test_global_threshold_is_strict():
    config = EntropyPatcherConfig(threshold=1.5)
    inc = IncrementalPatcher(config)
    assert inc.push_bytes(b"abc", [9.0, 1.5, 1.5000001]).tolist() == [True, False, True]


def test_entropy_patcher_requires_finite_entropies():
    inc = IncrementalPatcher(EntropyPatcher())
    with pytest.raises(ValueError, match="needs the entropy"):
        inc.push(ord("a"))
    with pytest.raises(ValueError, match="finite"):
        inc.starts_next(float("nan"))
    with pytest.raises(ValueError, match="one per byte"):
        inc.push_bytes(b"ab", [1.0])


def test_misuse_is_refused():
    inc = IncrementalPatcher(SpacePatcher())
    with pytest.raises(ValueError, match="0..255"):
        inc.push(256)
    assert inc.finish().tolist() == []  # an empty document has no patches
    with pytest.raises(ValueError, match="finished"):
        inc.push(1)
    with pytest.raises(ValueError, match="unknown patcher"):
        IncrementalPatcher({"patcher": "bpe"})


def test_state_is_a_value():
    """`starts_patch` is pure: the same state and entropy give the same answer, nothing moves."""
    config = EntropyPatcherConfig(threshold=1.0, max_patch_length=2)
    state = PatchState(n_bytes=5, open_length=2, last_entropy=0.0)
    assert starts_patch(config, state, 0.0) and starts_patch(config, state, 0.0)
    assert not starts_patch(config, PatchState(n_bytes=5, open_length=1, last_entropy=0.0), 0.5)


def test_entropy_rule_reproduces_the_blt_reference_fixture(golden):
    """Online decisions on the reference's own entropies give the reference's starts."""
    inc = IncrementalPatcher(EntropyPatcherConfig(threshold=REFERENCE_THRESHOLD))
    flags = inc.push_bytes(golden["doc"], golden["entropies"])
    np.testing.assert_array_equal(flags.astype(np.uint8), golden["starts"])


@pytest.mark.parametrize("byte", [True, 97.0, "a", b"a", np.float32(3)])
def test_a_byte_that_is_not_an_integer_is_refused_naming_it(byte):
    """True failed with "The truth value of an array ... is ambiguous", 97.0 with "only
    integers ... are valid indices", "a" / b"a" with a bare comparison TypeError."""
    inc = IncrementalPatcher(SpacePatcher())
    with pytest.raises(ValueError, match=r"a byte is an integer in 0\.\.255, got"):
        inc.push(byte)
    assert inc.push(np.uint8(97)) and inc.n_bytes == 1  # NumPy integers are bytes
