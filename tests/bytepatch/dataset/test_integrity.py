"""A damaged or hostile dataset is refused naming the file (and row), never read as
other data (issue 13.3 and 13.4)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from bytepatch import open_dataset
from bytepatch.cli.main import cli
from bytepatch.dataset import ShardError
from bytepatch.dataset.files import read_arrow_table
from bytepatch.dataset.integrity import checksums
from bytepatch.io import ReaderConfig
from bytepatch.segment import SegmentOptions, segment_corpus

SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sample"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "out"
    options = SegmentOptions(shard_size_mb=0.02, show_progress=False)
    segment_corpus([str(SAMPLE)], out, {"patcher": "space"}, ReaderConfig(), options)
    return out


@pytest.fixture
def ds(pristine, tmp_path) -> Path:
    shutil.copytree(pristine, tmp_path / "ds")
    return tmp_path / "ds"


def manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def save_manifest(path: Path, m: dict) -> None:
    (path / "manifest.json").write_text(json.dumps(m))


def read_all(path: Path) -> list:
    return [r.bytes for r in open_dataset(path)]


def stats_fails(path: Path, match: str) -> str:
    result = CliRunner().invoke(cli, ["stats", str(path)])
    assert result.exit_code == 1 and match in result.output and "Traceback" not in result.output, result.output
    return result.output


def rewrite_shard(path: Path, change) -> None:
    """Rewrite shard `path` with `change(columns)` applied, keeping its schema."""
    table = read_arrow_table(path)
    columns = {n: table.column(n).to_pylist() for n in table.schema.names}
    change(columns)
    new = pa.Table.from_pydict(columns, schema=table.schema)
    path.unlink()  # the old file is memory-mapped by `table`
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, new.schema) as w:
        w.write_table(new)


def refresh_entry(ds: Path, index: int) -> None:
    """Make the manifest agree with shard `index` as it now is (an attacker who fixes sums)."""
    m = manifest(ds)
    m["shards"][index].update(checksums(ds / m["shards"][index]["file"]))
    save_manifest(ds, m)


# 13.3: manifest shard entries are plain file names inside the dataset directory
@pytest.mark.parametrize(
    "name",
    [
        "../other/part-00000.arrow",
        "/etc/passwd",
        "../../../../etc/passwd",
        "sub/part.arrow",
        "..",
        "",
        ".manifest.json",
    ],
)
def test_manifest_entries_must_be_plain_names(ds, tmp_path, name):
    other = tmp_path / "other"
    shutil.copytree(ds, other)
    m = manifest(ds)
    m["shards"][0]["file"] = name
    save_manifest(ds, m)
    with pytest.raises(ValueError, match=r"shard entry 0: .* is not a plain file name inside the dataset directory"):
        open_dataset(ds)
    stats_fails(ds, "not a plain file name")


def test_a_manifest_listing_a_shard_twice_is_refused(ds):
    m = manifest(ds)
    m["shards"][1] = dict(m["shards"][0])
    m["documents"] = sum(s["documents"] for s in m["shards"])
    m["bytes"] = sum(s["bytes"] for s in m["shards"])
    m["patches"] = sum(s["patches"] for s in m["shards"])
    save_manifest(ds, m)
    with pytest.raises(ValueError, match="listed twice"):
        open_dataset(ds)


# 13.4: checksums, invalid rows, totals
def test_flipped_bytes_inside_a_shard_are_detected_on_read(ds):
    shard = ds / manifest(ds)["shards"][1]["file"]
    data = bytearray(shard.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
    shard.write_bytes(bytes(data))
    with pytest.raises(ShardError, match=rf"{shard.name}: checksum mismatch"):
        read_all(ds)
    stats_fails(ds, "checksum mismatch")
    result = CliRunner().invoke(cli, ["verify", str(ds)])
    assert result.exit_code == 1 and "checksum mismatch" in result.output


def test_a_truncated_shard_is_detected_by_size(ds):
    shard = ds / manifest(ds)["shards"][0]["file"]
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(ShardError, match="truncated or replaced"):
        read_all(ds)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda pl: pl.__setitem__(0, pl[0][:-1]), "patch lengths sum to"),
        (lambda pl: pl.__setitem__(0, [0] + pl[0]), "patch length 0"),
        (lambda pl: pl.__setitem__(0, [-2, pl[0][0] + 2] + pl[0][1:]), "patch length -2"),
        (lambda pl: pl.__setitem__(2, pl[2] + [7]), "patch lengths sum to"),
    ],
)
def test_rows_with_invalid_lengths_are_refused_naming_shard_and_row(ds, damage, message):
    name = manifest(ds)["shards"][0]["file"]

    def change(cols):
        damage(cols["patch_lengths"])

    rewrite_shard(ds / name, change)
    refresh_entry(ds, 0)  # even with matching checksums the rows are refused
    m = manifest(ds)
    with pytest.raises(ShardError, match=rf"{name} row [02]: {message}"):
        read_all(ds)
    stats_fails(ds, message)
    m["shards"][0].pop("crc32"), m["shards"][0].pop("sha256")  # a dataset written before checksums
    save_manifest(ds, m)
    with pytest.raises(ShardError, match=message):
        read_all(ds)


def test_wrong_manifest_totals_are_refused(ds):
    m = manifest(ds)
    m["documents"] += 1
    save_manifest(ds, m)
    with pytest.raises(ValueError, match="documents total .* differs from the sum over its shards"):
        open_dataset(ds)


def test_a_shard_entry_whose_counts_disagree_with_the_file_is_refused(ds):
    m = manifest(ds)
    m["shards"][0]["documents"] += 1
    m["documents"] += 1
    save_manifest(ds, m)
    with pytest.raises(ShardError, match="rows|documents, but the manifest lists"):
        read_all(ds)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "[]",
        '{"format": "bytepatch-dataset"}',
        "\xff\xfe",
        '{"format": "bytepatch-dataset", "format_version": "1"}',
    ],
)
def test_manifest_that_is_not_json_or_misses_keys_is_a_clean_error(ds, text):
    (ds / "manifest.json").write_text(text, encoding="latin-1")
    with pytest.raises(ValueError, match="manifest"):
        open_dataset(ds)
    stats_fails(ds, "manifest.json")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_manifest_that_is_not_a_regular_file_is_refused_unopened(ds, kind):
    """A FIFO named manifest.json made `stats`, `inspect`, `verify` and `open_dataset` wait for
    ever for a writer; a directory said `not a readable manifest ([Errno 21] Is a directory ...)`."""
    (ds / "manifest.json").unlink()
    if kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("needs FIFOs")
        os.mkfifo(ds / "manifest.json")
    else:
        (ds / "manifest.json").mkdir()
    with pytest.raises(ValueError, match="manifest.json: not a regular file, so not a manifest"):
        open_dataset(ds)
    stats_fails(ds, "manifest.json: not a regular file, so not a manifest; move it away")
    for command in (["inspect", str(ds), "--row", "0"], ["verify", str(ds)]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 1 and "manifest.json: not a regular file" in result.output, result.output


def test_verify_reports_a_sound_dataset(ds):
    result = CliRunner().invoke(cli, ["verify", str(ds)])
    assert result.exit_code == 0, result.output
    assert "all checksums match" in result.output


def test_a_resumed_run_rewrites_a_kept_shard_that_was_altered(tmp_path):
    out = tmp_path / "out"
    options = SegmentOptions(shard_size_mb=0.02, show_progress=False)
    segment_corpus([str(SAMPLE)], out, {"patcher": "space"}, ReaderConfig(), options)
    expected = [(r.id, r.bytes, r.patch_lengths) for r in open_dataset(out)]
    (out / "manifest.json").unlink()  # as if killed before the manifest was written

    def merge_first_two(cols):  # still a valid-looking row: the sums match
        pl = cols["patch_lengths"][0]
        cols["patch_lengths"][0] = [pl[0] + pl[1]] + pl[2:]

    rewrite_shard(next(out.glob("*-00000.arrow")), merge_first_two)
    resumed = SegmentOptions(shard_size_mb=0.02, show_progress=False, resume=True)
    segment_corpus([str(SAMPLE)], out, {"patcher": "space"}, ReaderConfig(), resumed)
    assert [(r.id, r.bytes, r.patch_lengths) for r in open_dataset(out)] == expected


def test_shard_paths_are_built_once_not_per_lookup(ds):
    """A 100k-shard dataset must not rebuild its shard list for every shard it reads."""
    dataset = open_dataset(ds)
    assert dataset.shard_files is dataset.shard_files


def test_stats_never_prints_control_or_zero_width_characters_from_metadata(ds):
    m = manifest(ds)
    hostile = "m\x1b]0;pwned\x07\u200b\ufeff"
    m["metadata"]["entropy_model"] = {"name": hostile, "kind": "ngram", "fingerprint": "f", "precision": "fp32"}
    save_manifest(ds, m)
    for i, entry in enumerate(m["shards"]):  # the shards say the same, as a hostile writer would make them
        replace_shard(ds, i, read_arrow_table(ds / entry["file"]).replace_schema_metadata(None))
    result = CliRunner().invoke(cli, ["stats", str(ds)])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\u200b" not in result.output and "\ufeff" not in result.output
    assert "m\\e]0;pwned\\x07\\u200b\\ufeff" in result.output
    m["metadata"]["patcher"] = {"patcher": "space" + hostile, "max_patch_length": None}  # refused, still escaped
    save_manifest(ds, m)
    result = CliRunner().invoke(cli, ["stats", str(ds)])
    assert result.exit_code == 1 and "unknown patcher" in result.output
    assert "\x1b" not in result.output and "\u200b" not in result.output and "\ufeff" not in result.output


def replace_shard(ds: Path, index: int, table: pa.Table, edit=lambda stream: stream) -> None:
    """Write `table` as shard `index`, its IPC stream changed by `edit`, and make the
    manifest agree (checksums and counts): what a hostile or buggy writer can produce."""
    m = manifest(ds)
    entry = m["shards"][index]
    path = ds / entry["file"]
    if table.schema.metadata is None:  # the shard's own record of how it was made: the manifest's
        table = table.replace_schema_metadata({b"bytepatch": json.dumps(m["metadata"]).encode()})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    path.unlink()
    path.write_bytes(edit(sink.getvalue().to_pybytes()))
    entry.update(checksums(path), documents=table.num_rows)
    entry["bytes"] = sum(len(b) for b in table.column("bytes").to_pylist())
    entry["patches"] = sum(len(x) for x in table.column("patch_lengths").to_pylist())
    for key in ("documents", "bytes", "patches"):
        m[key] = sum(s[key] for s in m["shards"])
    save_manifest(ds, m)


IDS = pa.array(["a", "b"])
DOCS = pa.array([b"hello", b"hi"], pa.large_binary())
LENGTHS = pa.array([[2, 3], [2]], pa.list_(pa.int32()))


@pytest.mark.parametrize(
    "columns, message",
    [
        ({"id": pa.array([1, 2]), "bytes": DOCS, "patch_lengths": LENGTHS}, "column 'id' is int64, not string"),
        (
            {"id": IDS, "bytes": pa.array(["hello", "hi"]), "patch_lengths": LENGTHS},
            "'bytes' is string, not large_binary",
        ),
        (
            {"id": IDS, "bytes": DOCS, "patch_lengths": pa.array([["2", "3"], ["2"]])},
            "'patch_lengths' is list<item: string>, not list<item: int32>",
        ),
        (
            {"id": IDS, "bytes": DOCS, "patch_lengths": pa.array([[2.5, 2.5], [2.0]], pa.list_(pa.float64()))},
            "'patch_lengths' is list<item: double>",
        ),
        (
            {"id": IDS, "bytes": DOCS, "patch_lengths": pa.array([[2, 3], [1, 1]], pa.list_(pa.int32(), 2))},
            "'patch_lengths' is fixed_size_list",
        ),
        ({"id": IDS, "bytes": DOCS, "patch_lengths": pa.array([{"a": 1}, {"a": 2}])}, "'patch_lengths' is struct"),
        ({"id": IDS, "bytes": DOCS, "patch_lengths": LENGTHS, "junk": pa.array([1, 2])}, "unexpected column 'junk'"),
        (
            {"id": IDS, "bytes": DOCS, "patch_lengths": pa.array([[2, None, 3], [2]], pa.list_(pa.int32()))},
            "row 0: null value inside patch_lengths",
        ),
    ],
)
def test_a_shard_of_other_column_types_is_refused_though_its_checksums_agree(ds, columns, message):
    """Such a shard passed `verify`, and was read as other data (floats truncated, strings
    parsed as numbers, ids of another type) or failed with a traceback."""
    replace_shard(ds, 1, pa.table(columns))
    with pytest.raises(ShardError, match=re.escape(message)):
        open_dataset(ds).read_shard(1)
    result = CliRunner().invoke(cli, ["verify", str(ds)])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output, result.output


def test_a_column_twice_is_refused(ds):
    table = pa.Table.from_arrays([IDS, DOCS, LENGTHS, IDS], names=["id", "bytes", "patch_lengths", "id"])
    replace_shard(ds, 0, table)
    with pytest.raises(ShardError, match="column 'id' appears 2 times"):
        open_dataset(ds).read_shard(0)


def test_shard_columns_must_be_the_manifests(ds):
    """A shard with entropies in a dataset whose manifest lists none (or the reverse) is
    refused, not read with a column that differs from one shard to the next."""
    entropies = pa.array([[1.0] * 5, [1.0] * 2], pa.list_(pa.float16()))
    replace_shard(ds, 0, pa.table({"id": IDS, "bytes": DOCS, "patch_lengths": LENGTHS, "entropies": entropies}))
    with pytest.raises(ShardError, match=r"holds the columns \['id', 'bytes', 'patch_lengths', 'entropies'\]"):
        open_dataset(ds).read_shard(0)


def test_a_negative_entropy_is_refused(ds):
    m = manifest(ds)
    m["metadata"]["columns"] = ["id", "bytes", "patch_lengths", "entropies"]
    save_manifest(ds, m)
    for i in range(len(m["shards"])):
        entropies = pa.array([[-1.0] * 5, [1.0] * 2] if i == 1 else [[1.0] * 5, [1.0] * 2], pa.list_(pa.float16()))
        replace_shard(ds, i, pa.table({"id": IDS, "bytes": DOCS, "patch_lengths": LENGTHS, "entropies": entropies}))
    open_dataset(ds).read_shard(0)  # entropies of 0 and more are fine
    with pytest.raises(ShardError, match="row 0: entropy -1.0 is negative"):
        open_dataset(ds).read_shard(1)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("patcher", 5, "a patcher must be a JSON object"),
        ("entropy_model", "x", "entropy model record must be a JSON object"),
        ("calibration", [1], "calibration must be an object"),
        ("columns", 3, "columns must be ['id', 'bytes', 'patch_lengths'], optionally with 'entropies' last; got 3"),
        ("columns", "id", "got 'id'"),
        ("columns", ["id", "bytes"], "got ['id', 'bytes']"),
        ("bytepatch_version", [1], "bytepatch_version must be a string"),
        ("format_version", "1", "format_version must be an integer"),
    ],
)
def test_manifest_metadata_of_the_wrong_type_is_refused_on_open(ds, key, value, message):
    """`stats` and `inspect` printed tracebacks ('int' object has no attribute 'items')."""
    m = manifest(ds)
    m["metadata"][key] = value
    save_manifest(ds, m)
    with pytest.raises(ValueError, match=re.escape(message)):
        open_dataset(ds)
    for command in ("stats", "verify"):
        result = CliRunner().invoke(cli, [command, str(ds)])
        assert result.exit_code == 1 and "manifest.json: metadata:" in result.output, result.output
        assert message in result.output and "Traceback" not in result.output, result.output


@pytest.mark.parametrize("name", ["train-00099.arrow", "part-00000.arrow", "train-00000-00003.parquet"])
def test_verify_refuses_a_file_named_as_a_shard_that_the_manifest_does_not_list(ds, name):
    """bytepatch's readers go by the manifest, but a glob of the shards and
    `datasets.load_dataset(DIR)` would read the stray file's rows with the others."""
    first = ds / manifest(ds)["shards"][0]["file"]
    shutil.copyfile(first, ds / name)
    assert len(read_all(ds)) > 0  # reading by the manifest is unaffected
    result = CliRunner().invoke(cli, ["verify", str(ds)])
    assert result.exit_code == 1 and f"{name}: named as a shard but not listed" in result.output, result.output
    (ds / name).unlink()
    assert CliRunner().invoke(cli, ["verify", str(ds)]).exit_code == 0


