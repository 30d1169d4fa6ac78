"""Hugging Face `datasets` both ways: it reads what `segment` writes, `segment` reads what
it saves, and `Dataset.map(batched=True, num_proc=2)` with `patch_table` gives `segment`'s rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from bytepatch.cli.main import cli
from bytepatch.dataset import open_dataset
from bytepatch.dataset.files import read_arrow_table
from bytepatch.entropy import NgramConfig, NgramModel

datasets = pytest.importorskip("datasets", reason="pip install datasets (the test extra installs it)")

SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sample"
JSONL = SAMPLE / "stdlib_docstrings.jsonl"


def segment(*args: str) -> None:
    result = CliRunner().invoke(cli, ["segment", *args, "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def as_rows(table) -> list[tuple]:
    return sorted((r["id"], r["bytes"], tuple(r["patch_lengths"])) for r in table.to_pylist())


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hf") / "out"
    segment(str(JSONL), "-o", str(out), "--patcher", "space", "--shard-size-mb", "0.02", "--id-field", "id")
    return out


def test_datasets_reads_a_segment_dataset(dataset_dir: Path, tmp_path: Path):
    expected = as_rows(open_dataset(dataset_dir).to_table())
    shards = sorted(dataset_dir.glob("*.arrow"))
    assert len(shards) > 1 and (dataset_dir / "manifest.json").exists()
    cache = str(tmp_path / "cache")
    by_dir = datasets.load_dataset(str(dataset_dir), split="train", cache_dir=cache)
    by_builder = datasets.load_dataset("arrow", data_dir=str(dataset_dir), split="train", cache_dir=cache)
    from_files = datasets.concatenate_datasets([datasets.Dataset.from_file(str(s)) for s in shards])
    for ds in (by_dir, by_builder, from_files):
        assert as_rows(ds.with_format("arrow")[:]) == expected


def test_polars_and_duckdb_read_the_shards(dataset_dir: Path):
    import duckdb
    import polars as pl

    shard = str(sorted(dataset_dir.glob("*.arrow"))[0])
    shard_table = read_arrow_table(shard)
    assert pl.read_ipc_stream(shard).height == shard_table.num_rows
    assert duckdb.sql("select count(*) from shard_table").fetchall()[0][0] == shard_table.num_rows


def test_datasets_written_in_the_ipc_file_format_still_read(dataset_dir: Path, tmp_path: Path):
    """Datasets of earlier versions: `part-` names, IPC file format, uncompressed buffers."""
    old = tmp_path / "old"
    old.mkdir()
    manifest = json.loads((dataset_dir / "manifest.json").read_text())
    for shard in manifest["shards"]:
        table = read_arrow_table(dataset_dir / shard["file"])
        shard["file"] = shard["file"].replace("train-", "part-")
        with pa.OSFile(str(old / shard["file"]), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        shard["file_size"] = (old / shard["file"]).stat().st_size  # older versions recorded no checksums
        shard.pop("crc32", None), shard.pop("sha256", None)
    (old / "manifest.json").write_text(json.dumps(manifest))
    assert as_rows(open_dataset(old).to_table()) == as_rows(open_dataset(dataset_dir).to_table())


def test_segment_reads_a_save_to_disk_directory_as_rows(tmp_path: Path):
    texts = [f"document number {i}: " + "word " * i for i in range(40)]
    saved = tmp_path / "saved"
    datasets.Dataset.from_dict({"text": texts, "n": list(range(40))}).save_to_disk(str(saved), num_shards=2)
    segment(str(saved), "-o", str(tmp_path / "out"), "--patcher", "space")
    rows = open_dataset(tmp_path / "out").to_table().to_pylist()
    assert [r["bytes"] for r in rows] == [t.encode() for t in texts]  # no dataset_info.json/state.json rows


def test_segment_reads_a_saved_dataset_dict_in_its_split_order(tmp_path: Path):
    """Every split, in the order dataset_dict.json lists them (as `load_from_disk` gives
    them: a sorted walk read "test" before "train"); a directory it does not list is
    skipped, as `load_from_disk` skips it, and said; a listed split missing is an error."""
    texts = [f"document number {i}" for i in range(7)]
    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"text": texts[:5]}),
            "test": datasets.Dataset.from_dict({"text": texts[5:7]}),
        }
    )
    dd.save_to_disk(str(tmp_path / "dd"))
    datasets.Dataset.from_dict({"text": ["not a split"]}).save_to_disk(str(tmp_path / "dd" / "scratch"))
    result = CliRunner().invoke(
        cli, ["segment", str(tmp_path / "dd"), "-o", str(tmp_path / "out"), "--patcher", "space"]
    )
    assert result.exit_code == 0, result.output
    assert "DatasetDict: reading the split(s) its dataset_dict.json lists (train, test), skipping 1" in result.output
    rows = open_dataset(tmp_path / "out").to_table().to_pylist()
    assert [r["bytes"] for r in rows] == [t.encode() for t in texts]
    assert rows[0]["id"].startswith("train/") and rows[-1]["id"].startswith("test/")
    (tmp_path / "dd" / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "validation"]}))
    result = CliRunner().invoke(
        cli, ["segment", str(tmp_path / "dd"), "-o", str(tmp_path / "o2"), "--patcher", "space"]
    )
    assert result.exit_code == 1 and "validation: split listed in dataset_dict.json but missing" in result.output


def test_a_saved_dataset_of_no_rows_is_an_input_of_no_documents(tmp_path: Path):
    """`save_to_disk` of an empty Dataset writes no data file (state.json lists none): it was
    refused as "directory contains no files", beside its two JSON files, where an empty
    JSONL file gives a dataset of no rows. Now it is one too, alone or as a DatasetDict."""
    empty = datasets.Dataset.from_dict({"text": []}, features=datasets.Features({"text": datasets.Value("string")}))
    empty.save_to_disk(str(tmp_path / "empty"))
    datasets.DatasetDict({"train": empty, "test": empty}).save_to_disk(str(tmp_path / "dd"))
    for name in ("empty", "dd"):
        segment(str(tmp_path / name), "-o", str(tmp_path / f"out-{name}"), "--patcher", "space")
        ds = open_dataset(tmp_path / f"out-{name}")
        assert ds.num_rows == 0 and len(ds.manifest["shards"]) == 1
    (tmp_path / "nothing").mkdir()  # a directory of no files at all is still refused
    result = CliRunner().invoke(cli, ["segment", str(tmp_path / "nothing"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1 and "directory contains no files" in result.output


@pytest.mark.parametrize("listed", ["../notes.txt", "/etc/hostname", "notes.txt", "sub/../../notes.arrow"])
def test_a_state_json_listing_a_file_outside_its_directory_is_refused(tmp_path: Path, listed: str):
    """A state.json entry was joined to the directory and read as it stood: `../notes.txt`
    (a file beside the dataset) and `/etc/hostname` became documents (exit 0), where
    `load_from_disk` reads Arrow files of the directory only."""
    saved = tmp_path / "saved"
    datasets.Dataset.from_dict({"text": ["a", "b"]}).save_to_disk(str(saved))
    (tmp_path / "notes.txt").write_text("private notes beside the dataset")
    (saved / "notes.txt").write_text("notes inside, not Arrow")
    state = json.loads((saved / "state.json").read_text())
    state["_data_files"].append({"filename": listed})
    (saved / "state.json").write_text(json.dumps(state))
    result = CliRunner().invoke(cli, ["segment", str(saved), "-o", str(tmp_path / "out"), "--patcher", "space"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert f"{saved / 'state.json'}: lists the data file {listed!r}, not an Arrow file inside" in result.output
    assert not (tmp_path / "out" / "manifest.json").exists()


MAP_RECIPE = """
import sys, datasets, bytepatch
model, jsonl, cache, out = sys.argv[1:]
patcher = bytepatch.load_patcher("entropy", entropy_model=model, threshold=1.5)
ds = datasets.load_dataset("json", data_files=jsonl, split="train", cache_dir=cache)
patched = ds.with_format("arrow").map(
    lambda batch: bytepatch.patch_table(batch, patcher, id_field="id"),
    batched=True, batch_size=16, num_proc=2, remove_columns=ds.column_names,
)
patched.save_to_disk(out)
"""


def test_map_recipe_equals_segment(tmp_path: Path):
    """The recipe of docs/engines.md: `Dataset.map` over Arrow batches with `patch_table`.
    Run as a script of its own: this test process has already run the numba kernels,
    and forked map workers must start from a process that has not (see the docs)."""
    model = tmp_path / "ngram"
    docs = [json.loads(line)["text"].encode() for line in JSONL.read_text().splitlines()]
    NgramModel.fit(docs, NgramConfig(order=3, min_count=1)).save(model)
    segment(
        str(JSONL), "-o", str(tmp_path / "out"), "--entropy-model", str(model), "--threshold", "1.5", "--id-field", "id"
    )
    saved = tmp_path / "mapped"
    args = [str(model), str(JSONL), str(tmp_path / "cache"), str(saved)]
    subprocess.run([sys.executable, "-c", MAP_RECIPE, *args], check=True, capture_output=True, timeout=300)
    patched = datasets.load_from_disk(str(saved))
    assert patched.num_rows == open_dataset(tmp_path / "out").num_rows
    assert as_rows(patched.with_format("arrow")[:]) == as_rows(open_dataset(tmp_path / "out").to_table())
