"""Transformer building blocks shared by every bytepatch model.

What is here: `RMSNorm`, interleaved-pair rotary embeddings (`Rotary`,
`apply_rotary`), dense mask builders (`causal_mask`, `doc_ids_from_bos`: the
reference), `SelfAttention` (with an optional KV cache), `SwiGLU`, the pre-norm
`TransformerBlock`, and `CrossAttention`. The attention arithmetic lives in
`attention`: `attend` (dense masks, PyTorch SDPA or a plain masked softmax), and
the linear-memory paths (`SelfMask`: chunked sliding windows; `PatchCrossMask`:
byte <-> patch cross-attention).

One block for every use: training passes a mask for the whole sequence; generation
and streaming inference pass a `KVCache` and a mask over [cached, new] positions
(`attention.self_mask(..., n_past=cache.length)`), so a prompt is prefilled in one
call and later positions are fed one (or a chunk) at a time through the same code.

Masks: a dense boolean tensor (B, 1, Tq, Tk) is still accepted everywhere (the
reference, O(T^2) memory); models build `SelfMask`/`PatchCrossMask` instead, whose
memory grows linearly with T at a fixed window. The pure causal case (no window,
no documents) takes SDPA's `is_causal=True` path, which lets it pick flash attention.

Conventions: inputs are `(B, T, C)`; heads are split as `(B, H, T, D)`; a mask
entry `True` means "may attend". A query row with no allowed key returns zeros
(not NaN): cross-attention uses this for padded patches and for bytes that have no
patch to read from yet.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bytepatch.models.nn.attention import (  # noqa: F401  (attend and ATTENTION_IMPLS are re-exported)
    ATTENTION_IMPLS,
    KVCache,
    PatchCrossMask,
    SelfMask,
    attend,
    patch_cross_attention,
    self_attend,
)


class RMSNorm(nn.Module):
    """Root-mean-square norm with a learned gain; computed in float32 for bf16 safety."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (xf * self.weight.float()).type_as(x)


class Rotary(nn.Module):
    """Rotary position embedding tables for one head size.

    Pairs are *interleaved*: channels (0, 1), (2, 3), ... of a head rotate together,
    as in the BLT reference (Llama's complex-number layout), not the GPT-NeoX
    "first half / second half" layout. Tables are recomputed per call from integer
    positions; that is cheap next to attention and needs no maximum length.
    """

    def __init__(self, head_dim: int, theta: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary head_dim must be even, got {head_dim}")
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)  # (D/2,)

    def forward(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """positions (T,) int -> (cos, sin), each (T, D/2) float32."""
        angles = positions.float()[:, None] * self.inv_freq[None, :]  # (T, D/2)
        return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved channel pairs of x (B, H, T, D) by the angles in cos/sin (T, D/2)."""
    xf = x.float().unflatten(-1, (-1, 2))  # (B, H, T, D/2, 2)
    x0, x1 = xf[..., 0], xf[..., 1]
    out = torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)
    return out.flatten(-2).type_as(x)


def doc_ids_from_bos(idx: torch.Tensor, bos_id: int = 1) -> torch.Tensor:
    """Document index of every position: a new document starts at each BOS. (B, T) -> (B, T)."""
    return (idx == bos_id).long().cumsum(-1)


def causal_mask(
    T: int,
    *,
    window: int | None = None,
    doc_ids: torch.Tensor | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor | None:
    """Boolean self-attention mask, True = may attend; None means plain causal.

    Query i sees key j when j <= i, and, if `window` is set, i - j < window (a window
    of w bytes covers the query itself and the w - 1 before it), and, if `doc_ids`
    (B, T) is given, both lie in the same document. Shape (1 or B, 1, T, T).
    """
    if window is None and doc_ids is None:
        return None
    i = torch.arange(T, device=device)[:, None]
    j = torch.arange(T, device=device)[None, :]
    mask = j <= i  # (T, T)
    if window is not None:
        mask = mask & (i - j < window)
    mask = mask[None, None]  # (1, 1, T, T)
    if doc_ids is not None:
        same_doc = doc_ids[:, :, None] == doc_ids[:, None, :]  # (B, T, T)
        mask = mask & same_doc[:, None]
    return mask


class SelfAttention(nn.Module):
    """Multi-head self-attention with interleaved RoPE; the mask decides causality/window/documents."""

    def __init__(self, dim: int, n_heads: int, impl: str = "sdpa") -> None:
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"dim {dim} is not divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.impl = impl
        self.wq = nn.Linear(dim, dim, bias=False)
        self.wk = nn.Linear(dim, dim, bias=False)
        self.wv = nn.Linear(dim, dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor | SelfMask | None,
        cache: KVCache | None = None,
        doc_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x (B, T, C); rope (cos, sin) each (T, D/2) or (B, 1, T, D/2).

        mask: a `SelfMask` (built for `cache.length` cached positions when a cache is
        given), a dense bool (., 1, T, T), or None = plain causal. With `cache`, the new
        rotated keys/values (and `doc_ids` (B, T), when documents are tracked) are appended.
        """
        q, k, v = (w(x).unflatten(-1, (self.n_heads, -1)).transpose(1, 2) for w in (self.wq, self.wk, self.wv))
        q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)  # (B, H, T, D)
        if isinstance(mask, SelfMask):
            past = (cache.k, cache.v) if cache is not None else (None, None)
            y = self_attend(q, k, v, mask, *past, impl=self.impl)
        elif cache is not None and cache.length:
            raise ValueError("a cache with past positions needs a SelfMask that accounts for them")
        else:
            y = attend(q, k, v, mask, is_causal=mask is None, impl=self.impl)
        if cache is not None:
            cache.update(k, v, doc_ids)
        return self.wo(y.transpose(1, 2).flatten(-2))  # (B, T, C)


