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


def test_a_lone_surrogate_in_a_dict_column_is_named_by_column_and_row():
    """pa.table raised the codec's bare UnicodeEncodeError for it, naming neither."""
    patcher = bytepatch.load_patcher("space")
    data = {"id": ["a", "b", "c"], "text": ["fine", "also fine", "bad \udc80 here"]}
    with pytest.raises(ValueError, match=r"column 'text', row 2: the str holds a lone surrogate '\\udc80' at char 4"):
        bytepatch.patch_table(data, patcher, id_field="id")


def test_a_pandas_dataframe_is_a_batch_of_its_columns():
    """A DataFrame was refused ("expected a pyarrow Table, RecordBatch or a dict of columns")."""
    pd = pytest.importorskip("pandas")
    patcher = bytepatch.load_patcher("space")
    frame = pd.DataFrame({"id": ["a", "b"], "text": ["hello world", "x"]}, index=[10, 20])
    got = bytepatch.patch_table(frame, patcher, id_field="id")
    want = bytepatch.patch_table({"id": ["a", "b"], "text": ["hello world", "x"]}, patcher, id_field="id")
    assert got.equals(want) and got.column_names == ["id", "bytes", "patch_lengths"]
