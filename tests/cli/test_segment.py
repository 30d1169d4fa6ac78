"""`bytepatch segment` end to end through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

import bytepatch
from bytepatch.cli.main import cli
from bytepatch.dataset import open_dataset

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "sample"


def run(*args: str, input: bytes | None = None):
    return CliRunner().invoke(cli, ["segment", *args], input=input, catch_exceptions=False)


def rows(path: Path) -> list[dict]:
    return sorted(open_dataset(path).to_table().to_pylist(), key=lambda r: r["id"])


def test_space_segment_of_the_sample(tmp_path: Path):
    out = tmp_path / "out"
    result = run(str(SAMPLE), "-o", str(out), "--patcher", "space", "--max-patch-length", "16")
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    got = rows(out)
    assert manifest["documents"] == len(got) > 60
    for row in got:
        expected = bytepatch.space_patch_lengths(row["bytes"], max_patch_length=16)
        assert row["patch_lengths"] == expected.tolist()
    assert manifest["metadata"]["patcher"] == {"patcher": "space", "max_patch_length": 16}
    assert manifest["bytes"] == sum(len(r["bytes"]) for r in got)
    ids = {r["id"] for r in got}
    assert "multilingual.txt" in ids and "stdlib_docstrings.jsonl:1" in ids  # relative to the input root


def test_dataset_is_readable_without_bytepatch(tmp_path: Path):
    out = tmp_path / "out"
    assert run(str(SAMPLE), "-o", str(out), "--patcher", "stride", "--stride", "5").exit_code == 0
    code = f"""
import glob, json, sys
import pyarrow as pa, pyarrow.ipc
files = sorted(glob.glob({str(out)!r} + '/train-*.arrow'))
t = pa.concat_tables(pa.ipc.open_stream(f).read_all() for f in files)
meta = json.loads(t.schema.metadata[b'bytepatch'])
assert meta['patcher'] == {{'patcher': 'stride', 'stride': 5, 'max_patch_length': None}}, meta
for row in t.to_pylist():
    assert sum(row['patch_lengths']) == len(row['bytes'])
    assert all(x == 5 for x in row['patch_lengths'][:-1])
