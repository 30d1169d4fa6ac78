"""The calibration sampler: bounded, deterministic, spread over the inputs (docs/design.md §4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bytepatch.entropy.sample import DOCUMENT_SHARE, round_robin, sample_documents, spread_order
from bytepatch.io import InputError, ReaderConfig

LINES = ReaderConfig(doc_per_line=True)


def write_lines(path: Path, prefix: str, n: int, width: int = 10) -> Path:
    path.write_text("".join(f"{prefix}{i:0{width - len(prefix)}d}\n" for i in range(n)))
    return path


def test_round_robin_takes_one_document_from_each_input_in_turn(tmp_path):
    a = write_lines(tmp_path / "a.txt", "a", 3)
    b = write_lines(tmp_path / "b.txt", "b", 1)
    c = write_lines(tmp_path / "c.txt", "c", 2)
    got = [d[:1] for d in round_robin([str(a), str(b), str(c)], LINES)]
    assert got == [b"a", b"b", b"c", b"a", b"c", b"a"]


def test_many_inputs_are_sampled_evenly_spread(tmp_path):
    files = [str(write_lines(tmp_path / f"f{i:03d}.txt", f"f{i:03d}-", 5)) for i in range(100)]
    sample = sample_documents(files, LINES, 16 * 10)  # sixteen 10-byte lines (each at most 1/16)
    # With 100 inputs and 64 open at once, the first visited are spread over all of them.
    assert [d[:4] for d in sample] == [f"f{i:03d}".encode() for i in spread_order(100)[:16]]
    assert spread_order(100)[:4] == [0, 2, 4, 6] and sorted(spread_order(100)) == list(range(100))


def test_a_long_document_is_truncated_while_others_remain(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 1_000_000)
    small = write_lines(tmp_path / "small.txt", "s", 500)
    sample = sample_documents([str(big), str(small)], LINES, 1600)
    # The long line gets its 1/16 share; the short lines fill the rest of the sample.
    assert len(sample[0]) == 1600 // DOCUMENT_SHARE and set(map(len, sample[1:])) == {10}
    assert sum(map(len, sample)) == 1600


def test_one_huge_document_still_fills_the_sample(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(bytes(range(256)) * 4000)
    sample = sample_documents([str(big)], ReaderConfig(), 100_000)
    assert sample == [big.read_bytes()[:100_000]]  # its beginning, grown back to the full size


def test_small_corpus_is_taken_whole_and_sampling_is_deterministic(tmp_path):
    path = tmp_path / "c.jsonl"
    texts = ["alpha", "", "beta gamma", "delta"]
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    sample = sample_documents([str(path)], ReaderConfig(), 1 << 20)
    assert sample == [b"alpha", b"beta gamma", b"delta"]  # empty documents are skipped
    assert sample_documents([str(path)], ReaderConfig(), 1 << 20) == sample


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="sample size"):
        sample_documents([str(tmp_path)], ReaderConfig(), 0)
    with pytest.raises(InputError):
        sample_documents([str(tmp_path / "missing.txt")], ReaderConfig(), 10)
