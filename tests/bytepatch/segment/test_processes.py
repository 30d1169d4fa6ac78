"""--workers N: worker errors and deaths reach the parent as clear errors, never a hang."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
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
from bytepatch.entropy import load_entropy_model
from bytepatch.segment import processes
from bytepatch.segment.processes import run_in_processes, start_method
from bytepatch.segment.worker import ShardJob, ShardWriter


def _job(out: Path) -> ShardJob:
    patcher = PatcherSpec.from_dict({"patcher": "space", "max_patch_length": None}).build()
    return ShardJob(JobLayout(out, "arrow", 1, 0), dataset_schema(False, {}), patcher, False)


def _chunks(n: int) -> list[Chunk]:
    return [Chunk(i).add(Document(f"d{i}", b"some words, then more words " * 50)) for i in range(n)]


@pytest.fixture(params=["fork", "spawn"])
def method(request, monkeypatch) -> str:
    """Run a test's workers forked, then spawned, whatever this process would choose."""
    if request.param not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {request.param} here")
    monkeypatch.setattr(processes, "start_method", lambda job: request.param)
    return request.param


def test_shards_come_back_in_input_order(tmp_path: Path, method: str):
    (tmp_path / "out").mkdir()
    shards = list(run_in_processes(_chunks(7), _job(tmp_path / "out"), 2))
    assert [s.index for s in shards] == list(range(7))
    assert sorted(p.name for p in (tmp_path / "out").glob("*.arrow")) == [s.file for s in shards]
    assert multiprocessing.active_children() == []


def test_an_error_in_a_worker_is_raised_in_the_parent(tmp_path: Path, method: str):
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


def test_an_input_error_in_a_worker_reaches_the_parent_naming_the_file(tmp_path: Path, method: str):
    """A file listed, then gone before a worker reads it: the parent gets the worker's
    InputError with its fields (it once arrived as a TypeError from unpickling it)."""
    (tmp_path / "out").mkdir()
    gone = str(tmp_path / "gone.txt")
    chunks = _chunks(2) + [Chunk(2).add(FileDocument("gone.txt", gone, 100))]
    with pytest.raises(InputError, match="gone.txt: cannot read") as info:
        list(run_in_processes(chunks, _job(tmp_path / "out"), 2))
    assert info.value.source == gone and "No such file" in info.value.reason
    assert multiprocessing.active_children() == []


def test_a_worker_that_dies_is_reported_not_waited_for(tmp_path: Path, method: str):
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
    code = "import sys, bytepatch.segment.pipeline; print('multiprocessing' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
