"""`segment` on hostile or suspicious input: one-line errors, warnings, caps (issue 13.8, 13.9)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from bytepatch import open_dataset
from bytepatch.cli.main import cli
from bytepatch.cpus import available_cpus
from tests.listing import append_after_listing


def run(*args: str):
    return CliRunner().invoke(cli, ["segment", *args])


@pytest.fixture
def text(tmp_path) -> Path:
    path = tmp_path / "in.txt"
    path.write_text("Some words, then more words. " * 20)
    return path


def one_line_error(result, match: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    lines = [ln for ln in result.output.splitlines() if ln.startswith("Error")]
    assert len(lines) == 1 and match in lines[0], result.output


@pytest.mark.parametrize("size", ["inf", "nan", "-inf", "0"])
def test_shard_size_must_be_a_positive_number(tmp_path, text, size):
    result = run(str(text), "-o", str(tmp_path / "out"), "--patcher", "space", "--shard-size-mb", size)
    one_line_error(result, "--shard-size-mb must be a positive number")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("how", [[], ["--workers", "2"], ["--num-shards", "2"]])
def test_a_shard_size_too_large_to_count_in_bytes_is_no_limit(tmp_path, text, how):
    """1e308 MB is a finite number, but not its bytes: int(1e308 * 1e6) raised OverflowError,
    a traceback after the run state was written. Any size above the input is one shard."""
    (tmp_path / "more.txt").write_text("And a second document. " * 10)
    out = tmp_path / "out"
    args = [str(text), str(tmp_path / "more.txt"), "-o", str(out), "--patcher", "space", "--shard-size-mb", "1e308"]
    for job in [["--shard-index", "0"], ["--shard-index", "1"]] if "--num-shards" in how else [[]]:
        result = run(*args, "-q", *how, *job)
        assert result.exit_code == 0 and not result.output, result.output
    dataset = open_dataset(out)
    assert [r.id for r in dataset] == ["in.txt", "more.txt"]
    assert len(dataset.manifest["shards"]) == (2 if "--num-shards" in how else 1)


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_non_finite_threshold_creates_nothing(tmp_path, text, value):
    result = run(str(text), "-o", str(tmp_path / "out"), "--threshold", value)
    one_line_error(result, "threshold must be a finite number")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["-1", "0"])
def test_a_threshold_that_patches_every_byte_warns(tmp_path, text, value):
    result = run(str(text), "-o", str(tmp_path / "out"), "--threshold", value, "-q")
    assert result.exit_code == 0, result.output
    assert f"warning: --threshold {value} makes every byte a patch" in result.output


def test_a_directory_of_the_users_own_files_is_not_written_into(tmp_path, text):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.md").write_text("keep me")
    for extra in ([], ["--overwrite"]):
        result = run(str(text), "-o", str(out), "--patcher", "space", *extra)
        one_line_error(result, "holds files bytepatch did not write: ['notes.md']")
    assert sorted(p.name for p in out.iterdir()) == ["notes.md"]


def test_duplicate_ids_are_a_warning(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"text": f"t{i}", "id": f"d{i % 3}"}) + "\n" for i in range(5)))
    result = run(str(corpus), "-o", str(tmp_path / "out"), "--patcher", "space", "--id-field", "id", "-q")
    assert result.exit_code == 0, result.output
    assert "warning: 2 document id(s) appear more than once (first: 'd0')" in result.output
    assert open_dataset(tmp_path / "out").num_rows == 5


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_dictionary_encoded_text_columns_are_read(tmp_path, fmt):
    table = pa.table(
        {
            "text": pa.array(["alpha beta", "gamma", "alpha beta"]).dictionary_encode(),
            "id": pa.array(["a", "b", "c"]).dictionary_encode(),
        }
    )
    path = tmp_path / f"cat.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, path)
    else:
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
            w.write_table(table)
    result = run(str(path), "-o", str(tmp_path / "out"), "--patcher", "space", "--id-field", "id", "-q")
    assert result.exit_code == 0, result.output
    rows = [(r.id, r.bytes) for r in open_dataset(tmp_path / "out")]
    assert rows == [("a", b"alpha beta"), ("b", b"gamma"), ("c", b"alpha beta")]


@pytest.mark.slow
def test_workers_are_capped_at_the_available_cpus(tmp_path, text):
    result = run(str(text), "-o", str(tmp_path / "out"), "--patcher", "space", "--workers", "1000")
    assert result.exit_code == 0, result.output
    assert f"note: --workers 1000 capped at {available_cpus()}, the CPUs available" in result.output


def test_the_idle_workers_note_counts_the_workers_left_after_the_cap(tmp_path, monkeypatch):
    """--workers 8 on one CPU runs one worker: three shards keep it busy, so no note says that
    only three of eight could run."""
    monkeypatch.setattr("bytepatch.cpus.available_cpus", lambda: 1)
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": "word " * 400}) + "\n" for _ in range(6)))
    args = ["-o", str(tmp_path / "out"), "--patcher", "space", "--shard-size-mb", "0.004", "--workers", "8"]
    result = run(str(src), *args)
    assert result.exit_code == 0, result.output
    assert "note: --workers 8 capped at 1, the CPUs available" in result.output
    assert "3 shard(s)" in result.output and "could run" not in result.output


def test_stale_temporaries_of_a_dead_run_are_removed_at_start(tmp_path, text):
    out = tmp_path / "out"
    assert run(str(text), "-o", str(out), "--patcher", "space", "-q").exit_code == 0
    (out / "manifest.json").unlink()  # as if killed before the end
    stale = out / ".train-00000.arrow.somehost-4242-0badcafe.tmp"
    stale.write_bytes(b"half a shard")
    result = run(str(text), "-o", str(out), "--patcher", "space", "-q", "--resume")
    assert result.exit_code == 0, result.output
    assert not stale.exists() and (out / "manifest.json").exists()


def _segment_changing_3_txt_after_listing(corpus, out, monkeypatch, threads: str, change, patcher: str = "space"):
    """`segment --patcher PATCHER` of five text files in `corpus`, `change(corpus / "3.txt")`
    called just after the inputs are listed: its result."""
    import bytepatch.segment.pipeline as pipeline

    corpus.mkdir()
    for i in range(5):
        (corpus / f"{i}.txt").write_text(f"document {i} " * 50)
    listed = pipeline.expand_sources

    def list_then_change(inputs, **options):
        sources = listed(inputs, **options)
        change(corpus / "3.txt")
        return sources

    monkeypatch.setattr(pipeline, "expand_sources", list_then_change)
    return run(str(corpus), "-o", str(out), "--patcher", patcher, "--threads", threads, "-q")


@pytest.mark.parametrize("threads", ["1", "2"])
def test_a_file_changed_after_it_was_listed_stops_the_run_naming_it(tmp_path, monkeypatch, threads):
    """Files are placed by the size the listing gave and read later, by the thread that
    patches them: one that changed since is an error, not a silently shifted dataset."""
    corpus, out = tmp_path / "corpus", tmp_path / "out"
    result = _segment_changing_3_txt_after_listing(
        corpus, out, monkeypatch, threads, lambda path: path.write_text("grown " * 100)
    )
    one_line_error(result, f"{corpus / '3.txt'}: changed while being read: listed at 550 bytes, now more")
    assert not (out / "manifest.json").exists() and not list(out.glob("train-*")) and not list(out.glob(".*.tmp"))


def test_a_file_changed_after_it_was_listed_stops_a_run_whose_groups_go_in_parts(tmp_path, monkeypatch):
    """Behind the n-gram model, threads patch a group in parts, and the first part's task
    reads the group's files: a file changed since the listing fails the run the same way,
    whatever part of the group it is in, and nothing waits forever on the parts left."""
    from bytepatch.segment import worker

    monkeypatch.setattr(worker, "PART_BYTES", 600)  # the five 550-byte files: one group, three parts
    corpus, out = tmp_path / "corpus", tmp_path / "out"
    result = _segment_changing_3_txt_after_listing(
        corpus, out, monkeypatch, "2", lambda path: path.write_text("grown " * 100), patcher="entropy"
    )
    one_line_error(result, f"{corpus / '3.txt'}: changed while being read: listed at 550 bytes, now more")
    assert not (out / "manifest.json").exists() and not list(out.glob("train-*")) and not list(out.glob(".*.tmp"))


@pytest.mark.parametrize("threads", ["1", "2"])
def test_a_whole_text_file_rewritten_at_the_same_size_after_it_was_listed_stops_the_run(tmp_path, monkeypatch, threads):
    """A whole text file is placed by its listed size and was checked by size alone: one
    rewritten in place at the same size (a log rotated, an editor's save) gave a dataset of
    the new text, exit 0, while the run state recorded the listing's mtime; JSONL and
    --doc-per-line files were refused so already."""

    def rewrite(path):
        before = path.stat().st_mtime_ns
        path.write_text("DOCUMENT 3 " * 50)  # the same size, other bytes
        os.utime(path, ns=(before + 10**9, before + 10**9))  # a later mtime, whatever the clock's grain

    corpus, out = tmp_path / "corpus", tmp_path / "out"
    result = _segment_changing_3_txt_after_listing(corpus, out, monkeypatch, threads, rewrite)
    one_line_error(
        result, f"{corpus / '3.txt'}: changed while being read: listed at 550 bytes, the same size, but modified since"
    )
    assert not (out / "manifest.json").exists() and not list(out.glob(".*.tmp"))


def test_a_jsonl_file_grown_after_it_was_listed_stops_the_run_naming_it(tmp_path, monkeypatch):
    """A JSONL file read at once (not placed by size) that gained lines since the listing
    gave a dataset with the new lines in it and exit 0, unlike the run state's record."""
    import bytepatch.segment.pipeline as pipeline

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(f'{{"text": "document {i}"}}\n' for i in range(20)))
    append_after_listing(monkeypatch, pipeline, corpus)
    out = tmp_path / "out"
    result = run(str(corpus), "-o", str(out), "--patcher", "space", "-q")
    one_line_error(result, f"{corpus}: changed while being read: listed at 470 bytes, now 496; rerun on files at rest")
    assert not (out / "manifest.json").exists() and not list(out.glob(".*.tmp"))


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_shard_gone_from_the_output_before_the_manifest_fails_the_run(tmp_path, monkeypatch, workers):
    """The output directory deleted (`rm -rf out`) or cleaned while the run writes: the
    run ended with exit 0 and a manifest listing shards that no longer existed."""
    import bytepatch.segment.pipeline as pipeline

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": f"document {i} " * 400}) + "\n" for i in range(40)))
    write_shards = pipeline._run

    def run_then_lose_one(*args, **kwargs):
        shards = write_shards(*args, **kwargs)
        (tmp_path / "out" / shards[1].file).unlink()
        return shards

    monkeypatch.setattr(pipeline, "_run", run_then_lose_one)
    out = tmp_path / "out"
    result = run(str(corpus), "-o", str(out), "--patcher", "space", "--shard-size-mb", "0.02", "--workers", workers)
    one_line_error(result, f"{out / 'train-00001.arrow'}: a shard of this run, no longer there")
    assert not (out / "manifest.json").exists()
    monkeypatch.setattr(pipeline, "_run", write_shards)
    assert run(str(corpus), "-o", str(out), "--patcher", "space", "--shard-size-mb", "0.02", "--resume").exit_code == 0
    assert open_dataset(out).num_rows == 40


