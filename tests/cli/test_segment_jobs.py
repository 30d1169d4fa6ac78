"""Several jobs writing one dataset: --num-shards/--shard-index (torchrun is refused)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bytepatch.cli.main import cli
from bytepatch.dataset import open_dataset

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample"


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    """Five input files, so three jobs get unequal shares."""
    root = tmp_path / "corpus"
    root.mkdir()
    lines = (SAMPLE / "stdlib_docstrings.jsonl").read_text().splitlines()
    for i in range(5):
        (root / f"f{i}.jsonl").write_text("\n".join(lines[i::5]) + "\n")
    return root


def segment(*args: str):
    return CliRunner().invoke(cli, ["segment", *args, "--patcher", "space", "-q"], catch_exceptions=False)


def rows(path: Path) -> list[tuple]:
    return sorted((r.id, r.bytes, tuple(r.patch_lengths)) for r in open_dataset(path))


def test_jobs_merge_into_the_single_job_dataset(tmp_path: Path, corpus: Path):
    assert segment(str(corpus), "-o", str(tmp_path / "one")).exit_code == 0
    out = tmp_path / "many"
    for index in (2, 0):
        assert segment(str(corpus), "-o", str(out), "--num-shards", "3", "--shard-index", str(index)).exit_code == 0
        assert not (out / "manifest.json").exists()  # job 1 has not run yet
    assert segment(str(corpus), "-o", str(out), "--num-shards", "3", "--shard-index", "1").exit_code == 0
    assert rows(out) == rows(tmp_path / "one")
    assert len(open_dataset(out).manifest["shards"]) == 3
    # A job rerun needs --overwrite and only replaces its own files.
    again = segment(str(corpus), "-o", str(out), "--num-shards", "3", "--shard-index", "1")
    assert again.exit_code != 0 and "--overwrite" in again.output
    assert segment(str(corpus), "-o", str(out), "--num-shards", "3", "--shard-index", "1", "--overwrite").exit_code == 0
    assert rows(out) == rows(tmp_path / "one")


def test_job_arguments_are_checked(tmp_path: Path, corpus: Path):
    result = segment(str(corpus), "-o", str(tmp_path / "o"), "--num-shards", "2")
    assert result.exit_code != 0 and "go together" in result.output
    result = segment(str(corpus), "-o", str(tmp_path / "o"), "--num-shards", "2", "--shard-index", "2")
    assert result.exit_code != 0 and "below --num-shards" in result.output


def test_torchrun_is_refused_with_what_replaces_it(tmp_path: Path, corpus: Path, monkeypatch):
    for key, value in {"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}.items():
        monkeypatch.setenv(key, value)
    result = segment(str(corpus), "-o", str(tmp_path / "out"))
    assert result.exit_code != 0 and "--engine ray" in result.output and "--num-shards" in result.output
    assert not (tmp_path / "out").exists()


def test_jobs_with_different_settings_are_not_merged(tmp_path: Path, corpus: Path):
    out = tmp_path / "out"
    assert segment(str(corpus), "-o", str(out), "--num-shards", "2", "--shard-index", "0").exit_code == 0
    result = CliRunner().invoke(
        cli,
        [
            "segment",
            str(corpus),
            "-o",
            str(out),
            "--num-shards",
            "2",
            "--shard-index",
            "1",
            "--patcher",
            "stride",
            "-q",
        ],
    )
    assert result.exit_code != 0 and "other inputs or settings" in result.output
    assert not (out / "manifest.json").exists()


def test_jobs_replace_an_earlier_single_run_only_with_overwrite(tmp_path: Path, corpus: Path):
    out = tmp_path / "out"
    assert segment(str(corpus), "-o", str(out), "--shard-size-mb", "0.01").exit_code == 0
    single = sorted(p.name for p in out.glob("train-*.arrow"))
    refused = segment(str(corpus), "-o", str(out), "--num-shards", "2", "--shard-index", "0")
    assert refused.exit_code != 0 and "--overwrite" in refused.output
    for i in (0, 1):
        args = [str(corpus), "-o", str(out), "--num-shards", "2", "--shard-index", str(i), "--overwrite"]
        assert segment(*args).exit_code == 0
    assert not any((out / name).exists() for name in single)
    assert rows(out) == sorted(rows_of_glob(out))


def rows_of_glob(out: Path) -> list[tuple]:
    """Every row of every shard file, as a glob reader (DuckDB, polars) would see them."""
    import pyarrow as pa

    found = []
    for path in sorted(out.glob("train-*.arrow")):
        for r in pa.ipc.open_stream(str(path)).read_all().to_pylist():
            found.append((r["id"], r["bytes"], tuple(r["patch_lengths"])))
    return found


def test_jobs_split_inside_one_big_file(tmp_path: Path):
    """One JSONL, four jobs: each reads part of the file; together they make the one-job dataset."""
    big = tmp_path / "big.jsonl"
    big.write_bytes((SAMPLE / "stdlib_docstrings.jsonl").read_bytes() * 3)  # ~180 KB
    assert segment(str(big), "-o", str(tmp_path / "one")).exit_code == 0
    out = tmp_path / "many"
    for index in range(4):
        result = segment(
            str(big), "-o", str(out), "--num-shards", "4", "--shard-index", str(index), "--shard-size-mb", "0.02"
        )
        assert result.exit_code == 0 and "gets no input" not in result.output
        assert len(list(out.glob(f"train-{index:05d}-*.arrow"))) >= 1  # every job did work
    assert rows(out) == rows(tmp_path / "one")


def test_a_job_without_work_warns(tmp_path: Path, capsys):
    small = tmp_path / "small.txt"
    small.write_text("one document")
    result = CliRunner().invoke(
        cli,
        [
            "segment",
            str(small),
            "-o",
            str(tmp_path / "o"),
            "--patcher",
            "space",
            "--num-shards",
            "2",
            "--shard-index",
            "1",
        ],
    )
    assert result.exit_code == 0
    assert "job 1 of 2 gets no input" in result.output + capsys.readouterr().err


def test_jobs_rerun_in_the_other_format_leave_no_shard_of_the_earlier_run(tmp_path: Path, corpus: Path):
    """K jobs rerun with --overwrite in another --format: every shard of the earlier run goes,
    the job's own included. A shard in the other format was taken for a sibling's and kept,
    beside the new ones, for ever: `out/*.parquet` (DuckDB, polars) read the old rows."""
    out = tmp_path / "out"
    for i in (0, 1):
        args = [str(corpus), "-o", str(out), "--num-shards", "2", "--shard-index", str(i), "--shard-size-mb", "0.01"]
        assert segment(*args, "--format", "parquet").exit_code == 0
    assert list(out.glob("train-00000-*.parquet")) and list(out.glob("train-00001-*.parquet"))
    base = [str(corpus), "-o", str(out), "--num-shards", "2", "--shard-size-mb", "0.01", "--overwrite"]
    segment(*base, "--shard-index", "0")  # its merge meets job 1's earlier manifest: refused, as documented
    assert not list(out.glob("train-00000-*.parquet"))  # this job's own earlier shards
    assert segment(*base, "--shard-index", "1").exit_code == 0
    assert not list(out.glob("*.parquet")) and not list(out.glob(".*.tmp"))
    assert rows(out) == sorted(rows_of_glob(out))
