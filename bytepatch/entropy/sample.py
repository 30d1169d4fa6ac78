"""The calibration sample: a bounded, deterministic slice of a corpus (docs/design.md §4).

Calibration needs "a sample of the corpus", not its first bytes: a corpus whose first
file is one language or one 1 GB document would otherwise calibrate on that alone.
The trade-off chosen here is one streaming pass over the whole corpus that keeps at
most twice the sample in memory:

- Inputs are read round-robin, one document from each in turn, so the sample spans
  every input file. At most `MAX_OPEN` inputs are open at once; with more inputs than
  that, the first ones visited are spread evenly over the (sorted) list, e.g. files
  0, k, 2k, ... and the pool is refilled from the rest in that interleaved order.
- Documents are cut into pieces of `PIECE_BYTES` (smaller for a small sample, so that
  it holds about `PIECES` of them: the sampling error of the mean patch size shrinks
  with the number of pieces, not of bytes); a piece from inside a document keeps the `CONTEXT` bytes before it, so the
  entropies of its first bytes see their past (exactly, for an n-gram model of order
  up to 64; nearly, for a transformer). A piece is the sampling unit, so a long
  document is sampled from end to end, in proportion to its bytes like everything else.
- The sample is stratified over the *whole* stream, not its first bytes: one piece,
  chosen at random, from every stretch of 2**k pieces, with k growing (strata merging)
  whenever the sample outgrows twice its size. So a sorted file, or a corpus whose
  style drifts from start to end, is represented from end to end, whatever its size,
  and the mean patch size on the sample is that of the corpus (the tests hold it
  within 3%). A fixed stride would alias with periodic structure (documents that
  alternate in kind); a random choice per stretch cannot. This reads the whole corpus
  once, cheap next to computing its entropies. A corpus smaller than the sample is
  taken whole.
- Empty documents are skipped (they have no patches). The same inputs, reader settings
  and size always give the same sample.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from bytepatch.io import ReaderConfig, Span, expand_sources, read_source
from bytepatch.io.sources import Note, note_to_stderr

MAX_OPEN = 64  # inputs read at once (open files) while sampling round-robin
DOCUMENT_SHARE = 16  # kept for callers: the old per-document share of the sample
PIECES = 2048  # a sample holds about this many pieces or more: a small sampling error
PIECE_BYTES = 1024  # documents are sampled in pieces of at most this size, from anywhere in them
MIN_PIECE_BYTES = 64  # ... and at least this size
CONTEXT = 32  # bytes before a piece kept with it: its first entropies see their past


def spread_order(n: int, width: int = MAX_OPEN) -> list[int]:
    """0..n-1 interleaved with stride ceil(n / width): the first `width` are spread over all."""
    stride = max(1, -(-n // width))
    return [i for r in range(stride) for i in range(r, n, stride)]


def round_robin(
    inputs: Sequence[str], reader: ReaderConfig, max_open: int = MAX_OPEN, note: Note = note_to_stderr
) -> Iterator[bytes]:
    """Every non-empty document of the inputs, taking one from each open input in turn
    (`note`: as for `expand_inputs`, and for the readers' warnings)."""
    sources = expand_sources(list(inputs), note)
    pending = deque(sources[i] for i in spread_order(len(sources), max_open))
    active: deque[Iterator] = deque()
    try:
        while pending or active:
            while pending and len(active) < max_open:
                listed = pending.popleft()  # ids named by path, as without a span
                span = Span(listed.path, regular=listed.regular)
                active.append(iter(read_source(listed.path, reader, span, note=note)))
            source = active.popleft()
            for doc in source:
                if doc.data:
                    active.append(source)
                    yield doc.data
                    break
    finally:
        for source in active:
            getattr(source, "close", lambda: None)()


Piece = tuple[bytes, int]  # (context + piece bytes, length of the context)


def sample_documents(inputs: Sequence[str], reader: ReaderConfig, sample_bytes: int) -> list[bytes]:
    """About `sample_bytes` bytes of pieces of documents (or all of them if the corpus is
    smaller), spread over the whole of every input in proportion to its bytes; each piece
    with its context (use `sample_pieces` and `piece_entropies` to drop it again)."""
    return [data for data, _ in sample_pieces(inputs, reader, sample_bytes)]


def sample_pieces(
    inputs: Sequence[str], reader: ReaderConfig, sample_bytes: int, note: Note = note_to_stderr
) -> list[Piece]:
    """The sample as (bytes, context length) pieces, in corpus order (`note`: as for
    `round_robin`)."""
    if sample_bytes < 1:
        raise ValueError(f"sample size must be >= 1 byte, got {sample_bytes}")
    return spread_sample(round_robin(inputs, reader, note=note), sample_bytes)


def piece_entropies(model: Any, sample: Sequence[Piece]) -> list[np.ndarray]:
    """The entropies of the sample's own bytes (contexts dropped), one array per run of
    pieces that starts at a document's first byte, as `calibrate_threshold` takes documents.

    A piece that starts a document (no context) starts an array: its first byte is a
    forced patch start in `segment`, and on short documents those starts are a large
    share of the patches (one per document: on 16-byte lines, target 8 came out 7.05).
    A piece from inside a document is appended to the array before it: its first byte
    must not count as a forced start (that would bias the mean patch size down by about
    one patch per piece). A relative rule or a cap sees one junction per appended piece,
    a negligible effect.
    """
    if not sample:
        return []
    hs = model.entropies([data for data, _ in sample])
    runs: list[list[np.ndarray]] = []
    for h, (_, ctx) in zip(hs, sample):
        own = np.asarray(h, dtype=np.float32)[ctx:]
        if ctx == 0 or not runs:  # no context: the piece starts its document
            runs.append([own])
        else:
            runs[-1].append(own)
    return [np.concatenate(run) if len(run) > 1 else run[0] for run in runs]


def pieces(data: bytes, width: int, context: int = CONTEXT) -> Iterator[Piece]:
    """`data` cut into pieces of `width` bytes; each piece after the first starts with
    the `context` bytes before it, so its first entropies see (some of) their past."""
    for start in range(0, len(data), width):
        ctx = min(start, context)
        yield data[start - ctx : start + width], ctx


def spread_sample(docs: Iterator[bytes], sample_bytes: int, seed: int = 0) -> list[Piece]:
    """A stratified sample of about `sample_bytes` over the whole document stream.

    Documents are cut into pieces (`pieces`), numbered in stream order. The stream is
    split into strata of 2**k consecutive pieces and one piece is kept per stratum: the
    one with the lowest priority, a number drawn from a seeded generator (so the same
    stream gives the same sample). `k` starts at 0 (every piece kept) and grows by one,
    merging neighbouring strata (keeping the lower priority), whenever the sample
    outgrows twice its size. So memory stays below 2 x `sample_bytes`, the sample has
    one piece from every stretch of the corpus, and, unlike a fixed stride, it cannot
    alias with periodic structure (documents that alternate in kind). At the end strata
    are merged until the sample fits `sample_bytes`.
    """
    width = max(MIN_PIECE_BYTES, min(PIECE_BYTES, sample_bytes // PIECES))
    rng = random.Random(seed)
    level = 0
    kept: dict[int, tuple[float, int, Piece]] = {}  # stratum -> (priority, order, piece)
    total = order = 0
    try:
        for data in docs:
            for piece in pieces(data, width):
                u = rng.random()
                stratum = order >> level
                order += 1
                old = kept.get(stratum)
                if old is not None and old[0] <= u:
                    continue
                kept[stratum] = (u, order, piece)
                total += len(piece[0]) - (len(old[2][0]) if old else 0)
                while total > 2 * sample_bytes and len(kept) > 1:  # one piece may outgrow a tiny sample
                    kept, total = _merge(kept)
                    level += 1
    finally:
        getattr(docs, "close", lambda: None)()
    while total > sample_bytes and len(kept) > 1:
        kept, total = _merge(kept)
    return [piece for _, _, piece in sorted(kept.values(), key=lambda k: k[1])]


def _merge(kept: dict[int, tuple[float, int, Piece]]) -> tuple[dict[int, tuple[float, int, Piece]], int]:
    """Strata twice as long: of each pair of neighbours, the piece of lower priority."""
    merged: dict[int, tuple[float, int, Piece]] = {}
    for stratum, entry in kept.items():
        other = merged.get(stratum >> 1)
        if other is None or entry[0] < other[0]:
            merged[stratum >> 1] = entry
    return merged, sum(len(e[2][0]) for e in merged.values())
