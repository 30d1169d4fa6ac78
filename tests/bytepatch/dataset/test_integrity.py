"""A damaged or hostile dataset is refused naming the file (and row), never read as
other data (issue 13.3 and 13.4)."""

from __future__ import annotations

import json
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
    m["metadata"]["patcher"] = {"patcher": "space\x1b]0;pwned\x07\u200b\ufeff", "max_patch_length": None}
    save_manifest(ds, m)
    result = CliRunner().invoke(cli, ["stats", str(ds)])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\u200b" not in result.output and "\ufeff" not in result.output
    assert "space\\e]0;pwned\\x07\\u200b\\ufeff" in result.output