@pytest.mark.parametrize(
    "name", ["train-00000 (1).arrow", "train-5.arrow", "train-00000.arrow.bak", "backup.arrow", "old-train.parquet"]
)
def test_verify_refuses_an_unlisted_copy_that_glob_readers_or_datasets_would_read(ds, name):
    """A copy a file manager or a hand made (`train-00000 (1).arrow`, `train-5.arrow`) is
    read by `datasets.load_dataset(DIR)` (any name with `train` between separators) or a
    `*.arrow` glob as more rows; `verify` said ok, as it only knew bytepatch's own names."""
    shutil.copyfile(ds / manifest(ds)["shards"][0]["file"], ds / name)
    result = CliRunner().invoke(cli, ["verify", str(ds)])
    assert result.exit_code == 1 and f"{name}: named as a shard but not listed" in result.output, result.output


def test_verify_names_a_renamed_shard_missing_before_its_new_name_stray(ds):
    """A shard renamed by hand is first of all missing: called stray, the advice to remove it
    would delete the rows the manifest lists."""
    name = manifest(ds)["shards"][1]["file"]
    (ds / name).rename(ds / f"{name} (copy).arrow")
    result = CliRunner().invoke(cli, ["verify", str(ds)])
    assert result.exit_code == 1 and f"{name}: cannot read shard" in result.output, result.output


