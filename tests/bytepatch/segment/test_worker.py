"""`load_kernels` and `warm_up` load the very kernels a run calls: Numba compiles and
caches a kernel per argument type, so a warm-up on another type (a read-only array from
`bytes`) left the run's own to load at its first group. A fresh process each, as what
a process has loaded is process-wide."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

SETUP = """
import numpy as np
from bytepatch import open_entropy_model
from bytepatch.dataset.schema import dataset_schema
from bytepatch.entropy import ngram_kernels
from bytepatch.patchers import PatcherSpec
from bytepatch.segment.chunks import Chunk
from bytepatch.segment.layout import JobLayout
from bytepatch.segment.worker import ShardJob, ShardWriter, load_kernels, warm_up
model = open_entropy_model()
patcher = PatcherSpec.from_dict({"patcher": "entropy", "threshold": 2.0}).build(model)
job = ShardJob(JobLayout(OUT, "arrow", 1, 0), dataset_schema(False, {}), patcher, False)
kernel = ngram_kernels.ngram_entropies_only_serial
"""


@pytest.mark.parametrize("warm", ["load_kernels(patcher)", "warm_up(job)"])
def test_the_warm_up_loads_the_kernel_a_run_calls(tmp_path: Path, warm: str) -> None:
    code = SETUP.replace("OUT", repr(str(tmp_path))) + (
        f"{warm}\n"
        "after_warm_up = len(kernel.signatures)\n"
        "text = bytearray(b'words of a document read from a file, into a writable buffer ' * 50)\n"
        "ShardWriter(job).table(Chunk(0, ['d'], text, [len(text)]), threads=1)\n"
        "print(after_warm_up, len(kernel.signatures))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1", "1"]


def test_load_kernels_leaves_a_torch_model_to_its_first_group() -> None:
    from bytepatch.segment.worker import load_kernels

    class TorchLike:  # no `entropies_flat`: `on_torch` takes it for a torch model
        def entropies(self, texts):
            raise AssertionError("load_kernels must not run a torch model")

    class Patcher:
        needs_entropies = True
        model = TorchLike()

        def patch_batch(self, docs, entropies=None):
            raise AssertionError("nor patch with it")

    load_kernels(Patcher())  # type: ignore[arg-type]


@given(
    sizes=st.lists(st.integers(0, 50), max_size=40),
    size=st.integers(1, 120),
    data=st.data(),
)
def test_split_cuts_a_group_into_whole_documents_of_about_the_part_size(sizes, size, data):
    from bytepatch.segment.worker import _split

    offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
    i = data.draw(st.integers(0, len(sizes)))
    j = data.draw(st.integers(i, len(sizes)))
    parts = list(_split(offsets, (i, j), size))
    assert [k for a, b in parts for k in range(a, b)] == list(range(i, j))  # every document once, in order
    for a, b in parts:
        assert a < b
        assert offsets[b - 1] - offsets[a] < size  # all but its last document stay under the size ...
        assert b == j or offsets[b] - offsets[a] >= size  # ... and it ends at the first that reaches it


def test_a_chunk_patched_on_threads_gives_the_table_of_one_thread(tmp_path: Path, monkeypatch) -> None:
    """A worker process's chunk on several threads (`--workers N --threads T`), behind the
    n-gram model, is patched in the same parts as a streamed run's groups: the table is
    the one thread's, entropies included."""
    from bytepatch import load_patcher
    from bytepatch.dataset.schema import dataset_schema
    from bytepatch.io.documents import Document
    from bytepatch.segment import chunks, worker
    from bytepatch.segment.chunks import Chunk
    from bytepatch.segment.layout import JobLayout
    from bytepatch.segment.worker import ShardJob, ShardWriter

    monkeypatch.setattr(chunks, "GROUP_BYTES", 5_000)
    monkeypatch.setattr(worker, "PART_BYTES", 1_500)
    chunk = Chunk(0)
    for i in range(200):
        chunk.add(Document(f"d{i}", (f"document {i}: " + "the quick brown fox jumps " * (i % 11)).encode()))
    job = ShardJob(JobLayout(tmp_path, "arrow", 1, 0), dataset_schema(True, {}), load_patcher("entropy"), True)
    ranges = []
    patch_group = ShardWriter._patch_group
    monkeypatch.setattr(
        ShardWriter,
        "_patch_group",
        lambda self, c, d, o, group, *a: ranges.append(group) or patch_group(self, c, d, o, group, *a),
    )
    one = ShardWriter(job).table(chunk, threads=1)
    groups = len(ranges)
    ranges.clear()
    three = ShardWriter(job).table(chunk, threads=3)
    assert three.equals(one) and three.num_rows == 200
    assert len(ranges) > groups > 1  # parts, more of them than groups
