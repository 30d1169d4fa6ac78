"""The Python front door equals the command line: `load_patcher` / `from_pretrained`
build the patcher `bytepatch segment` builds, row for row; patchers pickle small."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

import bytepatch
from bytepatch.cli.main import cli
from bytepatch.dataset import open_dataset, read_metadata
from bytepatch.entropy import NgramConfig, NgramModel, load_entropy_model
from bytepatch.entropy.source import ModelSource, SharedModel, load_source
from bytepatch.io import InputError, iter_documents
from bytepatch.patchers import REFERENCE_THRESHOLD, EntropyPatcherConfig

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample"
JSONL = SAMPLE / "stdlib_docstrings.jsonl"


def segment(*args: str) -> None:
    result = CliRunner().invoke(cli, ["segment", *args, "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def library_rows(patcher, inputs) -> dict[str, list[int]]:
    docs = list(iter_documents([str(i) for i in inputs]))
    lengths = patcher.patch_batch([d.data for d in docs])
    return {d.id: row.tolist() for d, row in zip(docs, lengths)}


def dataset_rows(path: Path) -> dict[str, list[int]]:
    return {r.id: list(r.patch_lengths) for r in open_dataset(path)}


@pytest.fixture(scope="module")
def small_model(tmp_path_factory) -> Path:
    """A tiny n-gram model saved to disk (fast to load), with no default threshold."""
    docs = [d.data for d in iter_documents([str(JSONL)])]
    path = tmp_path_factory.mktemp("model") / "ngram"
    NgramModel.fit(docs, NgramConfig(order=3, min_count=1)).save(path)
    return path


def test_default_patcher_equals_segment_row_for_row(tmp_path: Path):
    segment(str(SAMPLE), "-o", str(tmp_path / "out"))
    patcher = bytepatch.load_patcher()
    shipped = load_entropy_model().default_threshold
    assert patcher.config.threshold == shipped != REFERENCE_THRESHOLD
    assert bytepatch.EntropyPatcher.from_pretrained("default").config == patcher.config
    # The plain constructor with a model takes the model's threshold too (not BLT's 1.335).
    assert bytepatch.EntropyPatcher(model=patcher.model).config.threshold == shipped
    expected = dataset_rows(tmp_path / "out")
    assert len(expected) > 60 and library_rows(patcher, [SAMPLE]) == expected
    meta = open_dataset(tmp_path / "out").metadata
    assert meta["patcher"] == patcher.to_dict()
    assert meta["entropy_model"]["fingerprint"] == patcher.model.fingerprint


@pytest.mark.parametrize(
    "cli_args, options",
    [
        (["--threshold", "1.5", "--max-patch-length", "8"], {"threshold": 1.5, "max_patch_length": 8}),
        (["--threshold-add", "0.3"], {"threshold_add": 0.3}),
        (["--patcher", "space", "--max-patch-length", "5"], {"max_patch_length": 5}),
        (["--patcher", "stride", "--stride", "3"], {"stride": 3}),
    ],
)
def test_options_equal_segment(tmp_path: Path, small_model: Path, cli_args, options):
    name = cli_args[1] if cli_args[0] == "--patcher" else "entropy"
    extra = [] if name != "entropy" else ["--entropy-model", str(small_model)]
    segment(str(JSONL), "-o", str(tmp_path / "out"), *cli_args, *extra)
    if name == "entropy":
        options = {**options, "entropy_model": small_model}
    patcher = bytepatch.load_patcher(name, **options)
    assert library_rows(patcher, [JSONL]) == dataset_rows(tmp_path / "out")


def test_calibrated_patcher_equals_segment(tmp_path: Path, small_model: Path):
    segment(str(JSONL), "-o", str(tmp_path / "out"), "--entropy-model", str(small_model), "--target-patch-size", "4")
    patcher = bytepatch.load_patcher(entropy_model=small_model, target_patch_size=4, calibration_data=[JSONL])
    meta = open_dataset(tmp_path / "out").metadata
    assert meta["calibration"]["threshold"] == patcher.config.threshold
    assert library_rows(patcher, [JSONL]) == dataset_rows(tmp_path / "out")


def test_a_model_without_default_threshold_needs_one(small_model: Path):
    with pytest.raises(ValueError, match="no default threshold"):
        bytepatch.load_patcher(entropy_model=small_model)
    with pytest.raises(ValueError, match="calibration_data"):
        bytepatch.load_patcher(entropy_model=small_model, target_patch_size=4)


@pytest.mark.parametrize(
    "patcher, options, message",
    [
        ("space", {"threshold": 1.0}, "threshold does not apply to the space patcher"),
        ("stride", {"target_patch_size": 6, "calibration_data": ["x"]}, "target_patch_size, calibration_data do not"),
        ("entropy", {"stride": 7}, "stride does not apply to the entropy patcher"),
        ("entropy", {"device": "bogus"}, "device must be cpu, auto or an accelerator"),
        ("entropy", {"calibration_data": ["x"]}, "calibration_data is the sample for target_patch_size"),
    ],
)
def test_options_of_another_patcher_are_refused_as_on_the_command_line(patcher, options, message):
    """They were dropped silently: load_patcher("space", threshold=1.0) gave a space patcher."""
    from bytepatch.errors import PatcherOptionError

    with pytest.raises(PatcherOptionError, match=message):
        bytepatch.load_patcher(patcher, **options)


def test_batch_calls_take_str_bytes_and_arrow_arrays():
    patcher = bytepatch.load_patcher("space")
    docs = ["hello world", "naïve café", b"\xff\x00 raw", ""]
    expected = [bytepatch.space_patch_lengths(d.encode() if isinstance(d, str) else d).tolist() for d in docs]
    assert [r.tolist() for r in patcher.patch_batch(docs)] == expected
    as_bytes = [d.encode() if isinstance(d, str) else d for d in docs]
    for array in (
        pa.array(as_bytes, pa.binary()),
        pa.array(as_bytes, pa.large_binary()),
        pa.chunked_array([as_bytes[:2], as_bytes[2:]], pa.binary()),
    ):
        assert [r.tolist() for r in patcher.patch_batch(array)] == expected
    sliced = pa.array(docs[:2] + ["tail end"], pa.string()).slice(1)  # a slice with a non-zero offset
    assert [r.tolist() for r in patcher.patch_batch(sliced)] == expected[1:2] + [[5, 3]]
    assert patcher.patch_lengths(b"hello world").tolist() == [6, 5]
    with pytest.raises(TypeError, match="batch"):
        patcher.patch_batch("hello")
    with pytest.raises(ValueError, match="document 1 is null"):
        patcher.patch_batch(pa.array(["a", None]))
    with pytest.raises(TypeError, match="document 1: expected str, bytes or a uint8 array, got NoneType"):
        patcher.patch_batch([b"a", None])
    # One document as str, as the batch calls take it (it was a TypeError).
    for name in ("space", "stride", "entropy"):
        one = bytepatch.load_patcher(name)
        assert one.patch_lengths("naïve café").tolist() == one.patch_lengths("naïve café".encode()).tolist()
        assert one.patches("naïve café") == one.patches("naïve café".encode())


def test_patch_table_gives_segment_rows_and_schema(tmp_path: Path, small_model: Path):
    segment(
        str(JSONL),
        "-o",
        str(tmp_path / "out"),
        "--entropy-model",
        str(small_model),
        "--threshold",
        "1.2",
        "--id-field",
        "id",
        "--save-entropies",
    )
    patcher = bytepatch.load_patcher(entropy_model=small_model, threshold=1.2)
    source = pa.Table.from_pylist([{"id": d.id, "text": d.data} for d in iter_documents([str(JSONL)], id_field="id")])
    got = bytepatch.patch_table(source.to_batches(max_chunksize=7)[1], patcher, id_field="id", save_entropies=True)
    ds = open_dataset(tmp_path / "out")
    assert got.schema.equals(ds.read_shard(0).schema)  # same columns and types
    assert read_metadata(got.schema)["patcher"] == ds.metadata["patcher"]
    assert got.to_pylist() == ds.to_table().slice(7, 7).to_pylist()
    with pytest.raises(ValueError, match="needs document ids"):
        bytepatch.patch_table(source, patcher)


def test_patch_table_refuses_a_binary_id_that_is_not_utf8_as_segment_does():
    """b"\\xff" became the id "\\xff", which another row may hold as its real id."""
    patcher = bytepatch.load_patcher("space")
    table = pa.table({"text": ["a b", "c"], "id": pa.array([b"ok", b"\xff"], pa.binary())})
    with pytest.raises(ValueError, match=r"row 1: id b'\\xff' is not valid UTF-8"):
        bytepatch.patch_table(table, patcher, id_field="id")
    assert bytepatch.patch_table(table.slice(0, 1), patcher, id_field="id").column("id").to_pylist() == ["ok"]


def test_entropy_patcher_pickles_as_a_reference(small_model: Path, tmp_path: Path):
    patcher = bytepatch.load_patcher(entropy_model=small_model, threshold=1.0)
    blob = pickle.dumps(patcher)
    assert len(blob) < 2_000  # the model travels as path + fingerprint, not as weights
    again = pickle.loads(blob)
    docs = [b"def main():\n    return 0\n", b"hello"]
    assert [r.tolist() for r in again.patch_batch(docs)] == [r.tolist() for r in patcher.patch_batch(docs)]
    # A model whose weights changed under the same path is refused, not silently used.
    other = NgramModel.fit([b"something else entirely"] * 3, NgramConfig(order=3, min_count=1))
    moved = tmp_path / "moved"
    other.save(moved)
    stale = SharedModel(ModelSource(str(moved), "ngram", patcher.model.fingerprint))
    with pytest.raises(ValueError, match="fingerprint"):
        pickle.loads(pickle.dumps(bytepatch.EntropyPatcher(patcher.config, stale))).patch_batch(docs)


def test_a_shared_model_loads_once_per_process(small_model: Path):
    patcher = bytepatch.load_patcher(entropy_model=small_model, threshold=1.0)
    first, second = pickle.loads(pickle.dumps(patcher)), pickle.loads(pickle.dumps(patcher))
    assert first.model.model is second.model.model is load_source(patcher.model.source)
    assert np.isfinite(first.model.entropies([b"abc"])[0]).all()


def test_a_loaded_model_pickles_as_a_reference_too(small_model: Path):
    """`EntropyPatcher(model=load_entropy_model(...))` ships small as well."""
    patcher = bytepatch.EntropyPatcher(EntropyPatcherConfig(threshold=1.0), load_entropy_model(small_model))
    blob = pickle.dumps(patcher)
    assert len(blob) < 2_000
    assert pickle.loads(blob).model is patcher.model  # this process: the memoised model itself
    in_memory = NgramModel.fit([b"abc abc abd"] * 3, NgramConfig(order=3, min_count=1))
    assert pickle.loads(pickle.dumps(in_memory)).fingerprint == in_memory.fingerprint  # not loaded: pickles whole


def test_numpy_and_wrongly_typed_options_of_load_patcher(small_model: Path):
    """A NumPy target_patch_size was recorded as is: the calibration record (dataset
    metadata) could not be written as JSON; a str target or an int device failed
    with a bare TypeError / AttributeError."""
    import json

    from bytepatch.errors import PatcherOptionError

    docs = [d.data for d in iter_documents([str(JSONL)])]
    built = bytepatch.build_patcher(
        entropy_model=small_model, target_patch_size=np.float32(4), calibration_data=docs, max_patch_length=np.int64(9)
    )
    assert json.loads(json.dumps(built.calibration))["target_patch_size"] == 4.0
    assert json.loads(json.dumps(bytepatch.patcher_metadata(built.patcher)))["patcher"]["max_patch_length"] == 9
    with pytest.raises(PatcherOptionError, match="target_patch_size must be a number of bytes, got '4.5'"):
        bytepatch.load_patcher(entropy_model=small_model, target_patch_size="4.5", calibration_data=docs)
    with pytest.raises(PatcherOptionError, match="device must be cpu, auto or an accelerator"):
        bytepatch.load_patcher(device=0)


def test_patch_table_takes_a_dict_of_no_rows_and_names_a_single_row():
    """{"text": []} (pyarrow infers the null type) was refused as "expected a pyarrow string
    or binary array, got null", and a column of only None the same way; one row's dict
    (`Dataset.map` without batched=True) failed in pa.table with "Column 1 named text
    expected length 2 but got length 11"."""
    patcher = bytepatch.load_patcher("space")
    empty = bytepatch.patch_table({"id": [], "text": []}, patcher, id_field="id")
    assert empty.num_rows == 0 and empty.schema.names == ["id", "bytes", "patch_lengths"]
    assert patcher.patch_batch(pa.array([], pa.null())).to_list() == []
    with pytest.raises(ValueError, match="document 0 is null"):
        bytepatch.patch_table({"id": ["a"], "text": [None]}, patcher, id_field="id")
    with pytest.raises(TypeError, match=r"'id' holds one str, not a column \(with datasets' map, pass batched=True\)"):
        bytepatch.patch_table({"id": "d0", "text": "hello world"}, patcher, id_field="id")
    with pytest.raises(TypeError, match="'id' holds one int"):
        bytepatch.patch_table({"id": 7, "text": ["hello world"]}, patcher, id_field="id")