def test_verify_leaves_files_no_shard_reader_takes(ds):
    """A README, notes, bytepatch's job manifests and hidden files are not shards to any reader."""
    names = ("README.md", "notes.txt", "training-notes.md", "train.log", "manifest-00000-of-00002.json")
    for name in (*names, ".train-00000.arrow.h-1-ab.tmp", ".hidden"):
        (ds / name).write_text("x")
    assert CliRunner().invoke(cli, ["verify", str(ds)]).exit_code == 0


def test_offsets_outside_a_column_are_refused_not_read_past_the_buffer(ds):
    """A string or list column whose offsets point past its values: `verify` passed it and
    an id was read beyond its buffer, or crashed with an IndexError."""
    import numpy as np

    ids = pa.array(["a", "bc"])
    good = np.array([0, 1, 3], np.int32).tobytes()  # the ids' offsets, as the stream holds them
    bad = np.array([0, 1, 900], np.int32).tobytes()

    def past_the_end(stream: bytes) -> bytes:
        assert stream.count(good) == 1
        return stream.replace(good, bad)

    replace_shard(ds, 0, pa.table({"id": ids, "bytes": DOCS, "patch_lengths": LENGTHS}), past_the_end)
    with pytest.raises(ShardError, match="not a valid Arrow table .*offsets"):
        open_dataset(ds).read_shard(0)
    result = CliRunner().invoke(cli, ["verify", str(ds)])
    assert result.exit_code == 1 and "not a valid Arrow table" in result.output and "Traceback" not in result.output


