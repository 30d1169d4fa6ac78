"""Fuzzing the dataset reader (issue 13.11): a damaged manifest or shard gives either a
clean ValueError naming the file, or exactly the dataset's rows. Never other data."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from bytepatch import load_patcher, open_dataset
from bytepatch.io import ReaderConfig
from bytepatch.segment import SegmentOptions, segment_corpus
from tests.fuzz_mutations import mutation

SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sample"
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, list]:
    out = tmp_path_factory.mktemp("fz") / "out"
    options = SegmentOptions(shard_size_mb=0.03, show_progress=False, save_entropies=True)
    segment_corpus([str(SAMPLE)], out, load_patcher("entropy"), ReaderConfig(), options)
    return out, rows(out)


def rows(path: Path) -> list:
    return [(r.id, r.bytes, r.patch_lengths, r.entropies) for r in open_dataset(path)]


def damaged_copy(dataset: Path, name: str, damage, scratch: Path) -> Path:
    copy = Path(tempfile.mkdtemp(prefix="fz-", dir=scratch)) / "ds"
    shutil.copytree(dataset, copy)
    target = copy / name
    target.write_bytes(damage(target.read_bytes()))
    return copy


def check(copy: Path, expected: list, names: str) -> None:
    try:
        got = rows(copy)
    except ValueError as exc:  # ShardError is a ValueError; FileNotFoundError is not: see below
        assert str(copy) in str(exc) and "\n" not in str(exc).strip(), f"unclear error: {exc}"
        return
    except FileNotFoundError as exc:  # a manifest damaged into naming a missing shard
        assert str(copy) in str(exc)
        return
    assert got == expected, f"damaged {names} read as other rows"


@SETTINGS
@given(mutation())
def test_damaged_manifest(dataset, scratch, damage):
    path, expected = dataset
    check(damaged_copy(path, "manifest.json", damage, scratch), expected, "manifest")


@SETTINGS
@given(mutation())
def test_damaged_shard(dataset, scratch, damage):
    path, expected = dataset
    shard = sorted(p.name for p in path.glob("*.arrow"))[1]
    check(damaged_copy(path, shard, damage, scratch), expected, shard)
