"""Tests for models/nn/layers.py: RoPE layout, masks, and SDPA vs the plain masked-softmax reference."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepatch.models.nn.layers import (
    CrossAttention,
    Rotary,
    SelfAttention,
    apply_rotary,
    attend,
    causal_mask,
    doc_ids_from_bos,
    swiglu_hidden_dim,
)


def test_rotary_rotates_interleaved_pairs_like_complex_multiplication():
    torch.manual_seed(0)
    D, T = 8, 5
    x = torch.randn(1, 1, T, D)
    cos, sin = Rotary(D, theta=10000.0)(torch.arange(T))
    got = apply_rotary(x, cos, sin)
    # Independent: channels (2i, 2i+1) form the complex number x_2i + j x_2i+1, times exp(j * t * theta^(-2i/D)).
    for t in range(T):
        for i in range(D // 2):
            angle = t * 10000.0 ** (-2 * i / D)
            z = complex(x[0, 0, t, 2 * i].item(), x[0, 0, t, 2 * i + 1].item())
            z *= complex(math.cos(angle), math.sin(angle))
            assert got[0, 0, t, 2 * i].item() == pytest.approx(z.real, abs=1e-5)
            assert got[0, 0, t, 2 * i + 1].item() == pytest.approx(z.imag, abs=1e-5)


def test_rotary_scores_depend_only_on_relative_position():
    torch.manual_seed(0)
    rot = Rotary(16)
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)

    def score(i, j):
        cos, sin = rot(torch.tensor([i, j]))
        qi = apply_rotary(q, cos[:1], sin[:1])
        kj = apply_rotary(k, cos[1:], sin[1:])
        return (qi * kj).sum().item()

    assert score(7, 3) == pytest.approx(score(104, 100), abs=1e-4)


def test_causal_mask_window_and_documents():
    m = causal_mask(5, window=2)[0, 0]
    expected = torch.tensor(
        [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 1, 1]], dtype=torch.bool
    )
    assert torch.equal(m, expected)
    assert causal_mask(5) is None
    ids = torch.tensor([[1, 9, 9, 1, 9]])
    docs = doc_ids_from_bos(ids)
    assert docs.tolist() == [[1, 1, 1, 2, 2]]
    m = causal_mask(5, doc_ids=docs)[0, 0]
    assert not m[3, 2] and m[4, 3] and m[2, 0]


def test_swiglu_width_matches_llama_rule():
    assert swiglu_hidden_dim(768) == 2048
    assert swiglu_hidden_dim(1024) == 2816
    assert swiglu_hidden_dim(2048) == 5632


@settings(max_examples=20, deadline=None)
@given(
    T=st.integers(1, 12),
    window=st.one_of(st.none(), st.integers(1, 6)),
    n_docs=st.integers(0, 3),
    seed=st.integers(0, 10_000),
)
def test_self_attention_sdpa_matches_reference(T, window, n_docs, seed):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, 2, T, 8, generator=g) for _ in range(3))
    docs = torch.randint(0, 2, (2, T), generator=g).cumsum(-1) if n_docs else None
    mask = causal_mask(T, window=window, doc_ids=docs)
    fast = attend(q, k, v, mask, is_causal=mask is None, impl="sdpa")
    slow = attend(q, k, v, mask, is_causal=mask is None, impl="reference")
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-4)


def test_fully_masked_rows_give_zeros_and_finite_grads():
    torch.manual_seed(0)
    ca = CrossAttention(16, 2)
    x, kv = torch.randn(1, 3, 16, requires_grad=True), torch.randn(1, 4, 16)
    mask = torch.tensor([[[[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0]]]], dtype=torch.bool)
    out = ca(x, kv, mask)
    assert torch.all(out[0, 1] == 0)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    ca.impl = "reference"
    torch.testing.assert_close(ca(x, kv, mask), out, atol=1e-5, rtol=1e-4)


def test_self_attention_module_impls_agree():
    torch.manual_seed(0)
    attn = SelfAttention(32, 4)
    x = torch.randn(2, 10, 32)
    rope = Rotary(8)(torch.arange(10))
    mask = causal_mask(10, window=3)
    fast = attn(x, rope, mask)
    attn.impl = "reference"
    torch.testing.assert_close(attn(x, rope, mask), fast, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(attn(x, rope, None), SelfAttention.forward(attn, x, rope, causal_mask(10, window=10)))