def test_a_shard_whose_own_metadata_differs_from_the_manifest_is_refused(ds):
    """Any shard alone says how its rows were made (docs/dataset.md); one saying otherwise
    than the manifest passed `verify`, and misled whoever read it alone."""
    table = read_arrow_table(ds / manifest(ds)["shards"][0]["file"])
    own = json.loads(table.schema.metadata[b"bytepatch"])
    own["patcher"] = {"patcher": "space", "max_patch_length": 3}
    replace_shard(ds, 0, table.replace_schema_metadata({b"bytepatch": json.dumps(own).encode()}))
    with pytest.raises(ShardError, match="its own metadata .* differs from the manifest's"):
        open_dataset(ds).read_shard(0)
    result = CliRunner().invoke(cli, ["verify", str(ds)])
    assert result.exit_code == 1 and "differs from the manifest's" in result.output, result.output


def verify_fails(path: Path, match: str) -> None:
    result = CliRunner().invoke(cli, ["verify", str(path)])
    lines = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert result.exit_code == 1 and len(lines) == 1 and match in lines[0], result.output


def test_a_manifest_whose_shards_were_reordered_is_refused(ds):
    """The manifest's order is the dataset's row order; `datasets` and a sorted glob read
    the shards in name order. A shard list reordered by hand passed `verify`, and
    bytepatch then read the rows in another order than every other reader."""
    m = manifest(ds)
    assert len(m["shards"]) >= 3
    m["shards"][1], m["shards"][2] = m["shards"][2], m["shards"][1]
    save_manifest(ds, m)
    first, second = m["shards"][1]["file"], m["shards"][2]["file"]
    verify_fails(ds, f"{ds / 'manifest.json'}: shard entry 2 ({second}) is listed after {first}, out of name order")
    with pytest.raises(ValueError, match="out of name order"):
        open_dataset(ds)


