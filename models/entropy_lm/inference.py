"""Streaming, batched scoring of documents with a sliding-window `ByteTransformer`.

What it computes: for every byte t of every document, the model's next-byte
distribution at input position t of `[BOS, b0, ..., b_{n-2}]`, exactly as one plain
`model(idx)` pass over the whole document would give it (docs/design.md §2), reduced to the
entropy h[t] (nats) and the surprisal -log p(b_t) (nats), both in float32 from
`log_softmax`.

How: documents are laid end to end in B *lanes* (rows) and each lane is walked in
chunks of T positions, Mistral-style: every layer keeps a rolling cache of the keys
and values of the last `window - 1` positions, so each query attends to exactly the
keys it would see in a full-document pass (same document, at most `window` back),
and each position runs through the model once. A sliding window stacked over L
layers reaches L * (window - 1) positions back; streaming the caches gives every
byte that whole receptive field (its `context_length`) with no recomputation,
where overlapping chunks would have to recompute L * (window - 1) positions per
chunk to be exact (7154 for the paper's model).

No leaks: the mask allows a key only if it belongs to the query's own document, so
neither the cache nor the packed chunk ever carries one document's bytes into
another's entropies.

Not even by rounding: a document's entropies are the same bits whichever documents
share its call, in whatever order (`segment` scores a document with whatever its group
holds, which depends on the shard layout). Float sums round by where their terms sit,
so each byte is computed at the same place in the same shapes whatever its neighbours:

- Attention: SDPA takes a query chunk's softmax, and its product with the values, over
  the chunk's `c + window - 1` keys, so the same keys gave other bits when the query
  sat at another offset in its chunk (1-63 positions off: ~2e-6 nats). So every
  document starts in its lane at a multiple of `align` (the query chunk; a whole step
  where masks are dense), a step is a whole number of query chunks, and the caches
  start filled with `window - 1` masked positions: every step lays out [window - 1
  cached, T new] keys alike, and masked keys add exact zeros. The price is padding:
  up to `align - 1` positions per document.
- Shape: every step runs B x T positions, B = the lanes asked for however few documents
  the call has (as many lanes as documents made other matrix shapes, and MKL other
  bits on 2 threads), T a multiple of 8 (`ROW_MULTIPLE`). What remains, that a row of
  a matrix product or an SDPA batch entry comes out the same wherever it sits among
  others of one shape, is tested (`tests/models/entropy_lm/test_inference.py`).
- Pieces: so that B lanes are not idle beside one long document, documents are cut
  into pieces of about a lane's share (`split_documents`). A piece after the first
  starts `context_length - 1` positions (rounded up to `align`) before the first one it
  keeps, so a kept byte sees all it depends on, computed as in an unsplit pass: a cut
  changes no bit either.

Positions: RoPE sees each byte's index *within its document* (what a one-document
forward pass uses), so keys are rotated once, when computed, and cached rotated.
Angles are computed in float64 before cos/sin, so byte 10^8 of a document is rotated
as precisely as byte 10 (float32 angles would be off by ~0.06 rad at 10^6).

Each chunk runs through the model's own `TransformerBlock`s with a `KVCache` per
layer (the block training and generation use), under a `SelfMask` over [cached,
new] keys, in query chunks (8 on CPU, a quarter window on CUDA: `scoring_chunk`): each chunk
of queries reads only the keys its window reaches, in one SDPA call over all chunks.

Trade-offs: the chunks' key windows overlap, so each key is copied a few times and
T x (c + window - 1) scores are computed where T x window would do (c = chunk); it runs
on any SDPA backend, with no custom kernel. A call always pays for its B lanes, so a
call with one short document costs B x T positions. Each cut costs a receptive field of
warm-up, bounded by the piece itself. `model.forward` is the reference implementation
this fast path is tested against.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bytepatch.ids import BOS_ID, OFFSET
from bytepatch.models.nn.attention import DEFAULT_MIN_CHUNK, KVCache, chunk_for, self_mask
from bytepatch.models.nn.transformer import ByteTransformer

PAD_DOC = -1  # document index of padding positions in a lane
# Steps hold a multiple of this many positions per lane: on 2 threads MKL gave a row of a matrix
# product other bits by its place among 6 or 10 rows, never among a multiple of 8 (tested).
ROW_MULTIPLE = 8


def receptive_field(model: ByteTransformer) -> int:
    """Input positions (incl. the current one) any output can depend on: L * (window - 1) + 1."""
    window = model.config.window
    if window is None:
        raise ValueError("the entropy LM needs a sliding window (config.window); full-causal models have no bound")
    return model.config.n_layers * (window - 1) + 1


@dataclass
class _Lanes:
    """Pieces of documents packed into B lanes: ids, targets, piece and output slot per position."""

    ids: np.ndarray  # (B, N) int16 input ids, padded with BOS (narrow types: lanes hold whole batches)
    targets: np.ndarray  # (B, N) int16 byte id each position predicts (padding: 0)
    doc: np.ndarray  # (B, N) int32 piece index (what attention may not cross), PAD_DOC for padding
    pos: np.ndarray  # (B, N) int64 position within the document (RoPE), 0 for padding
    dest: np.ndarray  # (B, N) int64 index into the flat output (docs concatenated in input order), -1 = not kept


@dataclass(frozen=True)
class Piece:
    """Positions [start, stop) of document `doc`, scored together in one lane; those from `keep` on
    are kept. The `keep - start` before them only warm the caches up (none for a first piece)."""

    doc: int
    start: int
    keep: int
    stop: int


def split_documents(lengths: Sequence[int], n_lanes: int, align: int, warmup: int) -> list[Piece]:
    """Cut documents into pieces that fill `n_lanes` lanes about evenly, at multiples of `align`.

    A piece after the first starts `warmup` positions (the receptive field but one, rounded up to
    `align`) before the positions it keeps, so each kept output sees every input it depends on,
    computed at the same place in the same layout as in an unsplit pass: the same bits (tested).
    Pieces keep about a lane's share of the work, and at least `warmup` positions (at most half
    of a piece is warm-up). With one lane nothing is cut: a lane walks its documents in turn.
    """
    room = -(-np.asarray(lengths, dtype=np.int64) // align) * align
    warm = _round_up(warmup, align)
    share = -(-int(room.sum()) // max(n_lanes, 1))
    size = max(_round_up(share, align), warm, align) if n_lanes > 1 else None
    pieces = []
    for i, n in enumerate(int(x) for x in lengths):
        step = size or max(n, 1)  # (an empty document has no piece)
        for keep in range(0, n, step):
            pieces.append(Piece(i, max(0, keep - warm), keep, min(keep + step, n)))
    return pieces


def pack_lanes(docs: Sequence[bytes], n_lanes: int, align: int, warmup: int) -> tuple[_Lanes, np.ndarray]:
    """Cut documents into pieces (`split_documents`) and lay them end to end in `n_lanes` rows,
    each starting at a multiple of `align`, longest first into the shortest lane.

    Returns the lanes and `offsets` (len(docs) + 1,) of each document in the flat output.
    Any cut and assignment gives the same results; these only balance the work.
    """
    if align < 1:
        raise ValueError(f"align must be >= 1, got {align}")
    lengths = np.array([len(d) for d in docs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    pieces = split_documents(lengths, n_lanes, align, warmup)
    room = np.array([_round_up(p.stop - p.start, align) for p in pieces], dtype=np.int64)
    lane_pieces: list[list[int]] = [[] for _ in range(n_lanes)]
    lane_len = np.zeros(n_lanes, dtype=np.int64)
    for k in np.argsort(-room, kind="stable"):
        lane = int(np.argmin(lane_len))
        lane_pieces[lane].append(int(k))
        lane_len[lane] += room[k]
    width = int(lane_len.max())
    lanes = _Lanes(
        ids=np.full((n_lanes, width), BOS_ID, dtype=np.int16),
        targets=np.zeros((n_lanes, width), dtype=np.int16),
        doc=np.full((n_lanes, width), PAD_DOC, dtype=np.int32),
        pos=np.zeros((n_lanes, width), dtype=np.int64),
        dest=np.full((n_lanes, width), -1, dtype=np.int64),
    )
    for lane, members in enumerate(lane_pieces):
        at = 0
        for k in members:
            p = pieces[k]
            byte_ids = np.frombuffer(docs[p.doc], dtype=np.uint8)[max(p.start - 1, 0) : p.stop].astype(np.int16)
            byte_ids += OFFSET
            n, warm = p.stop - p.start, p.keep - p.start
            span = slice(at, at + n)
            # Position t predicts byte t from BOS, b0 .. b_{t-1}: its input is b_{t-1}, BOS at t = 0.
            lanes.ids[lane, span] = np.concatenate([[BOS_ID], byte_ids[:-1]]) if p.start == 0 else byte_ids[:-1]
            lanes.targets[lane, span] = byte_ids[-n:]
            lanes.doc[lane, span] = k
            lanes.pos[lane, span] = np.arange(p.start, p.stop)
            lanes.dest[lane, at + warm : at + n] = np.arange(offsets[p.doc] + p.keep, offsets[p.doc] + p.stop)
            at += int(room[k])
    return lanes, offsets


def scoring_chunk(attn_impl: str, window: int | None) -> int | None:
    """Query chunk for a streamed chunk's self-attention: a quarter window (at least 64), CUDA's
    default (CPU scores in chunks of 8, `model.CPU_SCORING`: documents are padded to whole chunks).

    A chunk of T = window new positions after window - 1 cached ones scored as one dense
    block computes T x (2 window - 1) scores, half of them masked out; in chunks of c
    queries each reads only its c + window - 1 keys: a quarter window scores 37% fewer,
    which on CPU made `small` 6-10% faster (bench/entropy_lm.py). The values are those of
    `model.forward` up to float rounding (tested)."""
    chunk = chunk_for(attn_impl)
    if chunk == 0 and window is not None:
        return max(DEFAULT_MIN_CHUNK, window // 4)
    return chunk


class StreamingScorer:
    """Runs a `ByteTransformer` over packed lanes chunk by chunk with per-layer rolling KV caches.

    `chunk_len` (T): positions per lane and step; `align`: documents start at lane positions
    that are multiples of it, where the attention layout repeats (see the module docstring).
    """

    def __init__(
        self,
        model: ByteTransformer,
        chunk_len: int,
        autocast_dtype: torch.dtype | None = None,
        query_chunk: int | None = None,
    ) -> None:
        """`chunk_len` positions per lane and step, rounded up to whole query chunks and to a multiple
        of `ROW_MULTIPLE` (see `align`); `query_chunk` queries per attention chunk (default
        `scoring_chunk`; models whose attention is not "sdpa" use dense masks whatever it says)."""
        receptive_field(model)  # validates that the model has a window
        if chunk_len < 1:
            raise ValueError(f"chunk_len must be >= 1, got {chunk_len}")
        if query_chunk is not None and query_chunk < 1:
            raise ValueError(f"query_chunk must be >= 1, got {query_chunk}")
        self.model = model
        c = scoring_chunk(model.config.attn_impl, model.config.window)
        self.query_chunk = c = query_chunk if c is not None and query_chunk is not None else c
        T = _round_up(chunk_len, ROW_MULTIPLE)
        if c is not None and T > c:
            # Chunked attention cuts each step into queries of c from its start: with steps of whole
            # chunks, the chunks start at the lane positions that are multiples of c, in every step.
            # A last step shorter than T runs in the same units: each chunk's layout is the same at
            # any step length, and a call on one short document (eval's end-of-document rule scores
            # one tail per document) need not pay for T positions.
            self.step_multiple = math.lcm(c, ROW_MULTIPLE)
            self.chunk_len = _round_up(T, self.step_multiple)
            self.align = c
        else:  # one dense mask per step: a query's keys are laid out by its place in the step
            self.chunk_len = T
            self.align = T
            self.step_multiple = T
        self.autocast_dtype = autocast_dtype

    @torch.inference_mode()
    def score(self, docs: Sequence[bytes], n_lanes: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(entropies, surprisals) in nats, one float32 array per document."""
        lengths = [len(d) for d in docs]
        offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
        total = int(offsets[-1])
        out_h = np.zeros(total, dtype=np.float32)
        out_s = np.zeros(total, dtype=np.float32)
        if total:
            # Always `n_lanes` lanes, however few documents: the steps' shape never depends on them.
            lanes, _ = pack_lanes(docs, max(1, n_lanes), self.align, receptive_field(self.model) - 1)
            self._run(lanes, out_h, out_s)
        split = lambda a: [a[offsets[i] : offsets[i + 1]] for i in range(len(docs))]  # noqa: E731
        return split(out_h), split(out_s)

    def _run(self, lanes: _Lanes, out_h: np.ndarray, out_s: np.ndarray) -> None:
        model, T = self.model, self.chunk_len
        device = next(model.parameters()).device
        N = lanes.ids.shape[1]
        # One rolling cache per layer: rotated keys, values and document ids of the last window - 1 positions.
        caches = [KVCache(model.config.window) for _ in model.blocks]
        self._fill_with_padding(caches, lanes.ids.shape[0], device)
        inv_freq = model.rotary.inv_freq.to(device, torch.float64)
        for start in range(0, N, T):
            stop = min(start + T, N)
            # T, but a short last step in whole chunks: more than one, or self_mask would go dense
            width = min(T, _round_up(max(stop - start, (self.query_chunk or 0) + 1), self.step_multiple))
            pad = width - (stop - start)
            chunk = lambda a, fill: torch.from_numpy(np.pad(a[:, start:stop], ((0, 0), (0, pad)), constant_values=fill))  # noqa: E731
            idx = chunk(lanes.ids, BOS_ID).to(device, torch.int64)
            doc = chunk(lanes.doc, PAD_DOC).to(device, torch.int64)
            first = caches[0]
            mask = self_mask(
                width,
                window=model.config.window,
                doc_ids=doc,
                n_past=first.length,
                past_doc_ids=first.doc_ids,
                chunk=self.query_chunk,
                device=device,
            )
            angles = chunk(lanes.pos, 0).to(device, torch.float64)[:, None, :, None] * inv_freq  # (B, 1, width, D/2)
            rope = (angles.cos().float(), angles.sin().float())
            with torch.autocast(device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
                x = model.tok_emb(idx)  # (B, T, C)
                for block, cache in zip(model.blocks, caches):
                    x = block(x, rope, mask, cache, doc)  # the block training uses, continuing the cache
                logits = model.head(model.norm(x)).float()  # (B, T, V)
            logp = torch.log_softmax(logits.float(), dim=-1)
            h = -(logp.exp() * logp).sum(-1)  # (B, T) nats
            tgt = chunk(lanes.targets, 0).to(device, torch.int64)
            s = -logp.gather(-1, tgt[..., None])[..., 0]  # (B, T) nats
            dest = chunk(lanes.dest, -1).numpy()
            keep = dest >= 0
            out_h[dest[keep]] = h.cpu().numpy()[keep]
            out_s[dest[keep]] = s.cpu().numpy()[keep]

    def _fill_with_padding(self, caches: list[KVCache], n_lanes: int, device: torch.device) -> None:
        """Start every cache full (window - 1 masked positions), so the first step lays out its keys
        as every later one does: a dense mask puts a query after the cached keys, which would
        otherwise number 0 in the first step and window - 1 later (other sums, other rounding)."""
        cfg = self.model.config
        past = cfg.window - 1
        if not past:
            return
        dtype = self.autocast_dtype or torch.float32  # what the projections give under autocast
        blank = torch.zeros(n_lanes, cfg.n_heads, past, cfg.dim // cfg.n_heads, device=device, dtype=dtype)
        no_doc = torch.full((n_lanes, past), PAD_DOC, device=device, dtype=torch.int64)
        for cache in caches:
            cache.update(blank, blank, no_doc)


def _round_up(n: int, unit: int) -> int:
    return -(-n // unit) * unit
