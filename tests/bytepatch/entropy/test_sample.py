"""The calibration sampler: bounded, deterministic, spread over the inputs (docs/design.md §4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import numpy as np

from bytepatch.entropy.sample import (
    CONTEXT,
    DOCUMENT_SHARE,
    piece_entropies,
    pieces,
    round_robin,
    sample_documents,
    sample_pieces,
    spread_order,
)
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
    assert 0.8 * 160 <= sum(map(len, sample)) <= 160
    # With 100 inputs and 64 open at once, the first visited are spread over all of them,
    # and the sample is spread over the whole stream: files from the start to the end.
    chosen = sorted({int(d[1:4]) for d in sample})
    assert len(chosen) >= 12 and chosen[0] < 15 and chosen[-1] > 85
    assert spread_order(100)[:4] == [0, 2, 4, 6] and sorted(spread_order(100)) == list(range(100))


def test_one_sorted_file_is_sampled_from_end_to_end(tmp_path):
    path = write_lines(tmp_path / "sorted.txt", "", 20_000)  # lines 0..19999 in order
    sample = sample_documents([str(path)], LINES, 1000)
    numbers = [int(d) for d in sample]
    assert numbers == sorted(numbers) and 50 <= len(numbers) <= 100  # one per stretch of the file
    gaps = [b - a for a, b in zip(numbers, numbers[1:])]
    assert numbers[0] < 500 and numbers[-1] > 19_000 and max(gaps) < 3 * 20_000 / len(numbers)


def test_a_long_document_is_truncated_while_others_remain(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 1_000_000)
    small = write_lines(tmp_path / "small.txt", "s", 500)
    sample = sample_documents([str(big), str(small)], LINES, 1600)
    # The long line gets at most its 1/16 share; the short lines fill the rest of the sample.
    assert max(map(len, sample)) <= 1600 // DOCUMENT_SHARE and {len(d) for d in sample if d[:1] == b"s"} == {10}
    assert 0.8 * 1600 <= sum(map(len, sample)) <= 1600


def test_one_huge_document_is_sampled_from_end_to_end(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"".join(b"%08d" % i for i in range(125_000)))  # 1 MB of increasing numbers
    pieces = sample_pieces([str(big)], ReaderConfig(), 100_000)
    assert 50_000 <= sum(len(p) for p, _ in pieces) <= 100_000
    firsts = [int(p[ctx : ctx + 8]) for p, ctx in pieces]  # pieces start every 64 bytes: on a number
    assert firsts == sorted(firsts) and firsts[0] < 10_000 and firsts[-1] > 115_000
    # every piece after the document's start carries the bytes before it as context
    assert all(ctx == CONTEXT for _, ctx in pieces[1:]) and all(p[:ctx] for p, ctx in pieces[1:])


def test_sample_entropies_drop_the_contexts_and_match_the_corpus():
    class Identity:  # entropies that encode the byte position, to see what is kept
        def entropies(self, docs):
            return [np.frombuffer(d, dtype=np.uint8).astype(np.float32) for d in docs]

    data = bytes(range(200)) * 50
    parts = list(pieces(data, 100))
    (joined,) = piece_entropies(Identity(), parts)
    assert joined.tobytes() == np.frombuffer(data, dtype=np.uint8).astype(np.float32).tobytes()


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
