"""patch_table's arguments, as a script passes them."""

from __future__ import annotations

import numpy as np
import pytest

import bytepatch
from bytepatch import EntropyPatcher, EntropyPatcherConfig


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


class ShiftedModel:
    """A user's model gone wrong: entropies shifted below 0, or scaled past float16."""

    kind, fingerprint, default_threshold, context_length = "shifted", "shifted-0", None, 0

    def __init__(self, scale: float, shift: float) -> None:
        self.scale, self.shift = scale, shift

    def entropies(self, docs):
        return [np.frombuffer(d, dtype=np.uint8).astype(np.float32) / 255 * self.scale + self.shift for d in docs]


@pytest.mark.parametrize(
    ("model", "what"), [(ShiftedModel(-1.0, 0.5), "is negative"), (ShiftedModel(1e5, 0.0), "is beyond float16")]
)
@pytest.mark.parametrize("window", [1 << 20, 4])  # whole documents, and one patched window by window
def test_entropies_a_dataset_would_refuse_on_reading_are_refused_on_writing(model, what, window):
    """They were stored, and every read of the shard then failed its entropy check."""
    patcher = EntropyPatcher(EntropyPatcherConfig(threshold=0.3), model=model)
    data = {"id": ["fine", "bad"], "text": ["\x00\x00", "ab\xffc"]}  # byte 2 of "bad" is the first out of range
    with pytest.raises(ValueError, match=rf"^bad: the entropy model gave byte \d+ an entropy that {what}"):
        bytepatch.patch_table(data, patcher, id_field="id", save_entropies=True, window=window)
    bytepatch.patch_table(data, patcher, id_field="id", window=window)  # not stored: nothing to refuse