def test_an_output_inside_an_input_directory_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    """`segment . -o out` would read its own shards as input on a second run, and
    --overwrite would delete them while they are listed: refused, the first time too."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "a.txt").write_text("doc one\n")
    (project / "sub").mkdir()
    (project / "sub" / "b.txt").write_text("doc two\n")
    monkeypatch.chdir(project)
    one_line_error(
        run(".", "-o", "out", "--patcher", "space"), "out: the output directory is inside the input directory ."
    )
    assert not (project / "out").exists()
    one_line_error(run(".", "-o", ".", "--patcher", "space"), "the output directory is the input directory")
    one_line_error(run(str(project), "-o", "deep/er/out", "--patcher", "space"), "inside the input directory")
    one_line_error(
        run("*", "-o", "sub/out", "--patcher", "space"), "inside what the input pattern * matches"
    )  # a glob's directory
    assert sorted(str(p.relative_to(project)) for p in project.rglob("*")) == ["a.txt", "sub", "sub/b.txt"]
    # Beside the input, or under a hidden directory (walks skip those), it is fine, and stays so when rerun.
    for out in ("../beside", ".hidden/out"):
        for extra in ((), ("--overwrite",)):
            result = run(".", "-o", out, "--patcher", "space", "-q", *extra)
            assert result.exit_code == 0, result.output
            assert open_dataset(out).num_rows == 2


def test_an_input_inside_the_output_directory_is_refused(tmp_path, text):
    out = tmp_path / "out"
    assert run(str(text), "-o", str(out), "--patcher", "space", "-q").exit_code == 0
    shard = next(out.glob("*.arrow"))
    one_line_error(
        run(str(shard), "-o", str(out), "--patcher", "space", "--overwrite"), "is inside the output directory"
    )
    assert open_dataset(out).num_rows == 1  # untouched


@pytest.mark.parametrize("fmt", ["arrow", "parquet"])
@pytest.mark.parametrize("extra", [(), ("--workers", "2"), ("--num-shards", "2")])
def test_a_corpus_of_no_documents_gives_one_empty_shard_that_readers_take(tmp_path, fmt, extra):
    """Without a shard, glob readers found no file (`pa.concat_tables` of nothing) or took
    manifest.json for the data (`datasets.load_dataset(DIR)` returned it as a row)."""
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), empty)
    out = tmp_path / "out"
    args = [str(empty), "-o", str(out), "--patcher", "space", "-q", "--format", fmt]
    jobs = [[*extra, "--shard-index", str(i)] for i in range(2)] if "--num-shards" in extra else [list(extra)]
    for job in jobs:
        result = run(*args, *job)
        assert result.exit_code == 0, result.output
    if not extra:  # the summary line: no patches, no mean (it said "mean 0.00 bytes/patch")
        summary = run(str(empty), "-o", str(tmp_path / "again"), "--patcher", "space", "--format", fmt)
        assert "0 documents, 0 bytes, 0 patches (mean n/a), 1 shard(s)" in summary.output
    shards = sorted(out.glob(f"*.{fmt}"))
    assert len(shards) == 1
    ds = open_dataset(out)
    assert ds.num_rows == 0 and len(ds.manifest["shards"]) == 1
    assert CliRunner().invoke(cli, ["verify", str(out)]).exit_code == 0
    if fmt == "arrow":
        table = pa.ipc.open_stream(shards[0]).read_all()
        datasets = pytest.importorskip("datasets")
        assert datasets.Dataset.from_file(str(shards[0])).column_names == table.column_names
    else:
        table = pq.read_table(shards[0])
    assert table.num_rows == 0 and table.column_names == ["id", "bytes", "patch_lengths"]


def test_field_options_on_plain_text_inputs_are_warned_of(tmp_path, text):
    """--text-field/--id-field do nothing for text files: a typo went unnoticed."""
    result = run(str(text), "-o", str(tmp_path / "out"), "--patcher", "space", "-q", "--text-field", "body")
    assert result.exit_code == 0
    assert "warning: --text-field applies to JSONL, Parquet and Arrow inputs; these are all plain text" in result.stderr
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"body": "x"}\n')
    result = run(
        str(text), str(jsonl), "-o", str(tmp_path / "mixed"), "--patcher", "space", "-q", "--text-field", "body"
    )
    assert result.exit_code == 0 and "warning" not in result.stderr


def test_an_output_path_that_is_not_utf8_is_refused_before_it_is_created(tmp_path, text):
    """pyarrow opens files by UTF-8 name only: the run failed with a codec error and left the directory."""
    out = os.fsdecode(bytes(tmp_path) + b"/out\xff")
    one_line_error(run(str(text), "-o", out, "--patcher", "space"), "out\\xff: the path is not valid UTF-8")
    assert not os.path.exists(out)


def test_an_output_reached_through_a_link_in_the_input_is_refused_before_it_is_deleted(tmp_path, monkeypatch):
    """realpath said apart; the walk, following `corpus/data -> ../elsewhere`, read the
    dataset, and --overwrite deleted it before failing."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("doc one\\n")
    (tmp_path / "corpus" / "data").symlink_to(tmp_path / "elsewhere")
    assert run("corpus", "-o", "elsewhere/out", "--patcher", "space", "-q").exit_code == 0
    one_line_error(
        run("corpus", "-o", "elsewhere/out", "--patcher", "space", "--overwrite"),
        "corpus/data/out: is the output directory elsewhere/out (the inputs lead into it)",
    )
    # Calibration lists the inputs before the run does: it read the dataset's manifest.json as JSON Lines.
    one_line_error(
        run("corpus", "-o", "elsewhere/out", "--overwrite", "--target-patch-size", "4"),
        "corpus/data/out: is the output directory elsewhere/out",
    )
    assert open_dataset("elsewhere/out").num_rows == 1  # untouched


