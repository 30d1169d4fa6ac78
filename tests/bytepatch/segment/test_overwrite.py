"""--overwrite: the replaced dataset's files are set aside under temporary names and
unlinked on a thread while the new run patches (`prepare_output(set_aside=True)`,
`removing_in_background`); the new dataset is the same, and nothing of the old one is
left, whether the run finishes or fails."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pytest

from bytepatch.dataset import open_dataset
from bytepatch.io import ReaderConfig
from bytepatch.segment import SegmentOptions, pipeline, segment_corpus
from bytepatch.segment.layout import JobLayout
from bytepatch.segment.output import prepare_output, remove_temporaries, removing_in_background, temporaries

SPEC = {"patcher": "space", "max_patch_length": None}


def _corpus(tmp_path: Path, lines: int, name: str = "corpus.txt") -> Path:
    src = tmp_path / name
    src.write_text("".join(f"line {i}: the quick brown fox {i * 7919}\n" for i in range(lines)))
    return src


def _segment(src: Path, out: Path, **options) -> None:
    opts = SegmentOptions(shard_size_mb=0.05, show_progress=False, **options)
    segment_corpus([str(src)], out, SPEC, ReaderConfig(doc_per_line=True), opts)


def test_prepare_output_sets_this_jobs_files_aside_and_unlinks_the_rest(tmp_path: Path) -> None:
    src = _corpus(tmp_path, 6_000)
    out = tmp_path / "out"
    _segment(src, out)
    shards = sorted(p.name for p in out.glob("train-*.arrow"))
    assert len(shards) > 2
    (out / "part-00009.arrow").write_bytes(b"an older version's shard")  # this job's name then
    (out / "train-00001-00003.arrow").write_bytes(b"a shard of job 1 of a K-job run")  # no name of this job
    layout = JobLayout(out, "arrow")
    assert not prepare_output(layout, True, False, {"run": 2}, set_aside=True)
    left = sorted(os.listdir(out))
    assert "manifest.json" not in left
    assert not any(name.startswith(("train-", "part-")) for name in left)  # no old final name is left to read
    aside = temporaries(layout)
    # this job's shards renamed (the K-job shard was unlinked: its temporary would be no job's)
    assert sorted(p.name.split(".arrow.")[0][1:] for p in aside if ".arrow." in p.name) == sorted(
        [s.removesuffix(".arrow") for s in shards] + ["part-00009"]
    )
    remove_temporaries(layout)
    assert temporaries(layout) == []


def test_removing_in_background_unlinks_beside_the_body_and_leaves_what_it_cannot(tmp_path: Path) -> None:
    files = [tmp_path / f".f{i}.tmp" for i in range(5)]
    for f in files:
        f.write_bytes(b"x" * 1000)
    stuck = tmp_path / ".d.tmp"
    stuck.mkdir()  # unlink fails on a directory: left, not raised, for the caller's own pass

    class Held:
        """A path whose unlink waits until the body says so: the body runs while the thread removes."""

        def __init__(self) -> None:
            self.go, self.by = threading.Event(), ""

        def unlink(self, missing_ok: bool = False) -> None:
            self.by = threading.current_thread().name
            assert self.go.wait(30)

    held = Held()
    with removing_in_background([held, *files, stuck]):
        held.go.set()
    assert held.by == "bytepatch-remove"
    assert not any(f.exists() for f in files) and stuck.is_dir()
    assert "bytepatch-remove" not in [t.name for t in threading.enumerate()]  # joined
    again = [tmp_path / "g.tmp"]
    again[0].write_bytes(b"y")
    with removing_in_background(again, background=False):
        assert not again[0].exists()  # removed before the body, on this thread


@pytest.mark.parametrize("workers", [1, 2])
def test_overwrite_leaves_the_new_dataset_alone(tmp_path: Path, workers: int) -> None:
    src = _corpus(tmp_path, 6_000)
    first, out = tmp_path / "first", tmp_path / "out"
    _segment(src, first)
    _segment(_corpus(tmp_path, 9_000, "larger.txt"), out)
    _segment(src, out, overwrite=True, workers=workers)  # replaces a dataset of more shards
    assert sorted(os.listdir(out)) == sorted(os.listdir(first))  # no temporary, no old shard
    a, b = open_dataset(first), open_dataset(out)
    assert a.to_table().equals(b.to_table())


def test_a_failed_overwrite_leaves_neither_dataset(tmp_path: Path, monkeypatch) -> None:
    src = _corpus(tmp_path, 6_000)
    out = tmp_path / "out"
    _segment(src, out)

    def fail(*args, **kwargs):
        raise RuntimeError("stopped while patching")

    monkeypatch.setattr(pipeline, "_run", fail)
    with pytest.raises(RuntimeError, match="stopped while patching"):
        _segment(src, out, overwrite=True)
    left = [n for n in os.listdir(out) if not n.startswith(".bytepatch-lock")]
    assert left == [".bytepatch-run.json"]  # the run state, for --resume; no shard, no temporary


def test_what_a_killed_overwrite_set_aside_goes_with_the_next_run(tmp_path: Path, monkeypatch) -> None:
    """Killed (no `finally` runs) after the old shards were set aside: they stay as
    temporaries, no manifest; `--resume` of that run removes them and finishes it."""
    src = _corpus(tmp_path, 6_000)
    out, clean = tmp_path / "out", tmp_path / "clean"
    _segment(src, out)
    _segment(src, clean)

    @contextlib.contextmanager
    def nothing_removed(paths, background=True):
        yield

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(pipeline, "removing_in_background", nothing_removed)
        m.setattr(pipeline, "remove_temporaries", lambda layout: None)
        m.setattr(pipeline, "_run", killed)
        with pytest.raises(KeyboardInterrupt):
            _segment(src, out, overwrite=True)
    layout = JobLayout(out, "arrow")
    assert not (out / "manifest.json").exists() and not list(out.glob("train-*"))
    assert len(temporaries(layout)) > 2  # the old shards, under temporary names
    _segment(src, out, resume=True)
    assert temporaries(layout) == [] and sorted(os.listdir(out)) == sorted(os.listdir(clean))
    assert open_dataset(out).to_table().equals(open_dataset(clean).to_table())
