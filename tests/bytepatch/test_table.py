"""patch_table's arguments, as a script passes them."""

from __future__ import annotations

import pytest

import bytepatch


def test_ids_given_as_one_string_are_refused_not_split_into_characters():
    """`ids="ab"` for two rows was `list("ab")`: ids "a" and "b", one per character."""
    patcher = bytepatch.load_patcher("space")
    with pytest.raises(TypeError, match=r"ids is a list of ids, one per row, not one str: e.g. ids=\['ab'\]"):
        bytepatch.patch_table({"text": ["x y", "z"]}, patcher, ids="ab")
    with pytest.raises(TypeError, match="not one bytes"):
        bytepatch.patch_table({"text": ["x y"]}, patcher, ids=b"a")
    table = bytepatch.patch_table({"text": ["x y", "z"]}, patcher, ids=("a", "b"))
    assert table.column("id").to_pylist() == ["a", "b"]