def test_a_pattern_that_cannot_match_the_output_does_not_refuse_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n")
    for _ in range(2):  # and rerun: the shards are not *.md
        assert run("docs/*.md", "-o", "docs/out", "--patcher", "space", "-q", "--overwrite").exit_code == 0
    assert open_dataset("docs/out").num_rows == 1


def test_a_job_without_documents_writes_no_empty_shard_beside_the_others(tmp_path):
    """Job 0 wrote an empty shard whenever it alone read no document; only a dataset of
    no documents at all gets one (written by the merge)."""
    empty = tmp_path / "a_empty.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), empty)
    (tmp_path / "b.jsonl").write_text('{"text": "x"}\n')
    out = tmp_path / "out"
    for i in range(2):
        args = [str(empty), str(tmp_path / "b.jsonl"), "-o", str(out), "--patcher", "space", "-q"]
        result = run(*args, "--num-shards", "2", "--shard-index", str(i), "--shard-size-mb", "0.000001")
        assert result.exit_code == 0, result.output
    ds = open_dataset(out)
    assert ds.num_rows == 1 and [s["documents"] for s in ds.manifest["shards"]] == [1]


def test_the_empty_shard_of_k_jobs_is_one_file_whichever_job_merges(tmp_path):
    """Each merging job wrote it under its own name: a rerun of another job left a second
    file the manifest did not list, and verify failed."""
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), empty)
    out = tmp_path / "out"
    args = [str(empty), "-o", str(out), "--patcher", "space", "-q", "--num-shards", "2"]
    for i, extra in ((0, ()), (1, ()), (0, ("--resume",))):
        result = run(*args, "--shard-index", str(i), *extra)
        assert result.exit_code == 0, result.output
    assert [p.name for p in sorted(out.glob("*.arrow"))] == ["train-00000-00000.arrow"]
    verified = CliRunner().invoke(cli, ["verify", str(out)])
    assert verified.exit_code == 0, verified.output


