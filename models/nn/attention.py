"""Attention whose memory grows linearly with length, and the KV cache every stepping path shares.

What is here, each with dense masked attention (`attend`) as the reference:

- `self_mask` + `self_attend`: causal self-attention, optionally within a sliding
  `window` and within documents, over new positions that may follow cached ones
  (`KVCache`). With a window and more than `chunk` new positions, queries are cut into
  chunks of `chunk` positions and each chunk attends to its own keys plus the
  `window - 1` before it (built with `unfold`, then one SDPA call over all chunks), so
  the mask and the scores take O(T x (chunk + window)) memory instead of O(T^2). Short
  inputs (decoding one byte, a chunk of a streamed document) use one dense mask over
  [cached keys, new keys], which is already small.
- `PatchCrossMask` + `patch_cross_attention`: BLT's byte <-> patch cross-attention. Every
  byte belongs to (encoder) or reads (decoder) exactly one patch of `k` slots, so the
  allowed (query, key) pairs number k x T, not T x P x k: the decoder gathers the k
  slots of each byte's patch, the encoder scores each byte against its patch's k slots
  and normalises with a segment softmax (scatter max / sum). O(T x k) memory.
- `KVCache`: rotated keys, values and document ids of the positions the next query may
  still see (the last `window - 1`, or all for full causal attention).

Trade-off: chunked windows compute T x (chunk + window - 1) scores where T x window
would do and copy each key (chunk + window - 1) / chunk times; in exchange they run
on every SDPA backend, under autocast and compile, with no custom kernel. Flex or
block-sparse attention would skip the copies on GPU but needs compilation to be fast.

Conventions: (B, H, T, D) heads for self-attention; a mask entry True means "may
attend". Every self-attention query sees at least itself, so no row is ever empty; a
cross-attention query with nothing to read returns zeros, as `attend` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# "sdpa": linear-memory masks (chunked windows, patch cross-attention) + PyTorch's fused kernel;
# "dense": dense (T, T) masks + the fused kernel (the pre-chunking path, kept for side-by-side benches);
# "reference": dense masks + a plain masked softmax (the definition, for tests).
ATTENTION_IMPLS = ("sdpa", "dense", "reference")
DEFAULT_MIN_CHUNK = 64  # chunks shorter than this spend more on per-chunk overhead than they save


def chunk_for(impl: str) -> int | None:
    """`self_mask`'s chunk for an attention impl: chunked windows for "sdpa", dense masks otherwise."""
    return 0 if impl == "sdpa" else None


