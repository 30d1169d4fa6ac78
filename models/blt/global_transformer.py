"""Latent global transformer: a causal transformer over patch vectors.

This is where most parameters and FLOPs live, and it runs once per *patch*, not
per byte: longer patches make it cheaper per byte, which is BLT's whole bargain.
Patch vectors arrive as k * encoder.dim and are projected to the global width
only when the two differ (for the released 1B, 2 x 1024 = 2048, so no projection).
Attention is plain causal over patches (padded patches sit at the end of a row,
so they never reach a real one). No final norm: the decoder's cross-attention
normalises what it reads.
"""

from __future__ import annotations

import torch
from torch import nn

from bytepatch.models.blt.config import GlobalConfig
from bytepatch.models.nn.layers import Rotary, TransformerBlock


class GlobalTransformer(nn.Module):
    """Patch vectors (B, P, in_dim) -> patch states (B, P, dim)."""

    def __init__(self, config: GlobalConfig, in_dim: int, attn_impl: str = "sdpa"):
        super().__init__()
        c = config
        self.config = c
        self.in_proj = nn.Linear(in_dim, c.dim, bias=False) if in_dim != c.dim else nn.Identity()
        self.rotary = Rotary(c.dim // c.n_heads, c.rope_theta)
        self.blocks = nn.ModuleList(
            TransformerBlock(c.dim, c.n_heads, c.ffn_hidden, c.norm_eps, attn_impl) for _ in range(c.n_layers)
        )

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        x = self.in_proj(patches)  # (B, P, C)
        rope = self.rotary(torch.arange(x.shape[1], device=x.device))
        for block in self.blocks:
            x = block(x, rope, None)  # None = plain causal (SDPA's is_causal fast path)
        return x
