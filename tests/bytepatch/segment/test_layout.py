"""Shard names at any count (issue 13.5): recognised, ordered, found in O(1)."""

from __future__ import annotations

from pathlib import Path

from bytepatch.dataset.manifest import ShardInfo, build_manifest
from bytepatch.segment.layout import JobLayout, written_by_bytepatch


def test_names_past_99999_shards_are_recognised():
    single = JobLayout(Path("out"), "arrow")
    for chunk in (0, 99_999, 100_000, 1_234_567):
        name = single.shard_name(chunk)
        assert single.chunk_of(name) == chunk and single.owns(name) and written_by_bytepatch(name)
    job = JobLayout(Path("out"), "arrow", num_jobs=3, job=2)
    assert job.chunk_of(job.shard_name(100_001)) == 100_001
    assert JobLayout(Path("out"), "arrow", num_jobs=3, job=1).sibling(job.shard_name(100_001))


def test_manifest_lists_shards_in_numeric_order():
    layout = JobLayout(Path("out"), "arrow")
    chunks = [100_000, 9, 99_999, 10_000, 0, 100_001]
    infos = [ShardInfo(c, layout.shard_name(c), 1, 1, 1, 1) for c in chunks]
    manifest = build_manifest({}, infos, "arrow")
    assert [s["index"] for s in manifest["shards"]] == sorted(chunks)