assert not any(m.startswith('bytepatch') for m in sys.modules)
print(t.num_rows)
"""
    out_text = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(out_text) == open_dataset(out).num_rows


def test_other_readers_open_the_dataset(tmp_path: Path):
    out = tmp_path / "out"
    assert run(str(SAMPLE), "-o", str(out), "--patcher", "space").exit_code == 0
    n = open_dataset(out).num_rows
    pq_out = tmp_path / "pq"
    assert run(str(SAMPLE), "-o", str(pq_out), "--patcher", "space", "--format", "parquet").exit_code == 0
    import duckdb
    import polars as pl

    shard = str(next(out.glob("train-*.arrow")))
    assert len(pa.ipc.open_stream(shard).read_pandas()) == n  # .arrow shards are IPC streams
    assert pl.read_ipc_stream(shard).height == n
    arrow_table = pa.ipc.open_stream(shard).read_all()  # noqa: F841 (DuckDB scans it by name)
    assert duckdb.sql("select count(*) from arrow_table").fetchall()[0][0] == n
    assert pl.read_parquet(str(pq_out / "*.parquet")).height == n
    total = duckdb.sql(f"select sum(len(patch_lengths)) from read_parquet('{pq_out}/*.parquet')").fetchall()[0][0]
    assert total == json.loads((pq_out / "manifest.json").read_text())["patches"]
    assert rows(out) == rows(pq_out)


@pytest.mark.slow
def test_workers_do_not_change_the_rows(tmp_path: Path):
    args = [str(SAMPLE), "--patcher", "space", "--shard-size-mb", "0.005", "-q"]
    assert run(*args, "-o", str(tmp_path / "w1")).exit_code == 0
    assert run(*args, "-o", str(tmp_path / "w2"), "--workers", "2").exit_code == 0
    assert len(open_dataset(tmp_path / "w1").shard_files) > 3
    assert rows(tmp_path / "w1") == rows(tmp_path / "w2")


def test_bad_input_fails_cleanly(tmp_path: Path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": 5}\n')
    out = tmp_path / "out"
    result = run(str(bad), "-o", str(out), "--patcher", "space")
    assert result.exit_code != 0
    assert f"{bad}:2" in result.output and "not a string" in result.output
    assert not (out / "manifest.json").exists()
    assert not list(out.glob(".*.tmp"))


def test_existing_output_needs_overwrite(tmp_path: Path):
    out = tmp_path / "out"
    args = [str(SAMPLE / "multilingual.txt"), "-o", str(out), "--patcher", "space"]
    assert run(*args).exit_code == 0
    again = run(*args)
    assert again.exit_code != 0 and "--overwrite" in again.output
    assert run(*args, "--overwrite").exit_code == 0
    (out / "notes.md").write_text("mine")
    refused = run(*args, "--overwrite")
    assert refused.exit_code != 0 and "did not write" in refused.output and (out / "notes.md").exists()


@pytest.mark.parametrize("threads", ["1", "3"])  # shards streamed on the calling thread, or on a pool
def test_resume_redoes_only_missing_shards(tmp_path: Path, threads: str):
    out = tmp_path / "out"
    args = [str(SAMPLE), "-o", str(out), "--patcher", "space", "--threads", threads, "--shard-size-mb", "0.005", "-q"]
    assert run(*args).exit_code == 0
    complete = rows(out)
    shards = sorted(out.glob("train-*.arrow"))
    kept = shards[0].stat().st_mtime_ns
    # Simulate an interruption: no manifest, a shard missing, a temporary left behind.
    (out / "manifest.json").unlink()
    shards[2].unlink()
    (out / f".{shards[3].name}.999.tmp").write_bytes(b"partial")
    with pytest.raises(FileNotFoundError, match="resume"):
        open_dataset(out)
    assert run(*args, "--resume").exit_code == 0
    assert rows(out) == complete and shards[0].stat().st_mtime_ns == kept
    assert not list(out.glob(".*.tmp"))
    changed = run(*args[:-3], "--shard-size-mb", "0.01", "--resume")
    assert changed.exit_code != 0 and "shard_size_mb" in changed.output


def test_stdin_and_doc_per_line(tmp_path: Path):
    out = tmp_path / "out"
    result = run("-", "-o", str(out), "--patcher", "stride", "--stride", "3", "--doc-per-line", input=b"abcd\nef\n")
    assert result.exit_code == 0, result.output
    assert [(r["id"], r["bytes"], r["patch_lengths"]) for r in rows(out)] == [
        ("<stdin>:1", b"abcd", [3, 1]),
        ("<stdin>:2", b"ef", [2]),
    ]


def test_entropies_column_needs_entropy_patcher(tmp_path: Path):
    result = run(str(SAMPLE), "-o", str(tmp_path / "o"), "--patcher", "space", "--save-entropies")
    assert result.exit_code != 0 and "--save-entropies" in result.output


@pytest.mark.slow
def test_space_path_does_not_import_torch(tmp_path: Path):
    code = (
        "import sys; from click.testing import CliRunner; from bytepatch.cli.main import cli; "
        f"r = CliRunner().invoke(cli, ['segment', {str(SAMPLE)!r}, '-o', {str(tmp_path / 'o')!r}, '--patcher', 'space']); "
        "assert r.exit_code == 0, r.output; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_empty_documents_have_no_patches(tmp_path: Path):
    (tmp_path / "empty.txt").write_bytes(b"")
    out = tmp_path / "out"
    assert run(str(tmp_path / "empty.txt"), "-o", str(out), "--patcher", "space").exit_code == 0
    assert rows(out) == [{"id": "empty.txt", "bytes": b"", "patch_lengths": []}]
    assert np.isclose(open_dataset(out).manifest["patches"], 0) and pa is not None


def test_default_is_entropy_patching_with_the_shipped_model(tmp_path: Path):
    out = tmp_path / "out"
    result = run(str(SAMPLE), "-o", str(out), "--save-entropies")
    assert result.exit_code == 0, result.output
    ds = open_dataset(out)
    meta = ds.metadata
    assert meta["patcher"]["patcher"] == "entropy" and meta["entropy_model"]["kind"] == "ngram"
    assert meta["entropy_model"]["fingerprint"]
    from bytepatch.entropy.registry import load_entropy_model

    model = load_entropy_model("default")
    docs = [r.bytes for r in ds]
    for row, h in zip(open_dataset(out), model.entropies(docs)):
        # stored entropies are float16 roundings of what the patcher saw
        np.testing.assert_allclose(row.entropies, h, rtol=2e-3, atol=2e-3)
        expected = bytepatch.entropy_patch_lengths(h, threshold=meta["patcher"]["threshold"])
        assert row.patch_lengths == expected.tolist()


def test_target_patch_size_calibrates_and_records_the_threshold(tmp_path: Path):
    out = tmp_path / "out"
    result = run(str(SAMPLE), "-o", str(out), "--target-patch-size", "6")
    assert result.exit_code == 0, result.output
    manifest = open_dataset(out).manifest
    assert abs(manifest["bytes"] / manifest["patches"] - 6) < 6 * 0.02
    cal = manifest["metadata"]["calibration"]
    assert cal["target_patch_size"] == 6 and cal["threshold"] == manifest["metadata"]["patcher"]["threshold"]


@pytest.mark.slow
def test_entropy_workers_match_one_process(tmp_path: Path):
    args = [str(SAMPLE), "--shard-size-mb", "0.01", "-q"]
    assert run(*args, "-o", str(tmp_path / "w1")).exit_code == 0
    assert run(*args, "-o", str(tmp_path / "w2"), "--workers", "2").exit_code == 0
    assert rows(tmp_path / "w1") == rows(tmp_path / "w2")


def test_entropy_threads_do_not_change_the_rows(tmp_path: Path):
    args = [str(SAMPLE), "--save-entropies", "-q"]
    assert run(*args, "-o", str(tmp_path / "t1"), "--threads", "1").exit_code == 0
    assert run(*args, "-o", str(tmp_path / "t3"), "--threads", "3").exit_code == 0
    one, three = rows(tmp_path / "t1"), rows(tmp_path / "t3")
    assert one == three and sum(len(r["entropies"]) for r in one) > 10_000  # entropies too, bit for bit


@pytest.mark.parametrize("patcher", ["entropy", "space"])
def test_groups_patched_on_threads_give_the_rows_of_one_thread(tmp_path: Path, monkeypatch, patcher: str):
    """Tiny groups and shards, so the sample is dozens of each, with 3 shards in flight and
    (entropy) 3 groups of a shard patched at once."""
    monkeypatch.setattr("bytepatch.segment.chunks.GROUP_BYTES", 1500)
    args = [str(SAMPLE), "--patcher", patcher, "-q", "--shard-size-mb", "0.004"]
    args += ["--save-entropies"] if patcher == "entropy" else []
    assert run(*args, "-o", str(tmp_path / "t1"), "--threads", "1").exit_code == 0
    assert run(*args, "-o", str(tmp_path / "t3"), "--threads", "3").exit_code == 0
    assert rows(tmp_path / "t1") == rows(tmp_path / "t3")


def test_threads_default_to_the_available_cpus(monkeypatch):
    from bytepatch.cli import segment as cmd

    monkeypatch.setattr("bytepatch.cpus.available_cpus", lambda: 6)
    assert cmd._default_threads(1) == 6 and cmd._default_threads(4) == 1


def test_a_model_without_default_threshold_needs_one(tmp_path: Path):
    from bytepatch.entropy import NgramConfig, NgramModel

    model = tmp_path / "model"  # fit from Python: `fit-entropy` would calibrate a default threshold
    NgramModel.fit([p.read_bytes() for p in sorted(SAMPLE.rglob("*")) if p.is_file()], NgramConfig(order=3)).save(model)
    refused = run(str(SAMPLE), "-o", str(tmp_path / "a"), "--entropy-model", str(model))
    assert refused.exit_code != 0 and "no default threshold" in refused.output
    ok = run(str(SAMPLE), "-o", str(tmp_path / "b"), "--entropy-model", str(model), "--target-patch-size", "5")
    assert ok.exit_code == 0, ok.output


def test_unwritable_report_paths_are_clear_errors(tmp_path: Path):
    out = tmp_path / "out"
    assert run(str(SAMPLE), "-o", str(out), "--patcher", "space").exit_code == 0
    bad = str(tmp_path / "missing-dir" / "x.svg")
    for args in (["stats", str(out), "--svg", bad], ["inspect", "--text", "hi", "--patcher", "space", "--html", bad]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1 and "cannot write" in result.output and result.exception.__class__ is SystemExit


@pytest.mark.parametrize("threads", ["1", "3"])
def test_resume_refuses_inputs_that_changed(tmp_path: Path, threads: str):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(6):
        (corpus / f"f{i}.txt").write_bytes(f"document {i} ".encode() * 2000)
    out = tmp_path / "out"
    args = [str(corpus), "-o", str(out), "--patcher", "space", "--threads", threads, "--shard-size-mb", "0.02", "-q"]
    assert run(*args).exit_code == 0
    (out / "manifest.json").unlink()
    sorted(out.glob("train-*.arrow"))[-1].unlink()
    # A changed size or mtime is caught by the run state ...
    (corpus / "f0.txt").write_bytes(b"shorter")
    refused = run(*args, "--resume")
    assert refused.exit_code != 0
    assert (
        f"inputs ({corpus / 'f0.txt'} changed since, size 22000 -> 7 bytes: rerun with --overwrite)" in refused.output
    )
    # ... and same-size, same-mtime edits by the shard contents themselves.
    (corpus / "f0.txt").write_bytes(b"document 0 ".replace(b"0", b"X") * 2000)
    stamp = (corpus / "f1.txt").stat()
    os.utime(corpus / "f0.txt", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    state = json.loads((out / ".bytepatch-run.json").read_text())
    state["inputs"][0][2] = stamp.st_mtime_ns
    (out / ".bytepatch-run.json").write_text(json.dumps(state))
    refused = run(*args, "--resume")
    assert refused.exit_code != 0 and "holds other documents" in refused.output
    assert not (out / "manifest.json").exists()


def test_space_run_loads_neither_numba_nor_pandas_nor_torch(tmp_path: Path):
    # Their imports cost ~1 s per process, more than patching tens of MB with the space rule.
    code = f"""