@pytest.fixture
def interrupted(tmp_path) -> tuple[Path, list[str]]:
    """An output left by an interrupted run (no manifest), and the arguments to resume it."""
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": f"document {i} " * 400}) + "\n" for i in range(20)))
    out = tmp_path / "out"
    args = [str(corpus), "-o", str(out), "--patcher", "space", "--shard-size-mb", "0.02", "-q"]
    assert run(*args).exit_code == 0
    (out / "manifest.json").unlink()
    return out, args


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'"a string"', b"\xff\xfe\x00", b""])
def test_a_damaged_run_state_is_a_one_line_error_naming_it(interrupted, content):
    """--resume on a damaged .bytepatch-run.json said only `Expecting property name ...`
    or `'utf-8' codec can't decode ...` (no file), or crashed with AttributeError."""
    out, args = interrupted
    (out / ".bytepatch-run.json").write_bytes(content)
    result = run(*args, "--resume")
    one_line_error(result, f"{out / '.bytepatch-run.json'}: not a readable run state")
    assert "--overwrite" in result.output
    assert run(*args, "--overwrite").exit_code == 0


@pytest.mark.timeout(60)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_a_fifo_named_like_a_shard_is_refused_not_read(interrupted):
    """--resume checksums the shards an interrupted run left: a FIFO under a shard's name
    blocked the run forever (no writer ever comes)."""
    out, args = interrupted
    (out / "train-00001.arrow").unlink()
    os.mkfifo(out / "train-00001.arrow")
    result = run(*args, "--resume")
    one_line_error(result, f"{out / 'train-00001.arrow'}: not a regular file")
    assert run(*args, "--overwrite").exit_code == 0