def test_workers_are_forked_until_numbas_thread_pool_starts(tmp_path: Path):
    """With GNU OpenMP, a child forked after the pool started aborts in a parallel kernel
    ("fork() called from a process already using GNU OpenMP"). A fresh process, as the
    pool lives for the process's lifetime."""
    code = f"""
import numpy as np
from bytepatch import open_entropy_model
from bytepatch.dataset.schema import dataset_schema
from bytepatch.patchers import PatcherSpec
from bytepatch.segment.layout import JobLayout
from bytepatch.segment.processes import start_method
from bytepatch.segment.worker import ShardJob
model = open_entropy_model()
patcher = PatcherSpec.from_dict({{"patcher": "entropy", "threshold": 2.0}}).build(model)
job = ShardJob(JobLayout({str(tmp_path)!r}, "arrow", 1, 0), dataset_schema(False, {{}}), patcher, False)
print(start_method(job))
data = np.frombuffer(b"some words " * 100_000, dtype=np.uint8)
model.entropies_flat(data, np.array([0, len(data)]), threads=2)  # many tasks: the pool starts
print(start_method(job))
"""
    # The model's derived tables are built (on Numba's pool) by the first process that uses
    # it: here, not in the process under test, where the pool must not have started yet.
    warm = "from bytepatch import open_entropy_model; open_entropy_model().entropies([b'warm'])"
    subprocess.run([sys.executable, "-c", warm], check=True)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["fork", "spawn"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
def test_workers_are_spawned_beside_torch_or_another_thread(tmp_path: Path, monkeypatch):
    job = _job(tmp_path)
    monkeypatch.setattr(processes, "_numba_pool_started", lambda: False)
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert start_method(job) == "fork" or threading.active_count() > 1
    monkeypatch.setitem(sys.modules, "torch", sys)  # anything: only the name is looked up
    assert start_method(job) == "spawn"  # a forked torch/OpenMP runtime can deadlock
    monkeypatch.delitem(sys.modules, "torch")
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:  # another thread may hold a lock the child would inherit locked
        assert start_method(job) == "spawn"
    finally:
        stop.set()
        other.join()


def test_workers_that_load_torch_are_spawned(tmp_path: Path, monkeypatch):
    """A model that is not of a core kind (say, a transformer) may load torch: spawned."""
    monkeypatch.setattr(processes, "_numba_pool_started", lambda: False)
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    spec = PatcherSpec.from_dict({"patcher": "entropy", "threshold": 2.0})
    transformer_like = load_entropy_model("default")  # loaded, not a SharedModel: kind unknown
    job = ShardJob(JobLayout(tmp_path, "arrow", 1, 0), dataset_schema(False, {}), spec.build(transformer_like), False)
    assert start_method(job) == "spawn"


def test_forked_and_spawned_workers_write_the_same_shards(tmp_path: Path, monkeypatch):
    """The shipped entropy model, loaded and warmed in the parent before a fork."""
    from bytepatch import open_entropy_model

    spec = PatcherSpec.from_dict({"patcher": "entropy", "threshold": 2.0})
    files = {}
    for how in ("fork", "spawn"):
        out = tmp_path / how
        out.mkdir()
        job = ShardJob(
            JobLayout(out, "arrow", 1, 0), dataset_schema(False, {}), spec.build(open_entropy_model()), False
        )
        monkeypatch.setattr(processes, "start_method", lambda job: how)
        shards = list(run_in_processes(_chunks(5), job, 2))
        files[how] = [(s.file, s.sha256) for s in shards]
    assert files["fork"] == files["spawn"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
def test_a_forked_worker_holds_no_parents_end_of_a_pipe(tmp_path: Path, monkeypatch):
    """Else a worker would not see its pipe close if the parent went away without killing
    it: its own pipe's other end stays open in it, worker 1's in worker 2."""
    monkeypatch.setattr(processes, "start_method", lambda job: "fork")
    pool = processes._Workers(multiprocessing.get_context("fork"), 2, _job(tmp_path), multiprocessing.Value("q", 0))
    try:
        parent_ends = {os.stat(c.fileno()).st_ino for c in pool.conns}
        list(pool.run(_chunks(2), lambda: None))  # both workers past their start-up
        for proc in pool.procs:
            held = set()
            for fd in os.listdir(f"/proc/{proc.pid}/fd"):
                try:
                    held.add(os.stat(f"/proc/{proc.pid}/fd/{fd}").st_ino)
                except OSError:
                    pass
            assert not parent_ends & held
    finally:
        pool.kill()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked on Linux only")
def test_a_forked_worker_dies_of_sigterm_instead_of_running_the_parents_handler(tmp_path: Path, monkeypatch):
    """It inherits the parent's Python handlers; a spawned worker has the defaults."""
    (tmp_path / "out").mkdir()
    ran = tmp_path / "ran"
    previous = signal.signal(signal.SIGTERM, lambda *_: ran.write_text(str(os.getpid())))
    monkeypatch.setattr(processes, "start_method", lambda job: "fork")

    def chunks():
        yield from _chunks(2)
        for child in multiprocessing.active_children():
            os.kill(child.pid, signal.SIGTERM)
        yield from _chunks(4)[2:]

    try:
        with pytest.raises(OutputError, match=r"worker process \d+ died \(exit code -15\)"):
            list(run_in_processes(chunks(), _job(tmp_path / "out"), 2))
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert not ran.exists()


TORCH_WORKER = """
import pickle, sys
from bytepatch import open_entropy_model
from bytepatch.dataset.schema import dataset_schema
from bytepatch.patchers import PatcherSpec
from bytepatch.segment.layout import JobLayout
from bytepatch.segment.worker import ShardJob, worker_writer

# As a spawned worker receives it: the model's source, loaded on first use.
shared = pickle.loads(pickle.dumps(open_entropy_model(LM)))
for spec, model, threads in (({"patcher": "entropy", "threshold": 2.0}, shared, 1), ({"patcher": "space"}, None, 2)):
    built = PatcherSpec.from_dict(spec).build(model) if model else PatcherSpec.from_dict(spec).build()
    job = ShardJob(JobLayout(OUT, "arrow", 1, 0), dataset_schema(False, {}), built, False, threads=threads)
    worker_writer(job)
    print(sys.modules["torch"].get_num_threads())
"""


def test_a_worker_gives_a_torch_model_its_share_of_the_cpus(tmp_path: Path):
    """torch's intra-op threads default to every CPU the host reports (here OMP_NUM_THREADS=3),
    so each of N workers ran that many. A worker patching with a torch model gives it the
    job's threads, once it has loaded the model; a model-free one leaves torch alone."""
    pytest.importorskip("torch")
    from bytepatch.models.entropy_lm import TransformerEntropyModel
    from bytepatch.models.nn.transformer import TRANSFORMER_PRESETS, ByteTransformer

    TransformerEntropyModel(ByteTransformer(TRANSFORMER_PRESETS["tiny"]), default_threshold=2.0).save(tmp_path / "lm")
    code = TORCH_WORKER.replace("OUT", repr(str(tmp_path))).replace("LM", repr(str(tmp_path / "lm")))
    env = {**os.environ, "OMP_NUM_THREADS": "3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.split() == ["1", "1"]