def default_chunk(window: int) -> int:
    """Query chunk for a window: the window itself (each key copied about twice), at least 64."""
    return max(window, DEFAULT_MIN_CHUNK)


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    is_causal: bool = False,
    impl: str = "sdpa",
) -> torch.Tensor:
    """Scaled dot-product attention over (B, H, T, D) tensors with a dense mask: the reference.

    `mask` is boolean, broadcastable to (B, H, Tq, Tk), True = may attend; rows
    with no allowed key give zeros. `impl="sdpa"` (or "dense") calls PyTorch's fused
    kernel, `impl="reference"` a plain masked softmax (the ground truth in tests).
    """
    if mask is not None and is_causal:
        raise ValueError("pass either a mask or is_causal, not both")
    empty_rows = None
    if mask is not None:
        # A fully masked row would make softmax produce NaN; let it see every key,
        # then zero its output, so padded queries are harmless and gradients stay finite.
        empty_rows = ~mask.any(-1, keepdim=True)  # (B, 1, Tq, 1)
        mask = mask | empty_rows
    if impl in ("sdpa", "dense"):
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal)
    elif impl == "reference":
        scores = (q.float() @ k.float().transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (B, H, Tq, Tk)
        if is_causal:
            Tq, Tk = scores.shape[-2:]
            mask = torch.ones(Tq, Tk, dtype=torch.bool, device=q.device).tril()
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        out = (scores.softmax(-1) @ v.float()).type_as(q)
    else:
        raise ValueError(f"unknown attention impl {impl!r}; choose from {ATTENTION_IMPLS}")
    if empty_rows is not None:
        out = out.masked_fill(empty_rows, 0.0)
    return out


@dataclass(frozen=True, eq=False)
class SelfMask:
    """Which cached and new keys each new query may see; built once per forward, shared by all layers.

    kind "causal": plain causal over the new positions (SDPA's is_causal path);
    "full": every key visible (one new position, no documents);
    "dense": `tensor` (1 or B, 1, T, n_past + T) over [cached keys, new keys];
    "chunked": `tensor` (1 or B, 1 or n_chunks, chunk, chunk + window - 1), see `_chunked_mask`.
    """

    kind: str
    n_past: int  # cached positions the new queries may reach (already cut to window - 1)
    n_new: int
    window: int | None = None
    chunk: int | None = None
    tensor: torch.Tensor | None = None
    # chunked, no documents: masks (1, n, chunk, span) of the first n chunks, which reach into
    # the left padding; `tensor` is then the one band (1, 1, chunk, span) every later chunk shares.
    first: torch.Tensor | None = None


def _check_docs(doc_ids: torch.Tensor | None, past_doc_ids: torch.Tensor | None, n_past: int) -> None:
    if n_past and (doc_ids is None) != (past_doc_ids is None):
        raise ValueError("document ids must be given for both the cached and the new positions, or for neither")


def self_mask(
    T: int,
    *,
    window: int | None = None,
    doc_ids: torch.Tensor | None = None,
    n_past: int = 0,
    past_doc_ids: torch.Tensor | None = None,
    chunk: int | None = 0,
    device: torch.device | str | None = None,
) -> SelfMask:
    """Mask for T new queries after `n_past` cached keys: causal, within `window`, same document.

    Query t (absolute index n_past + t) sees key j when j <= n_past + t, and, with a window
    w, n_past + t - j < w, and, with doc_ids (B, T) / past_doc_ids (B, n_past), when both
    share a document. `chunk`: 0 = `default_chunk(window)`, None = always dense (the
    reference), an int = chunk length for windows over longer inputs.
    """
    _check_docs(doc_ids, past_doc_ids, n_past)
    if window is not None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if n_past > window - 1:  # older keys are out of every new query's reach
            past_doc_ids = None if past_doc_ids is None else past_doc_ids[:, past_doc_ids.shape[1] - (window - 1) :]
            n_past = window - 1
        if chunk == 0:
            chunk = default_chunk(window)
    if n_past == 0:
        past_doc_ids = None
    if window is not None and chunk is not None and T > chunk:
        return _chunked_mask(T, window, chunk, doc_ids, n_past, past_doc_ids, device)
    if doc_ids is None and n_past == 0 and window is None:
        return SelfMask("causal", 0, T)
    if doc_ids is None and T == 1:
        return SelfMask("full", n_past, T, window)
    i = torch.arange(T, device=device)[:, None] + n_past
    j = torch.arange(n_past + T, device=device)[None, :]
    mask = j <= i
    if window is not None:
        mask = mask & (i - j < window)
    mask = mask[None, None]  # (1, 1, T, n_past + T)
    if doc_ids is not None:
        keys = doc_ids if past_doc_ids is None else torch.cat([past_doc_ids.to(doc_ids.dtype), doc_ids], 1)
        mask = mask & (doc_ids[:, :, None] == keys[:, None, :])[:, None]
    return SelfMask("dense", n_past, T, window, None, mask)


def _chunked_mask(
    T: int,
    window: int,
    chunk: int,
    doc_ids: torch.Tensor | None,
    n_past: int,
    past_doc_ids: torch.Tensor | None,
    device: torch.device | str | None,
) -> SelfMask:
    """Chunk layout: keys [n_past cached, T new] are left-padded to window - 1 + n_chunks x chunk.

    After padding, query t sits at key index W1 + t (W1 = window - 1), and chunk i's
    queries [i c, (i + 1) c) read keys [i c, i c + c + W1): the same band in every chunk.
    """
    W1, c = window - 1, chunk
    n_chunks = -(-T // c)
    left, right = W1 - n_past, n_chunks * c - T
    span = c + W1
    qi = torch.arange(c, device=device)[:, None]
    kj = torch.arange(span, device=device)[None, :]
    band = ((kj >= qi) & (kj <= qi + W1))[None, None]  # (1, 1, c, span): causal band
    # Padding slots before the first cached key exist only to keep the band regular.
    valid = (torch.arange(W1 + n_chunks * c, device=device) >= left).unfold(0, span, c)  # (n_chunks, span)
    if doc_ids is None:
        # Only the first ceil(left / c) chunks see padding; the rest share one band (no per-chunk copies).
        n_first = min(-(-left // c), n_chunks)
        first = (band & valid[None, :n_first, None, :]) if n_first else None
        return SelfMask("chunked", n_past, T, window, c, band, first)
    mask = band & valid[None, :, None, :]  # (1, n_chunks, c, span)
    keys = doc_ids if past_doc_ids is None else torch.cat([past_doc_ids.to(doc_ids.dtype), doc_ids], 1)
    # Right padding repeats the last document, so padded queries still see themselves (no empty rows).
    keys = F.pad(keys, (left, 0), value=0)
    keys = torch.cat([keys, keys[:, -1:].expand(-1, right)], 1)  # (B, W1 + n_chunks c)
    queries = torch.cat([doc_ids, doc_ids[:, -1:].expand(-1, right)], 1).view(-1, n_chunks, c)
    same = queries[..., :, None] == keys.unfold(1, span, c)[..., None, :]  # (B, n_chunks, c, span)
    mask = mask & same
    return SelfMask("chunked", n_past, T, window, c, mask)


def self_attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: SelfMask,
    past_k: torch.Tensor | None = None,
    past_v: torch.Tensor | None = None,
    impl: str = "sdpa",
) -> torch.Tensor:
    """Self-attention of new q/k/v (B, H, T, D) after cached past_k/past_v (B, H, >= n_past, D)."""
    if mask.n_past:
        if past_k is None or past_v is None or past_k.shape[2] < mask.n_past:
            raise ValueError(f"the mask expects {mask.n_past} cached positions, the cache has fewer")
        k = torch.cat([past_k[:, :, past_k.shape[2] - mask.n_past :].to(k.dtype), k], 2)
        v = torch.cat([past_v[:, :, past_v.shape[2] - mask.n_past :].to(v.dtype), v], 2)
    if mask.kind == "causal":
        return attend(q, k, v, None, is_causal=True, impl=impl)
    if mask.kind == "full":
        return attend(q, k, v, None, impl=impl)
    if mask.kind == "dense":
        return attend(q, k, v, mask.tensor, impl=impl)
    return _chunked_attend(q, k, v, mask, impl)


def _chunked_attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: SelfMask, impl: str) -> torch.Tensor:
    B, H, T, D = q.shape
    W1, c = mask.window - 1, mask.chunk
    n_chunks = -(-T // c)
    left, right = W1 - mask.n_past, n_chunks * c - T
    span = c + W1

    def windows(x: torch.Tensor) -> torch.Tensor:  # (B, H, n_past + T, D) -> (B, n_chunks, H, span, D) view
        x = F.pad(x, (0, 0, left, right)).unfold(2, span, c)  # (B, H, n_chunks, D, span)
        return x.permute(0, 2, 1, 4, 3)

    qc = F.pad(q, (0, 0, 0, right)).view(B, H, n_chunks, c, D).transpose(1, 2)  # (B, n_chunks, H, c, D)
    kc, vc = windows(k), windows(v)  # (B, n_chunks, H, span, D)

    def run(qs: torch.Tensor, ks: torch.Tensor, vs: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        n = qs.shape[1]  # chunks in this call; rows of one SDPA call follow (batch, chunk)
        if m.shape[0] == 1 and m.shape[1] == 1:
            m = m[0]  # one band for every row: broadcast, never copied
        else:
            m = m.expand(B, n, c, span).reshape(B * n, 1, c, span)
        qs, ks, vs = (x.reshape(B * n, H, -1, D) for x in (qs, ks, vs))
        if impl in ("sdpa", "dense"):  # no empty rows here (every query sees itself), so no fix-up is needed
            out = F.scaled_dot_product_attention(qs, ks, vs, attn_mask=m)
        else:
            out = attend(qs, ks, vs, m, impl=impl)
        return out.view(B, n, H, c, D)

    if mask.first is None:
        out = run(qc, kc, vc, mask.tensor)
    else:
        n = mask.first.shape[1]
        parts = [run(qc[:, :n], kc[:, :n], vc[:, :n], mask.first)]
        if n < n_chunks:
            parts.append(run(qc[:, n:], kc[:, n:], vc[:, n:], mask.tensor))
        out = torch.cat(parts, 1) if len(parts) > 1 else parts[0]
    return out.transpose(1, 2).reshape(B, H, n_chunks * c, D)[:, :, :T]


class KVCache:
    """Rotated keys, values and document ids of one self-attention layer's past positions.

    Keeps the last `window - 1` positions (a new query sees itself and those), or every
    position when `window` is None. Document ids are kept only when they are given.
    Full-causal caches grow into a buffer that doubles, so n steps cost O(n) copies, not O(n^2).
    """

    def __init__(self, window: int | None) -> None:
        self.window = window
        self._k: torch.Tensor | None = None  # (B, H, capacity, D)
        self._v: torch.Tensor | None = None
        self._doc: torch.Tensor | None = None  # (B, capacity)
        self.length = 0  # valid positions held

    @property
    def k(self) -> torch.Tensor | None:
        return None if self._k is None else self._k[:, :, : self.length]

    @property
    def v(self) -> torch.Tensor | None:
        return None if self._v is None else self._v[:, :, : self.length]

    @property
    def doc_ids(self) -> torch.Tensor | None:
        return None if self._doc is None else self._doc[:, : self.length]

    def update(self, k: torch.Tensor, v: torch.Tensor, doc_ids: torch.Tensor | None = None) -> None:
        """Append new positions' rotated keys/values (B, H, T, D) (and their doc ids (B, T))."""
        if self.length and (doc_ids is None) != (self._doc is None):
            raise ValueError("document ids must be given for every update of a cache, or for none")
        if self.window is not None:
            keep = self.window - 1
            cat = lambda old, new, dim: new if old is None or not self.length else torch.cat([old, new], dim)  # noqa: E731
            self._k = cat(self.k, k, 2)[:, :, max(0, self.length + k.shape[2] - keep) :]
            self._v = cat(self.v, v, 2)[:, :, max(0, self.length + v.shape[2] - keep) :]
            if doc_ids is not None:
                self._doc = cat(self.doc_ids, doc_ids, 1)[:, max(0, self.length + doc_ids.shape[1] - keep) :]
            self.length = self._k.shape[2]
            return
        new_len = self.length + k.shape[2]
        if self._k is None or new_len > self._k.shape[2]:
            capacity = max(new_len, 2 * (0 if self._k is None else self._k.shape[2]), 16)
            self._k = _grow(self.k, k, capacity, 2)
            self._v = _grow(self.v, v, capacity, 2)
            if doc_ids is not None:
                self._doc = _grow(self.doc_ids, doc_ids, capacity, 1)
        self._k[:, :, self.length : new_len] = k
        self._v[:, :, self.length : new_len] = v
        if doc_ids is not None:
            self._doc[:, self.length : new_len] = doc_ids
        self.length = new_len


def _grow(old: torch.Tensor | None, like: torch.Tensor, capacity: int, dim: int) -> torch.Tensor:
    shape = list(like.shape)
    shape[dim] = capacity
    buf = like.new_zeros(shape)
    if old is not None and old.shape[dim]:
        buf.narrow(dim, 0, old.shape[dim]).copy_(old)
    return buf


@dataclass(frozen=True, eq=False)
class PatchCrossMask:
    """BLT's byte <-> patch cross-attention pattern, without a dense (T, P x k) mask.

    `byte_patch` (B, T): for the encoder (`bytes_are_queries=False`) the patch each byte
    belongs to, read by that patch's k query slots; for the decoder (True) the patch whose
    k slots each byte reads, -1 for none. Slot s belongs to patch s // k. `n_patches` = P.
    """

    byte_patch: torch.Tensor
    k: int
    n_patches: int
    bytes_are_queries: bool

    def dense(self) -> torch.Tensor:
        """The same pattern as a dense boolean mask (B, 1, Tq, Tk): the reference."""
        slot_patch = torch.arange(self.n_patches * self.k, device=self.byte_patch.device) // self.k
        if self.bytes_are_queries:
            return (self.byte_patch[:, :, None] == slot_patch[None, None, :])[:, None]  # (B, 1, T, P*k)
        return (slot_patch[None, :, None] == self.byte_patch[:, None, :])[:, None]  # (B, 1, P*k, T)


def patch_cross_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: PatchCrossMask) -> torch.Tensor:
    """Cross-attention over (B, Tq, H, D) queries and (B, Tk, H, D) keys/values -> (B, Tq, H, D).

    Equal to dense masked attention with `mask.dense()` (rows with nothing to read give 0),
    in O(T x k) memory. Scores and softmax are computed in float32.
    """
    if mask.bytes_are_queries:
        return _bytes_read_slots(q, k, v, mask)
    return _slots_read_bytes(q, k, v, mask)


def _bytes_read_slots(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: PatchCrossMask) -> torch.Tensor:
    B, T, H, D = q.shape
    n = mask.k
    patch = mask.byte_patch
    slots = patch.clamp(min=0)[:, :, None] * n + torch.arange(n, device=q.device)  # (B, T, k)
    rows = torch.arange(B, device=q.device)[:, None, None]
    kg, vg = k[rows, slots], v[rows, slots]  # (B, T, k, H, D)
    scores = torch.einsum("bthd,btshd->bths", q.float(), kg.float()) / math.sqrt(D)  # (B, T, H, k)
    out = torch.einsum("bths,btshd->bthd", scores.softmax(-1), vg.float())
    return out.masked_fill((patch < 0)[:, :, None, None], 0.0).to(q.dtype)


def _slots_read_bytes(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: PatchCrossMask) -> torch.Tensor:
    B, S, H, D = q.shape  # S = P * k query slots
    T, n = k.shape[1], mask.k
    # Edge (b, t, r): byte t of row b is read by slot r of its patch; flattened over the batch.
    slots = mask.byte_patch[:, :, None] * n + torch.arange(n, device=q.device)  # (B, T, k)
    flat = (slots + torch.arange(B, device=q.device)[:, None, None] * S).reshape(-1)  # (B*T*k,) into B*S
    qf = q.reshape(B * S, H, D).float()
    kf = k.float()[:, :, None].expand(B, T, n, H, D).reshape(-1, H, D)  # (E, H, D)
    scores = (qf[flat] * kf).sum(-1) / math.sqrt(D)  # (E, H)
    # Segment softmax over the bytes of each slot; the max only keeps exp() in range.
    index = flat[:, None].expand(-1, H)
    peak = torch.full((B * S, H), -math.inf, device=q.device).scatter_reduce(
        0, index, scores.detach(), reduce="amax", include_self=True
    )
    e = (scores - peak[flat]).exp()  # (E, H)
    total = torch.zeros(B * S, H, device=q.device).index_add(0, flat, e)
    weights = e / total[flat]
    vf = v.float()[:, :, None].expand(B, T, n, H, D).reshape(-1, H, D)
    out = torch.zeros(B * S, H, D, device=q.device).index_add(0, flat, weights[..., None] * vf)
    return out.view(B, S, H, D).to(q.dtype)  # slots with no byte keep 0
