"""models/attention.py: chunked windows and patch cross-attention == dense masked attention; KV cache."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepatch.models.nn.attention import KVCache, PatchCrossMask, patch_cross_attention, self_attend, self_mask
from bytepatch.models.nn.layers import attend


def dense_reference(T, n_past, window, docs):
    """The definition: query n_past + t sees key j <= n_past + t, within the window, same document."""
    i = torch.arange(T)[:, None] + n_past
    j = torch.arange(n_past + T)[None, :]
    mask = j <= i
    if window is not None:
        mask = mask & (i - j < window)
    mask = mask[None, None]
    if docs is not None:
        mask = mask & (docs[:, n_past:, None] == docs[:, None, :])[:, None]
    return mask


@settings(max_examples=60, deadline=None)
@given(
    B=st.integers(1, 3),
    T=st.integers(1, 40),
    n_past=st.integers(0, 12),
    window=st.one_of(st.none(), st.integers(1, 20)),
    chunk=st.one_of(st.none(), st.just(0), st.integers(1, 9)),
    with_docs=st.booleans(),
    impl=st.sampled_from(["sdpa", "reference"]),
    seed=st.integers(0, 10_000),
)
def test_self_attend_equals_dense_masked_attention(B, T, n_past, window, chunk, with_docs, impl, seed):
    """Every path (causal, dense, chunked; with cached keys and documents) is the dense definition."""
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, 2, T, 4, generator=g) for _ in range(3))
    past_k, past_v = torch.randn(B, 2, n_past, 4, generator=g), torch.randn(B, 2, n_past, 4, generator=g)
    docs = torch.randint(0, 2, (B, n_past + T), generator=g).cumsum(-1) if with_docs else None
    mask = self_mask(
        T,
        window=window,
        doc_ids=None if docs is None else docs[:, n_past:],
        n_past=n_past,
        past_doc_ids=None if docs is None else docs[:, :n_past],
        chunk=chunk,
    )
    got = self_attend(q, k, v, mask, past_k, past_v, impl=impl)
    keys, values = torch.cat([past_k, k], 2), torch.cat([past_v, v], 2)
    want = attend(q, keys, values, dense_reference(T, n_past, window, docs), impl="reference")
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_chunked_path_is_taken_and_gradients_match_dense():
    """Long inputs with a window go through the chunked layout, forward and backward equal to dense."""
    torch.manual_seed(0)
    T, window = 300, 17
    docs = torch.randint(0, 50, (2, T)).sort(-1).values  # several documents per row
    q, k, v = (torch.randn(2, 3, T, 8, requires_grad=True) for _ in range(3))
    mask = self_mask(T, window=window, doc_ids=docs, chunk=32)
    assert mask.kind == "chunked"
    got = self_attend(q, k, v, mask)
    want = attend(q, k, v, dense_reference(T, 0, window, docs))
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    grad = torch.randn_like(got)
    for a, b in zip(torch.autograd.grad(got, (q, k, v), grad), torch.autograd.grad(want, (q, k, v), grad)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_chunked_mask_grows_linearly_with_length():
    """The whole point: at a fixed window the mask (and the scores) grow like T, not T^2."""
    sizes = {
        T: self_mask(T, window=64, doc_ids=torch.zeros(1, T, dtype=torch.long)).tensor.numel() for T in (2048, 16384)
    }
    assert sizes[16384] <= 8 * sizes[2048] * 1.01
    assert sizes[16384] < 16384 * 2 * 128  # T x (chunk + window - 1), nowhere near T^2 = 268M


def test_self_mask_rejects_half_given_documents():
    with pytest.raises(ValueError, match="document ids"):
        self_mask(3, window=4, doc_ids=torch.zeros(1, 3, dtype=torch.long), n_past=2)


@settings(max_examples=30, deadline=None)
@given(
    pieces=st.lists(st.integers(1, 9), min_size=1, max_size=6),
    window=st.one_of(st.none(), st.integers(1, 8)),
    with_docs=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_cache_fed_in_pieces_equals_one_pass(pieces, window, with_docs, seed):
    """Streaming keys through a KVCache, piece by piece, gives what one pass over everything gives."""
    g = torch.Generator().manual_seed(seed)
    T = sum(pieces)
    q, k, v = (torch.randn(2, 2, T, 4, generator=g) for _ in range(3))
    docs = torch.randint(0, 2, (2, T), generator=g).cumsum(-1) if with_docs else None
    whole = self_attend(q, k, v, self_mask(T, window=window, doc_ids=docs, chunk=None))
    cache, outs, start = KVCache(window), [], 0
    for n in pieces:
        sl = slice(start, start + n)
        d = None if docs is None else docs[:, sl]
        mask = self_mask(n, window=window, doc_ids=d, n_past=cache.length, past_doc_ids=cache.doc_ids, chunk=3)
        outs.append(self_attend(q[:, :, sl], k[:, :, sl], v[:, :, sl], mask, cache.k, cache.v))
        cache.update(k[:, :, sl], v[:, :, sl], d)
        start += n
        if window is not None:
            assert cache.length == min(start, window - 1)
    torch.testing.assert_close(torch.cat(outs, 2), whole, atol=1e-5, rtol=1e-4)


def patch_layout(draw_lengths, B, T):
    """Rows of patch lengths summing to T, zero-padded on the right to a common P, and byte -> patch ids."""
    P = max(len(r) for r in draw_lengths)
    lengths = torch.tensor([r + [0] * (P - len(r)) for r in draw_lengths])
    ends = lengths.cumsum(-1)
    patch_ids = torch.searchsorted(ends, torch.arange(T).expand(B, T).contiguous(), right=True)
    return lengths, patch_ids


@st.composite
def patch_rows(draw):
    B = draw(st.integers(1, 3))
    T = draw(st.integers(1, 30))
    rows = []
    for _ in range(B):
        row, total = [], 0
        while total < T:
            n = draw(st.integers(1, min(8, T - total)))
            row.append(n)
            total += n
        rows.append(row + [0] * draw(st.integers(0, 2)))  # padding patches with no bytes
    return B, T, rows


@settings(max_examples=30, deadline=None)
@given(layout=patch_rows(), k=st.integers(1, 3), shift=st.sampled_from([0, 1]), seed=st.integers(0, 10_000))
def test_patch_cross_attention_equals_dense(layout, k, shift, seed):
    """Encoder (slots read their patch's bytes) and decoder (bytes read one patch's slots, -1 = none)."""
    B, T, rows = layout
    _, patch_ids = patch_layout(rows, B, T)
    P = max(len(r) for r in rows)
    g = torch.Generator().manual_seed(seed)
    for bytes_are_queries in (False, True):
        byte_patch = patch_ids - shift if bytes_are_queries else patch_ids
        mask = PatchCrossMask(byte_patch, k, P, bytes_are_queries)
        Tq, Tk = (T, P * k) if bytes_are_queries else (P * k, T)
        q = torch.randn(B, Tq, 2, 4, generator=g, requires_grad=True)
        kk = torch.randn(B, Tk, 2, 4, generator=g, requires_grad=True)
        v = torch.randn(B, Tk, 2, 4, generator=g, requires_grad=True)
        got = patch_cross_attention(q, kk, v, mask)
        heads = lambda x: x.transpose(1, 2)  # noqa: E731
        want = heads(attend(heads(q), heads(kk), heads(v), mask.dense(), impl="reference"))
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
        grad = torch.randn_like(got)
        for a, b in zip(torch.autograd.grad(got, (q, kk, v), grad), torch.autograd.grad(want, (q, kk, v), grad)):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