def test_the_datasets_map_recipe_without_batched_says_what_to_pass():
    datasets = pytest.importorskip("datasets")
    patcher = bytepatch.load_patcher("space")
    ds = datasets.Dataset.from_dict({"id": ["a", "b"], "text": ["hello world", "x y"]})
    with pytest.raises(TypeError, match="pass batched=True"):
        ds.map(lambda row: bytepatch.patch_table(row, patcher, id_field="id"), remove_columns=ds.column_names)
    done = ds.map(
        lambda b: bytepatch.patch_table(b, patcher, id_field="id"), batched=True, remove_columns=ds.column_names
    )
    assert done["patch_lengths"] == [[6, 5], [2, 1]]


def test_patch_table_takes_numpy_integer_ids():
    """`ids=np.arange(n)` was refused: "row 0: id np.int64(0) is not a string or integer"."""
    patcher = bytepatch.load_patcher("space")
    table = pa.table({"text": ["a b", "c"]})
    for ids in (np.arange(2), np.array([0, 1], dtype=np.uint32), [np.int64(0), np.int16(1)]):
        assert bytepatch.patch_table(table, patcher, ids=ids).column("id").to_pylist() == ["0", "1"]
    with pytest.raises(ValueError, match="row 0: id .*0.0.* is not a string or integer"):
        bytepatch.patch_table(table, patcher, ids=np.array([0, 1.5]))


