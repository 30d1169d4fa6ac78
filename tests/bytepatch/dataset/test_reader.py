"""open_dataset: rows, batches, metadata and exact resume from a state dict."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from bytepatch import open_dataset
from bytepatch.io import ReaderConfig
from bytepatch.progress import Progress
from bytepatch.segment import SegmentOptions, segment_corpus

SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sample"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "out"
    options = SegmentOptions(shard_size_mb=0.01, show_progress=False)
    segment_corpus([str(SAMPLE)], out, {"patcher": "stride", "stride": 4}, ReaderConfig(), options)
    return out


def test_rows_batches_and_metadata(dataset: Path):
    ds = open_dataset(dataset)
    assert ds.metadata["patcher"] == {"patcher": "stride", "stride": 4, "max_patch_length": None}  # every setting
    rows = list(ds)
    assert len(rows) == ds.num_rows and len(ds.shard_files) > 2
    assert all(sum(r.patch_lengths) == len(r.bytes) for r in rows)
    batched = [r for b in open_dataset(dataset).iter_batches(7) for r in b.to_pylist()]
    assert [r["id"] for r in batched] == [r.id for r in rows]


def test_state_dict_resumes_exactly(dataset: Path):
    everything = [b.to_pylist() for b in open_dataset(dataset).iter_batches(5)]
    ds = open_dataset(dataset)
    it = ds.iter_batches(5)
    seen = [next(it).to_pylist() for _ in range(9)]
    state = ds.state_dict()
    resumed = open_dataset(dataset)
    resumed.load_state_dict(state)
    rest = [b.to_pylist() for b in resumed.iter_batches(5)]
    assert seen + rest == everything


def test_incomplete_dataset_is_refused(tmp_path: Path):
    (tmp_path / "part-00000.arrow").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        open_dataset(tmp_path)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_only_on_a_terminal_after_the_delay():
    term, pipe = Terminal(), io.StringIO()
    for stream in (term, pipe):
        p = Progress(10_000_000, stream=stream, delay_s=0.0)
        p.update(5_000_000)
        p.close()
    assert "5.0 MB / 10.0 MB" in term.getvalue() and "ETA" in term.getvalue()
    assert pipe.getvalue() == ""
    quiet = Terminal()
    Progress(10, stream=quiet, delay_s=3600).update(5)
    assert quiet.getvalue() == ""


def test_a_position_taken_between_rows_resumes_at_the_next_row(dataset: Path):
    everything = [r.id for r in open_dataset(dataset)]
    ds = open_dataset(dataset)
    it = iter(ds)
    seen = [next(it).id for _ in range(10)]
    resumed = open_dataset(dataset)
    resumed.load_state_dict(ds.state_dict())  # once lost the rest of a 1,024-row batch
    assert seen + [r.id for r in resumed] == everything


@pytest.mark.parametrize(
    "state",
    [
        {"shard": -1, "row": 0},
        {"shard": 0, "row": -3},
        {"shard": 10**6, "row": 0},
        {},
        {"shard": 0, "row": 2.7},  # was taken as row 2
        {"shard": "0", "row": 1},
    ],
)
def test_a_position_outside_the_dataset_is_refused(dataset: Path, state: dict):
    with pytest.raises(ValueError, match="position"):
        open_dataset(dataset).load_state_dict(state)


def test_batches_of_no_rows_are_refused_not_an_endless_loop(dataset: Path):
    with pytest.raises(ValueError, match="batch_rows must be at least 1"):
        next(open_dataset(dataset).iter_batches(0))


def _segment_texts(out: Path, texts: dict[str, bytes]) -> Path:
    src = out.parent / f"{out.name}-src"
    src.mkdir()
    for name, data in texts.items():
        (src / name).write_bytes(data)
    options = SegmentOptions(show_progress=False)
    segment_corpus([str(src)], out, {"patcher": "space"}, ReaderConfig(), options)
    return out


def test_a_shard_ending_in_empty_documents_reads(tmp_path: Path):
    """The row check summed lengths with reduceat, which refused a start at the end of the
    values: every reader failed on such a (valid) shard."""
    out = _segment_texts(tmp_path / "ds", {"a.txt": b"hello world", "b.txt": b"", "c.txt": b""})
    assert [(r.id, r.bytes, r.patch_lengths) for r in open_dataset(out)] == [
        ("a.txt", b"hello world", [6, 5]),
        ("b.txt", b"", []),
        ("c.txt", b"", []),
    ]


def test_an_empty_dataset_is_an_empty_table(tmp_path: Path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    options = SegmentOptions(show_progress=False)
    segment_corpus([str(tmp_path / "empty.jsonl")], tmp_path / "ds", {"patcher": "space"}, ReaderConfig(), options)
    table = open_dataset(tmp_path / "ds").to_table()
    assert table.num_rows == 0 and table.column_names == ["id", "bytes", "patch_lengths"]


def test_a_pass_begun_after_a_finished_one_starts_over(dataset: Path):
    """The position stayed at the end after a full pass, so a second `list(ds)` (or a
    second epoch's `for row in ds`) gave no rows at all, silently."""
    ds = open_dataset(dataset)
    first = [r.id for r in ds]
    assert len(first) == ds.num_rows > 0
    assert [r.id for r in ds] == first
    assert [r["id"] for b in ds.iter_batches(7) for r in b.to_pylist()] == first
    finished = ds.state_dict()
    resumed = open_dataset(dataset)  # a run resumed at the end of an epoch starts the next one
    resumed.load_state_dict(finished)
    assert [r.id for r in resumed] == first
    partial = open_dataset(dataset)  # a pass left midway still resumes there, not at the start
    it = iter(partial)
    head = [next(it).id for _ in range(3)]
    assert head + [r.id for r in partial] == first
    exact = open_dataset(dataset)  # stopped right after the last row, inside the last shard
    last = len(exact.shard_files) - 1
    exact.load_state_dict({"shard": last, "row": exact.manifest["shards"][last]["documents"]})
    assert [r.id for r in exact] == first


def test_bad_shard_indices_batch_sizes_and_rows_are_named(dataset: Path):
    """read_shard(99) raised the list's bare "list index out of range", iter_batches(2.5)
    failed inside pyarrow's slice, and a row past its shard's end was taken (the rest of
    the shard skipped without a word)."""
    ds = open_dataset(dataset)
    n = len(ds.shard_files)
    assert ds.read_shard(-1).num_rows == ds.manifest["shards"][-1]["documents"]
    with pytest.raises(IndexError, match=f"shard {n} out of range: dataset .* has {n} shards"):
        ds.read_shard(n)
    with pytest.raises(TypeError, match="shard index is an integer, got str"):
        ds.read_shard("0")
    with pytest.raises(TypeError, match="batch_rows must be an integer, got 2.5"):
        next(ds.iter_batches(2.5))
    rows = ds.manifest["shards"][0]["documents"]
    with pytest.raises(ValueError, match=f"past the {rows:,} rows of shard 0"):
        ds.load_state_dict({"shard": 0, "row": rows + 1})
    ds.load_state_dict({"shard": 0, "row": rows})  # the end of a shard is a position
    assert next(iter(ds)).id == open_dataset(dataset).read_shard(1).column("id")[0].as_py()


def test_rows_by_index_and_len_as_a_list(dataset: Path):
    """`len(ds)` and `ds[i]` raised "has no len()" / "not subscriptable": a notebook had to
    iterate (moving the resume position) or concatenate every shard to look at one row."""
    import pickle

    ds = open_dataset(dataset)
    rows = list(open_dataset(dataset))
    assert len(ds) == ds.num_rows == len(rows)
    picks = [0, 1, len(rows) - 1, -1, -len(rows), ds.manifest["shards"][0]["documents"], 5]
    assert [ds[i] for i in picks] == [rows[i] for i in picks]
    assert ds[np.int64(2)] == rows[2]
    assert ds.state_dict() == {"shard": 0, "row": 0}  # looking at rows is not iterating
    for i in (len(rows), -len(rows) - 1):
        with pytest.raises(IndexError, match=f"row {i} out of range for dataset .* of {len(rows):,} rows"):
            ds[i]
    with pytest.raises(TypeError, match="row index is an integer, got slice"):
        ds[0:2]
    again = pickle.loads(pickle.dumps(ds))  # the kept shard does not travel
    assert again._last_shard is None and again[3] == rows[3]
    assert repr(ds).startswith("Dataset(") and f"rows={len(rows):,}" in repr(ds) and "'stride'" in repr(ds)
