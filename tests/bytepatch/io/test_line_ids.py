"""LineIds are the line reader's id strings, made in bulk (and their column's bytes too)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bytepatch.dataset.schema import string_array
from bytepatch.io.line_ids import LineIds, joined_ids

names = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)  # no lone surrogates: paths decode
firsts = st.one_of(st.integers(0, 30), st.integers(0, 10**7), st.sampled_from([9, 99, 999_999, 10**9 - 3]))
counts = st.integers(0, 400)


def plain(name: str, first: int, count: int) -> list[str]:
    return [f"{name}:{line}" for line in range(first, first + count)]


@given(names, firsts, counts)
def test_line_ids_are_the_strings_the_line_reader_makes(name, first, count):
    ids, expected = LineIds(name, first, count), plain(name, first, count)
    assert len(ids) == count and list(ids) == expected and ids == expected
    data, offsets = ids.utf8()
    encoded = [s.encode("utf-8") for s in expected]
    assert data.tobytes() == b"".join(encoded)
    assert offsets.tolist() == [0, *itertools.accumulate(map(len, encoded))]
    assert string_array(ids).equals(string_array(expected))


@given(names, firsts, counts, st.integers(-500, 500), st.integers(-500, 500), st.sampled_from([None, 1, 2, -1]))
def test_indexing_and_slicing_match_a_list(name, first, count, a, b, step):
    ids, expected = LineIds(name, first, count), plain(name, first, count)
    assert list(ids[a:b:step]) == expected[a:b:step]
    if -count <= a < count:
        assert ids[a] == expected[a]
    else:
        with pytest.raises(IndexError):
            ids[a]


@given(names, firsts, counts, counts, st.booleans())
def test_joined_ids_stay_line_ids_only_while_the_lines_run_on(name, first, n, m, contiguous):
    left = LineIds(name, first, n)
    right = LineIds(name, first + n if contiguous else first + n + 1, m)
    joined = joined_ids(left, right)
    assert list(joined) == list(left) + list(right)
    assert isinstance(joined, LineIds) == (n == 0 or contiguous)
    mixed = joined_ids(left, ["given-id"])
    assert isinstance(mixed, list) and mixed == list(left) + ["given-id"]


def test_other_files_lines_are_not_a_continuation():
    assert not LineIds("a.jsonl", 1, 3).followed_by(LineIds("b.jsonl", 4, 1))
    assert LineIds("a.jsonl", 1, 3).followed_by(LineIds("a.jsonl", 4, 1))
    assert joined_ids(LineIds("a.jsonl", 1, 3), LineIds("b.jsonl", 4, 1)) == [
        "a.jsonl:1",
        "a.jsonl:2",
        "a.jsonl:3",
        "b.jsonl:4",
    ]


def test_line_ids_refuse_negative_lines():
    with pytest.raises(ValueError, match="first >= 0"):
        LineIds("x", -1, 2)