@pytest.fixture
def first_job_done(tmp_path) -> tuple[Path, list[str]]:
    """The output of job 0 of 2 (20 documents, small shards), and the arguments the jobs share."""
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": f"document {i} " * 400}) + "\n" for i in range(20)))
    out = tmp_path / "out"
    args = [str(corpus), "-o", str(out), "--patcher", "space", "--shard-size-mb", "0.02", "-q", "--num-shards", "2"]
    assert run(*args, "--shard-index", "0").exit_code == 0
    return out, args


@pytest.mark.parametrize(
    "content", [b"{not json", b"[1]", b"\xff\xfe", b'{"run_key": "%s"}', b'{"run_key": "%s", "shards": [{"x": 1}]}']
)
def test_a_damaged_job_manifest_is_one_line_naming_it_when_the_last_job_merges(first_job_done, content):
    """The job finishing last reads every job manifest: a damaged one ended it with json's or
    the codec's message alone, or crashed (AttributeError, KeyError, TypeError)."""
    out, args = first_job_done
    damaged = out / "manifest-00000-of-00002.json"
    key = json.loads(damaged.read_text())["run_key"].encode()
    damaged.write_bytes(content.replace(b"%s", key))
    result = run(*args, "--shard-index", "1")
    one_line_error(result, f"{damaged}: not a readable job manifest")
    assert "--shard-index 0 --overwrite" in result.output
    assert not (out / "manifest.json").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("name", ["b.txt", "b.parquet", "b.zst"])
