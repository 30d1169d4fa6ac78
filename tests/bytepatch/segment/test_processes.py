"""--workers N: worker errors and deaths reach the parent as clear errors, never a hang."""

from __future__ import annotations

import multiprocessing
import os
import signal
from dataclasses import asdict
from pathlib import Path

import pytest

from bytepatch.dataset.integrity import check_file
from bytepatch.dataset.schema import dataset_schema
from bytepatch.errors import InputError, OutputError
from bytepatch.io.documents import Document, FileDocument
from bytepatch.patchers import PatcherSpec
from bytepatch.segment.chunks import Chunk
from bytepatch.segment.layout import JobLayout
from bytepatch.segment.processes import run_in_processes
from bytepatch.segment.worker import ShardJob, ShardWriter


def _job(out: Path) -> ShardJob:
    patcher = PatcherSpec.from_dict({"patcher": "space", "max_patch_length": None}).build()
    return ShardJob(JobLayout(out, "arrow", 1, 0), dataset_schema(False, {}), patcher, False)


def _chunks(n: int) -> list[Chunk]:
    return [Chunk(i).add(Document(f"d{i}", b"some words, then more words " * 50)) for i in range(n)]


def test_shards_come_back_in_input_order(tmp_path: Path):
    (tmp_path / "out").mkdir()
    shards = list(run_in_processes(_chunks(7), _job(tmp_path / "out"), 2))
    assert [s.index for s in shards] == list(range(7))
    assert sorted(p.name for p in (tmp_path / "out").glob("*.arrow")) == [s.file for s in shards]
    assert multiprocessing.active_children() == []


def test_an_error_in_a_worker_is_raised_in_the_parent(tmp_path: Path):
    with pytest.raises(OutputError, match="cannot write shard"):  # the output directory does not exist
        list(run_in_processes(_chunks(4), _job(tmp_path / "missing"), 2))
    assert multiprocessing.active_children() == []


def test_a_worker_leaves_its_shard_unnamed_for_the_parent_to_publish(tmp_path: Path):
    """Only the process holding the directory's lock names shards: a worker's is complete
    and fsync'ed under a temporary name, renamed when its result reaches the parent."""
    out = tmp_path / "out"
    out.mkdir()
    pending = ShardWriter(_job(out)).write_unpublished(_chunks(1)[0])
    assert not pending.path.exists() and pending.tmp.exists() and pending.tmp.parent == out
    pending.publish()
    assert pending.path.exists() and not pending.tmp.exists()
    check_file(pending.path, asdict(pending.info), full=True)  # its checksums are the file's


def test_an_input_error_in_a_worker_reaches_the_parent_naming_the_file(tmp_path: Path):
    """A file listed, then gone before a worker reads it: the parent gets the worker's
    InputError with its fields (it once arrived as a TypeError from unpickling it)."""
    (tmp_path / "out").mkdir()
    gone = str(tmp_path / "gone.txt")
    chunks = _chunks(2) + [Chunk(2).add(FileDocument("gone.txt", gone, 100))]
    with pytest.raises(InputError, match="gone.txt: cannot read") as info:
        list(run_in_processes(chunks, _job(tmp_path / "out"), 2))
    assert info.value.source == gone and "No such file" in info.value.reason
    assert multiprocessing.active_children() == []


def test_a_worker_that_dies_is_reported_not_waited_for(tmp_path: Path):
    (tmp_path / "out").mkdir()

    def chunks():
        yield from _chunks(2)
        for child in multiprocessing.active_children():  # a worker killed (say, out of memory)
            os.kill(child.pid, signal.SIGKILL)
        yield from _chunks(4)[2:]

    with pytest.raises(OutputError, match=r"worker process \d+ died"):
        list(run_in_processes(chunks(), _job(tmp_path / "out"), 2))
    assert multiprocessing.active_children() == []


def test_the_pipeline_imports_multiprocessing_only_for_worker_processes():
    """~9 ms of start-up that a one-process run (the default) never uses."""
    import subprocess
    import sys

    code = "import sys, bytepatch.segment.pipeline; print('multiprocessing' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
