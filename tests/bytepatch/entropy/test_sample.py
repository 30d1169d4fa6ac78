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


def test_each_document_start_begins_an_array_with_its_forced_patch_start(tmp_path):
    """Joined into one array, the sample lost the patch start every document forces: on
    lines of ~16 bytes, calibrating to 8 gave 7.05 bytes per patch in `segment`."""

    class Identity:
        def entropies(self, docs):
            return [np.frombuffer(d, dtype=np.uint8).astype(np.float32) for d in docs]

    docs = [bytes(range(250)), b"short", bytes(range(100, 200))]
    parts = [p for d in docs for p in pieces(d, 64)]
    got = piece_entropies(Identity(), parts)
    assert [a.tobytes() for a in got] == [np.frombuffer(d, np.uint8).astype(np.float32).tobytes() for d in docs]


def test_calibration_on_short_documents_gives_segments_mean(tmp_path):
    """End to end: the threshold calibrated on a sample of short documents gives the
    target mean patch size when those documents are patched."""
    from bytepatch import load_patcher
    from bytepatch.entropy.calibrate import calibrate_threshold
    from bytepatch.entropy.registry import load_entropy_model

    words = (Path(__file__).resolve().parents[3] / "README.md").read_text().split()
    lines = [" ".join(words[i : i + 3]) for i in range(0, 3000, 3)]
    path = tmp_path / "short.txt"
    path.write_text("\n".join(lines) + "\n")
    model = load_entropy_model("default")
    result = calibrate_threshold(piece_entropies(model, sample_pieces([str(path)], LINES, 1 << 20)), 8.0)
    patcher = load_patcher("entropy", threshold=float(result.threshold))
    docs = [line.encode() for line in lines]
    achieved = sum(map(len, docs)) / sum(len(patcher.patch_lengths(d)) for d in docs)
    assert abs(achieved / 8.0 - 1) < 0.03, achieved


@pytest.mark.timeout(60)
def test_a_sample_smaller_than_one_piece_still_ends(tmp_path):
    """`--sample-bytes 10` looped forever: one piece (64 bytes and context) outgrew 2 x 10."""
    path = write_lines(tmp_path / "a.txt", "x", 500, width=40)
    sample = sample_pieces([str(path)], ReaderConfig(), 10)
    assert len(sample) == 1


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
