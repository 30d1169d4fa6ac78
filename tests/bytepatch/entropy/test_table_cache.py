"""The n-gram table cache: a second load maps the tables the first one wrote, with the
same entropies and fingerprint; a damaged or unwritable cache only costs speed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bytepatch.entropy import table_cache as TC
from bytepatch.entropy.ngram import NgramConfig, NgramModel

TEXT = (Path(__file__).parent / "data" / "snippet.txt").read_bytes()
DOCS = [TEXT[:300], b"", b"the bridge of the river", TEXT[::-1][:200]]


def _saved(tmp_path: Path) -> Path:
    model = NgramModel.fit([TEXT, TEXT[::-1]], NgramConfig(order=5, min_count=1, initial_capacity=16))
    model.save(tmp_path / "model")
    return tmp_path / "model"


def _entries(root: Path) -> list[Path]:
    return sorted((root / "ngram-tables").glob("[0-9a-f]*"))


def test_second_load_maps_the_cached_tables(tmp_path, monkeypatch):
    monkeypatch.setenv("BYTEPATCH_CACHE_DIR", str(tmp_path / "cache"))
    path = _saved(tmp_path)
    first = NgramModel.load(path)
    assert len(_entries(tmp_path / "cache")) == 1
    second = NgramModel.load(path)
    assert isinstance(second._tables["slots"], np.memmap)  # mapped, not rebuilt
    assert second.fingerprint == first.fingerprint
    for a, b in zip(first.entropies_and_surprisals(DOCS), second.entropies_and_surprisals(DOCS)):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    assert second.arrays.keys() == first.arrays.keys()  # read lazily, same content
    assert all(np.array_equal(second.arrays[k], first.arrays[k]) for k in first.arrays)


def test_damaged_entry_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("BYTEPATCH_CACHE_DIR", str(tmp_path / "cache"))
    path = _saved(tmp_path)
    want = NgramModel.load(path).entropies(DOCS)
    (entry,) = _entries(tmp_path / "cache")
    slots = entry / "slots.npy"
    slots.write_bytes(slots.read_bytes()[: slots.stat().st_size // 2])  # truncated
    model = NgramModel.load(path)
    assert not isinstance(model._tables["slots"], np.memmap)  # rebuilt in memory
    for x, y in zip(model.entropies(DOCS), want):
        np.testing.assert_array_equal(x, y)


def test_changed_weights_never_hit_the_old_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("BYTEPATCH_CACHE_DIR", str(tmp_path / "cache"))
    path = _saved(tmp_path)
    NgramModel.load(path)
    other = NgramModel.fit([b"abab abba " * 30], NgramConfig(order=5, min_count=1, initial_capacity=16))
    other.save(path)  # rewritten in place
    assert NgramModel.load(path).fingerprint == other.fingerprint
    assert len(_entries(tmp_path / "cache")) == 2


def test_unwritable_cache_still_loads(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("BYTEPATCH_CACHE_DIR", str(blocker / "cache"))
    path = _saved(tmp_path)
    assert NgramModel.load(path).entropies([b"abc"])[0].shape == (3,)
    assert TC.cache_root() == blocker / "cache"
