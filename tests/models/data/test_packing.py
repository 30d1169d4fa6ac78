"""Packing invariants: every byte once and in order, whole patches except at row ends, BOS/EOS, targets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepatch.ids import BOS_ID, EOS_ID, OFFSET
from bytepatch.models.data import IGNORE_INDEX, PAD_ID, frame, pack_row


@st.composite
def documents(draw):
    """(bytes, patch lengths) pairs with arbitrary valid patchings, empty documents included."""
    out = []
    for _ in range(draw(st.integers(1, 6))):
        data = draw(st.binary(min_size=0, max_size=40))
        lengths, left = [], len(data)
        while left:
            n = draw(st.integers(1, left))
            lengths.append(n)
            left -= n
        out.append((data, lengths))
    return out


def pack_all(framed, seq_len):
    get = lambda k: framed[k] if k < len(framed) else None  # noqa: E731
    rows, position = [], (0, 0)
    while (packed := pack_row(get, position, seq_len)) is not None:
        row, position = packed
        rows.append(row)
    return rows


@settings(max_examples=150, deadline=None)
@given(docs=documents(), seq_len=st.integers(2, 37))
def test_rows_partition_the_framed_stream(docs, seq_len):
    framed = [frame(d, ls) for d, ls in docs]
    stream = np.concatenate([f.ids for f in framed])
    rows = pack_all(framed, seq_len)
    n_real = len(stream)
    assert len(rows) == -(-n_real // seq_len)
    flat = np.concatenate([r.ids for r in rows])
    # Every id of every framed document, once, in order; only the last row is padded.
    assert np.array_equal(flat[:n_real], stream)
    assert (flat[n_real:] == PAD_ID).all()
    for r in rows:
        assert len(r.ids) == len(r.targets) == seq_len
        assert r.lengths.sum() == seq_len and (r.lengths >= 1).all()
    # Patch starts = the documents' own patch starts plus row starts: patches are cut only at row ends.
    doc_starts = set(np.concatenate([[0], np.cumsum(np.concatenate([f.lengths for f in framed]))[:-1]]).tolist())
    row_starts = set(range(0, len(flat), seq_len))
    got = set()
    for i, r in enumerate(rows):
        got |= set((i * seq_len + np.concatenate([[0], np.cumsum(r.lengths)[:-1]])).tolist())
    assert got - {n_real} == (doc_starts | row_starts) - {n_real} - set(range(n_real + 1, len(flat)))
    # Targets: the next id of the stream, ignored where it is a BOS or padding.
    want = np.concatenate([stream[1:], [IGNORE_INDEX]])
    want[want == BOS_ID] = IGNORE_INDEX
    targets = np.concatenate([r.targets for r in rows])
    assert np.array_equal(targets[:n_real], want)
    assert (targets[n_real:] == IGNORE_INDEX).all()
    assert sum(r.n_bytes for r in rows) == sum(len(d) for d, _ in docs)


@settings(max_examples=60, deadline=None)
@given(docs=documents())
def test_frame_puts_bos_and_eos_in_patches_of_their_own(docs):
    for data, lengths in docs:
        f = frame(data, lengths)
        assert f.ids[0] == BOS_ID and f.ids[-1] == EOS_ID
        assert (f.ids[1:-1] == np.frombuffer(data, np.uint8).astype(np.int64) + OFFSET).all()
        assert f.lengths[0] == 1 and f.lengths[-1] == 1 and f.lengths.sum() == len(data) + 2


def test_a_document_longer_than_a_row_continues_in_the_next_row():
    f = frame(b"abcdefghij", [4, 6])  # framed: BOS | abcd | efghij | EOS
    rows = pack_all([f], 5)
    assert [r.lengths.tolist() for r in rows] == [[1, 4], [5], [1, 1, 3]]  # the last row ends with a pad patch
    assert rows[1].ids[0] == ord("e") + OFFSET  # a continuation row starts mid-document, without BOS
    assert rows[0].targets[-1] == ord("e") + OFFSET  # look-ahead: the last target is the next row's first id


def test_invalid_patch_lengths_name_the_document():
    with pytest.raises(ValueError, match="doc-7: patch_lengths must"):
        frame(b"abc", [1, 1], name="doc-7")
    with pytest.raises(ValueError, match="no patches"):
        frame(b"abc", [], name="x")