def swiglu_hidden_dim(dim: int, multiple_of: int = 256, ffn_dim_multiplier: float = 1.0) -> int:
    """Llama's SwiGLU width: 2/3 of 4*dim, scaled, rounded up to `multiple_of` (768 -> 2048, 1024 -> 2816)."""
    hidden = int(ffn_dim_multiplier * int(2 * 4 * dim / 3))
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


class SwiGLU(nn.Module):
    """Gated MLP: w2(silu(w1 x) * w3 x)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    """Pre-norm block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(
        self,
        dim: int,
        n_heads: int,
        hidden: int,
        norm_eps: float = 1e-5,
        impl: str = "sdpa",
    ) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(dim, norm_eps)
        self.attn = SelfAttention(dim, n_heads, impl)
        self.mlp_norm = RMSNorm(dim, norm_eps)
        self.mlp = SwiGLU(dim, hidden)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor | SelfMask | None,
        cache: KVCache | None = None,
        doc_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x (B, T, C); see `SelfAttention.forward` for the mask and the optional cache."""
        x = x + self.attn(self.attn_norm(x), rope, mask, cache, doc_ids)
        return x + self.mlp(self.mlp_norm(x))


class CrossAttention(nn.Module):
    """Queries from one sequence read keys/values from another; no positions (order comes from the mask).

    Both sides are RMS-normed first (pre-norm); the caller adds the residual.
    Used twice in BLT: patch queries reading their own bytes (encoder), and bytes
    reading the states of earlier patches (decoder).
    """

    def __init__(self, dim: int, n_heads: int, norm_eps: float = 1e-5, impl: str = "sdpa") -> None:
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"dim {dim} is not divisible by cross-attention heads {n_heads}")
        self.n_heads = n_heads
        self.impl = impl
        self.q_norm = RMSNorm(dim, norm_eps)
        self.kv_norm = RMSNorm(dim, norm_eps)
        self.wq = nn.Linear(dim, dim, bias=False)
        self.wk = nn.Linear(dim, dim, bias=False)
        self.wv = nn.Linear(dim, dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor, kv: torch.Tensor, mask: torch.Tensor | PatchCrossMask | None) -> torch.Tensor:
        """x (B, Tq, C) queries, kv (B, Tk, C) -> (B, Tq, C).

        mask: a `PatchCrossMask` (linear memory; dense under impl "reference"), a dense
        bool (B, 1, Tq, Tk), or None = every key visible.
        """
        x, kv = self.q_norm(x), self.kv_norm(kv)
        q = self.wq(x).unflatten(-1, (self.n_heads, -1))  # (B, Tq, H, D)
        k = self.wk(kv).unflatten(-1, (self.n_heads, -1))  # (B, Tk, H, D)
        v = self.wv(kv).unflatten(-1, (self.n_heads, -1))
        if isinstance(mask, PatchCrossMask) and self.impl == "sdpa":
            y = patch_cross_attention(q, k, v, mask)  # (B, Tq, H, D)
        else:
            if isinstance(mask, PatchCrossMask):
                mask = mask.dense()
            y = attend(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), mask, impl=self.impl).transpose(1, 2)
        return self.wo(y.flatten(-2))


def init_weights(module: nn.Module, n_layers: int, std: float = 0.02) -> None:
    """GPT-2 style init: N(0, std) for linears and embeddings, residual outputs scaled by 1/sqrt(2 n_layers).

    Norm gains stay at 1. Applied by each model's constructor; kept here so all
    models initialise the same way.
    """
    residual_std = std / math.sqrt(2 * max(n_layers, 1))
    for name, p in module.named_parameters():
        if p.dim() < 2:
            continue
        is_residual_out = name.endswith("wo.weight") or name.endswith("w2.weight")
        nn.init.normal_(p, mean=0.0, std=residual_std if is_residual_out else std)
