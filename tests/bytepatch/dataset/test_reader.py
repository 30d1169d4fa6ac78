"""open_dataset: rows, batches, metadata and exact resume from a state dict."""

from __future__ import annotations

import io
from pathlib import Path

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
