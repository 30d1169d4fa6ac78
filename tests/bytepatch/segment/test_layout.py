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


def test_a_siblings_temporaries_are_the_siblings():
    """Jobs of one K-job run start side by side: one's half-written files are not the other's."""
    job0, job1 = JobLayout(Path("o"), "arrow", 2, 0), JobLayout(Path("o"), "arrow", 2, 1)
    for tmp in (
        "..bytepatch-run-00001-of-00002.json.host.example-14553-9d1b868a.tmp",
        ".train-00001-00003.arrow.h-1-0badcafe.tmp",
        ".manifest-00001-of-00002.json.h-1-0badcafe.tmp",
    ):
        assert written_by_bytepatch(tmp) and job0.sibling(tmp) and not job0.owns(tmp) and job1.owns(tmp)


def test_a_shard_of_another_format_or_prefix_is_no_siblings():
    """Every job of a run writes `train-` shards in the run's format: others are an earlier run's."""
    job0 = JobLayout(Path("o"), "arrow", 2, 0)
    assert job0.sibling("train-00001-00000.arrow")
    for name in ("train-00001-00000.parquet", "train-00000-00002.parquet", "part-00001-00000.arrow"):
        assert written_by_bytepatch(name) and not job0.sibling(name) and not job0.owns(name)