def test_a_file_replaced_by_a_fifo_after_it_was_listed_stops_the_run_naming_it(tmp_path, monkeypatch, name):
    """A file listed as regular, then replaced by a FIFO before it was read, hung the run
    for ever (Parquet: inside pyarrow's open, deaf to SIGTERM; a name of compressed data:
    when its first bytes were sniffed, before anything was read)."""
    import threading

    import bytepatch.segment.pipeline as pipeline

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    pq.write_table(pa.table({"text": ["document"]}), corpus / "a.parquet")
    pq.write_table(pa.table({"text": ["document"]}), corpus / "b.parquet")
    for plain in ("a.txt", "b.txt", "b.zst"):
        (corpus / plain).write_text("document")
    listed = pipeline.expand_sources

    def list_then_fifo(inputs, **options):
        sources = listed(inputs, **options)
        (corpus / name).unlink()
        os.mkfifo(corpus / name)
        return sources

    done, hung = threading.Event(), []

    def unblock() -> None:  # a run still waiting after 5 s: end its wait, so the test fails, not hangs
        done.wait(5)
        while not done.is_set():
            try:
                os.close(os.open(corpus / name, os.O_WRONLY | os.O_NONBLOCK))
                hung.append(True)
            except OSError:
                pass
            done.wait(0.05)

    monkeypatch.setattr(pipeline, "expand_sources", list_then_fifo)
    watchdog = threading.Thread(target=unblock, daemon=True)
    watchdog.start()
    out = tmp_path / "out"
    try:
        result = run(str(corpus), "-o", str(out), "--patcher", "space", "-q")
    finally:
        done.set()
        watchdog.join()
    assert not hung, "waited on the FIFO"
    one_line_error(result, f"{corpus / name}: is no longer a regular file (now a FIFO) since the inputs were listed")
    assert not (out / "manifest.json").exists() and not list(out.glob(".*.tmp"))