@pytest.mark.parametrize("window", [0, -1, 2.5])
def test_patch_table_refuses_a_window_that_is_not_a_positive_integer(window):
    """0 failed with "range() arg 3 must not be zero"; -1 patched long documents whole."""
    patcher = bytepatch.load_patcher("space")
    with pytest.raises(ValueError, match="window .* must be a positive integer"):
        bytepatch.patch_table({"text": ["a b c"]}, patcher, ids=["x"], window=window)
    assert bytepatch.patch_table({"text": ["a b c"]}, patcher, ids=["x"], window=2).column("patch_lengths")[
        0
    ].as_py() == [2, 2, 1]


def test_calibration_data_of_paths_documents_or_arrays_and_mixes_refused(small_model: Path):
    """A single Path failed with "'PosixPath' object is not iterable"; uint8 arrays, or
    bytes among paths, were read as files named by their repr (the whole array printed)."""
    docs = [d.data for d in iter_documents([str(JSONL)])]
    by_bytes = bytepatch.load_patcher(entropy_model=small_model, target_patch_size=4, calibration_data=docs)
    arrays = [np.frombuffer(d, np.uint8) for d in docs]
    by_arrays = bytepatch.load_patcher(entropy_model=small_model, target_patch_size=4, calibration_data=arrays)
    assert by_arrays.config == by_bytes.config
    by_path = bytepatch.load_patcher(entropy_model=small_model, target_patch_size=4, calibration_data=[JSONL])
    assert (
        by_path.config
        == bytepatch.load_patcher(entropy_model=small_model, target_patch_size=4, calibration_data=[str(JSONL)]).config
    )
    with pytest.raises(TypeError, match="not one str/bytes/path"):
        bytepatch.load_patcher(entropy_model=small_model, target_patch_size=4, calibration_data=JSONL)
    with pytest.raises(TypeError, match="mixes documents .bytes. and paths: item 0 is a bytes, item 1 a PosixPath"):
        bytepatch.load_patcher(entropy_model=small_model, target_patch_size=4, calibration_data=[docs[0], JSONL])
    with pytest.raises(TypeError, match="item 0 is a str, item 1 a bytes"):
        bytepatch.load_patcher(entropy_model=small_model, target_patch_size=4, calibration_data=[str(JSONL), b"x"])