import sys
from bytepatch.cli.main import cli
try:
    cli(["segment", {str(SAMPLE)!r}, "-o", {str(tmp_path / "out")!r}, "--patcher", "space", "-q"])
except SystemExit as exc:
    assert not exc.code, exc.code
print(sorted({{m.split(".")[0] for m in sys.modules}} & {{"numba", "llvmlite", "pandas", "torch"}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert open_dataset(tmp_path / "out").num_rows > 60


def test_dataset_without_entropies_is_compact(tmp_path: Path):
    out = tmp_path / "out"
    assert run(str(SAMPLE), "-o", str(out), "--patcher", "space", "-q").exit_code == 0
    text = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    stored = sum(p.stat().st_size for p in open_dataset(out).shard_files)
    assert stored <= 1.35 * text, (stored, text)
    import duckdb

    shards = open_dataset(out).to_table()  # noqa: F841 (DuckDB reads the Arrow table by name)
    total = duckdb.sql("select sum(len(patch_lengths)) from shards").fetchall()[0][0]
    assert total == json.loads((out / "manifest.json").read_text())["patches"]


@pytest.mark.slow
def test_more_workers_than_shards_says_so(tmp_path: Path):
    result = run(str(SAMPLE), "-o", str(tmp_path / "o"), "--patcher", "space", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert "1 shard(s) for --workers 2" in result.stderr and "--shard-size-mb" in result.stderr


def test_jsonl_fast_path_writes_the_same_shards_as_the_line_reader(tmp_path: Path, monkeypatch):
    src = SAMPLE / "stdlib_docstrings.jsonl"
    args = [str(src), "--patcher", "space", "--shard-size-mb", "0.003", "-q"]
    assert run(*args, "-o", str(tmp_path / "fast")).exit_code == 0
    monkeypatch.setattr("bytepatch.io.jsonl_batch._eligible", lambda *a: False)  # line by line
    assert run(*args, "-o", str(tmp_path / "slow")).exit_code == 0
    fast, slow = open_dataset(tmp_path / "fast"), open_dataset(tmp_path / "slow")
    assert len(fast.shard_files) == len(slow.shard_files) > 2
    for i in range(len(fast.shard_files)):
        assert fast.read_shard(i).to_pylist() == slow.read_shard(i).to_pylist()


@pytest.mark.slow
def test_the_parent_of_worker_processes_never_imports_torch(tmp_path: Path):
    """The n-gram model is NumPy and Numba only; torch in the parent would also make its
    forked workers unsafe (they are spawned then, each loading its own copy)."""
    code = f"""
import sys
from bytepatch.cli.main import cli
if __name__ == "__main__":
    try:
        cli(["segment", {str(SAMPLE)!r}, "-o", {str(tmp_path / "out")!r}, "--workers", "2",
             "--shard-size-mb", "0.05", "-q"])
    except SystemExit as exc:
        assert not exc.code, exc.code
    print(sorted({{m.split(".")[0] for m in sys.modules}} & {{"torch"}}))
"""
    script = tmp_path / "parent.py"  # a file, not -c: spawned workers re-import the main module
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert run(str(SAMPLE), "-o", str(tmp_path / "one"), "--shard-size-mb", "0.05", "-q").exit_code == 0
    assert _rows(tmp_path / "out") == _rows(tmp_path / "one")


def _rows(path: Path) -> list[tuple]:
    table = open_dataset(path).to_table()
    return list(zip(table.column("id").to_pylist(), table.column("patch_lengths").to_pylist()))


def test_file_names_ending_like_a_line_or_row_id_give_ids_of_their_own(tmp_path: Path):
    """A file named `a.jsonl:3` (one document) had the id `a.jsonl:3`, the id of line 3 of
    `a.jsonl` beside it; `a.parquet#0` that of row 0 of `a.parquet`: two rows, one id, exit 0.
    Such names are escaped now; other names, `:` and `#` inside them included, are not."""
    import pyarrow.parquet as pq

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.jsonl").write_text("".join(f'{{"text": "line {i}"}}\n' for i in range(1, 4)))
    pq.write_table(pa.table({"text": ["row 0"]}), corpus / "a.parquet")
    files = {"a.jsonl:3": "file a.jsonl:3", "a.parquet#0": "file a.parquet#0", "a.jsonl%3A3": "file a.jsonl%3A3"}
    files |= {"c#d.txt": "file c#d.txt", "t10:00.log": "file t10:00.log", "g%41.txt": "file g%41.txt"}
    for name, text in files.items():
        (corpus / name).write_text(text)
    result = run(str(corpus), "-o", str(tmp_path / "out"), "--patcher", "space")
    assert result.exit_code == 0, result.output
    got = {r["id"]: r["bytes"].decode() for r in rows(tmp_path / "out")}
    assert got == {
        "a.jsonl:1": "line 1",
        "a.jsonl:2": "line 2",
        "a.jsonl:3": "line 3",
        "a.parquet#0": "row 0",
        "a.jsonl%3A3": "file a.jsonl:3",
        "a.parquet%230": "file a.parquet#0",
        "a.jsonl%253A3": "file a.jsonl%3A3",
        "c#d.txt": "file c#d.txt",  # ordinary names keep their ids
        "t10:00.log": "file t10:00.log",
        "g%41.txt": "file g%41.txt",
    }