@pytest.mark.parametrize("damage", ["index dropped", "index not a count"])
def test_a_job_manifest_shard_entry_short_of_a_field_is_one_line_naming_it(first_job_done, damage):
    """Entries were checked for unknown keys only: one without `index` (a field
    check_manifest does not cover) crashed the merging job with ShardInfo's TypeError."""
    out, args = first_job_done
    damaged = out / "manifest-00000-of-00002.json"
    part = json.loads(damaged.read_text())
    for entry in part["shards"]:
        if damage == "index dropped":
            del entry["index"]
        else:
            entry["index"] = "first"
    damaged.write_text(json.dumps(part))
    result = run(*args, "--shard-index", "1")
    one_line_error(result, f"{damaged}: not a readable job manifest (shard entry 0")
    assert "--shard-index 0 --overwrite" in result.output
    assert not (out / "manifest.json").exists()


@pytest.mark.timeout(60)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
@pytest.mark.parametrize("name", [".bytepatch-run.json", ".bytepatch-shards.jsonl"])
def test_a_fifo_in_place_of_the_run_state_or_journal_is_refused_not_read(interrupted, name):
    """--resume reads the run state and the journal of finished shards: a FIFO under either
    name blocked the run forever, as one under a shard's name did."""
    out, args = interrupted
    (out / name).unlink()
    os.mkfifo(out / name)
    result = run(*args, "--resume")
    one_line_error(result, f"{out / name}: not a regular file")
    assert run(*args, "--overwrite").exit_code == 0


@pytest.mark.timeout(60)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_a_fifo_in_place_of_a_job_manifest_is_refused_not_read(first_job_done):
    """The job finishing last reads every job manifest: a FIFO under one's name blocked it."""
    out, args = first_job_done
    damaged = out / "manifest-00000-of-00002.json"
    damaged.unlink()
    os.mkfifo(damaged)
    result = run(*args, "--shard-index", "1")
    one_line_error(result, f"{damaged}: not a regular file")
    assert "--shard-index 0 --overwrite" in result.output


def test_a_shard_of_another_job_gone_before_the_merge_names_the_job_to_rerun(first_job_done):
    """The merging job found a shard of job 0 missing and said "rerun with --resume": job 0
    resumed finds its job manifest, counts itself finished and merges into the same error."""
    out, args = first_job_done
    (out / "train-00000-00001.arrow").unlink()
    result = run(*args, "--shard-index", "1")
    one_line_error(result, f"{out / 'train-00000-00001.arrow'}: a shard of this run, no longer there")
    assert "--shard-index 0 --overwrite" in result.output
    assert run(*args, "--shard-index", "0", "--overwrite").exit_code == 0  # as advised
    assert open_dataset(out).num_rows == 20