@pytest.mark.parametrize("index", [-1, 7, "0", True])
def test_a_shard_entry_whose_index_is_not_its_names_number_is_refused(ds, index):
    """`index` was never checked: -1, or the number of another shard, passed `verify`."""
    m = manifest(ds)
    m["shards"][0]["index"] = index
    save_manifest(ds, m)
    name = m["shards"][0]["file"]
    reason = "'index' is 7, but its name says 0" if index == 7 else f"'index' is {index!r}, not a count"
    verify_fails(ds, f"{ds / 'manifest.json'}: shard entry 0 ({name})")
    with pytest.raises(ValueError, match=re.escape(reason)):
        open_dataset(ds)


def test_manifests_in_the_orders_earlier_versions_wrote_still_read(ds, tmp_path):
    """Plain string order, as versions before natural order listed more than 99,999
    shards (train-100000 before train-99999), and entries without `index` (made by hand)
    are read (job names, train-JJJJJ-CCCCC: tests/cli/test_segment_jobs.py)."""
    rows = read_all(ds)
    m = manifest(ds)
    for i, entry in enumerate(m["shards"]):
        name = f"train-{99_998 + i}.arrow"  # 99998, 99999, 100000, ...
        (ds / entry["file"]).rename(tmp_path / name)
        entry["file"], entry["index"] = name, 99_998 + i
    for entry in m["shards"]:
        (tmp_path / entry["file"]).rename(ds / entry["file"])
    m["shards"].sort(key=lambda e: e["file"])  # in plain string order
    assert m["shards"][0]["file"] == "train-100000.arrow"
    save_manifest(ds, m)
    assert sorted(read_all(ds)) == sorted(rows)
    for entry in m["shards"]:
        del entry["index"]
    save_manifest(ds, m)
    assert sorted(read_all(ds)) == sorted(rows)