def test_a_dictionary_encoded_text_column_is_patched_as_segment_reads_it(tmp_path: Path):
    """A pandas categorical (`pa.Table.from_pandas`, the Dask recipe) or polars Categorical
    text column was refused by patch_table ("expected a pyarrow string or binary array, got
    dictionary<values=string, ...>"), while `segment` reads the same Parquet file."""
    import pyarrow.parquet as pq

    patcher = bytepatch.load_patcher("space")
    texts = ["a b", "c dd e", "a b", "", "ünï cödé"]
    column = pa.array(texts).dictionary_encode()
    table = pa.table({"id": [f"r{i}" for i in range(len(texts))], "text": column})
    pq.write_table(table, tmp_path / "cats.parquet")
    segment(str(tmp_path / "cats.parquet"), "-o", str(tmp_path / "out"), "--patcher", "space", "--id-field", "id")
    expected = open_dataset(tmp_path / "out").to_table()
    assert bytepatch.patch_table(table, patcher, id_field="id").to_pylist() == expected.to_pylist()
    chunked = pa.chunked_array([pa.array(texts[:2]).dictionary_encode(), pa.array(texts[2:]).dictionary_encode()])
    assert [r.tolist() for r in patcher.patch_batch(chunked)] == [r.tolist() for r in patcher.patch_batch(texts)]
    assert [r.tolist() for r in patcher.patch_batch(column.slice(1, 2))] == [[2, 3, 1], [2, 1]]


def test_a_document_given_as_a_str_in_calibration_data_is_named_short_with_the_fix(small_model: Path):
    """A str is a path there: a document passed as one was refused with its whole text as the file name."""
    text = "a paragraph of text\n" * 50
    with pytest.raises(InputError) as err:
        bytepatch.load_patcher(entropy_model=small_model, target_patch_size=4, calibration_data=[text])
    message = str(err.value)
    assert len(message) < 250 and "(1,000 chars)" in message and "pass documents as bytes" in message


def test_load_patcher_spells_out_build_patchers_options():
    """It took `**options`, so help() and editors showed no option at all; the two lists must stay one."""
    import inspect

    from bytepatch.pretrained import build_patcher

    ours, theirs = inspect.signature(bytepatch.load_patcher).parameters, inspect.signature(build_patcher).parameters
    assert [(p.name, p.kind, p.default) for p in ours.values()] == [
        (p.name, p.kind, p.default) for p in theirs.values()
    ]
