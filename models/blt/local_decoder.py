"""Local decoder: byte states + earlier patches' global states -> next-byte logits.

Each byte reads, by cross-attention, the k vectors of the one patch state that
serves it (chosen by the caller through `dec_patch_ids`; -1 = none yet, e.g. the
BOS byte, which then reads nothing), then goes through transformer layers with a
causal sliding window, a final norm and the output head over the 260 ids. The
trade-off, as in the paper and the released 1B, is a cross-attention before every
layer: more parameters in the small model, but the global context is re-read at
every depth instead of being added once.
"""

from __future__ import annotations

import torch
from torch import nn

from bytepatch.models.blt.config import LocalDecoderConfig
from bytepatch.models.blt.local_encoder import add_cross
from bytepatch.models.nn.attention import KVCache, PatchCrossMask, SelfMask
from bytepatch.models.nn.layers import CrossAttention, RMSNorm, Rotary, TransformerBlock


class LocalDecoder(nn.Module):
    """(byte states (B, T, in_dim), patch states (B, P, global_dim)) -> logits (B, T, vocab)."""

    def __init__(
        self,
        config: LocalDecoderConfig,
        in_dim: int,
        global_dim: int,
        cross_attn_k: int,
        vocab_size: int,
        attn_impl: str = "sdpa",
        cross_attn_residual: str = "single",
    ):
        super().__init__()
        c = config
        self.config = c
        self.k = cross_attn_k
        self.double_residual = cross_attn_residual == "reference"  # see BLTConfig.cross_attn_residual
        self.in_proj = nn.Linear(in_dim, c.dim, bias=False) if in_dim != c.dim else nn.Identity()
        # Each patch state becomes k key/value vectors of the decoder's width.
        self.patch_proj = nn.Linear(global_dim, cross_attn_k * c.dim, bias=False)
        self.rotary = Rotary(c.dim // c.n_heads, c.rope_theta)
        n_cross = c.n_layers if c.cross_attn_all_layers else 1
        self.cross = nn.ModuleList(
            CrossAttention(c.dim, c.cross_attn_heads, c.norm_eps, attn_impl) for _ in range(n_cross)
        )
        self.blocks = nn.ModuleList(
            TransformerBlock(c.dim, c.n_heads, c.ffn_hidden, c.norm_eps, attn_impl) for _ in range(c.n_layers)
        )
        self.norm = RMSNorm(c.dim, c.norm_eps)
        self.head = nn.Linear(c.dim, vocab_size, bias=False)

    def forward(
        self,
        byte_states: torch.Tensor,
        patch_states: torch.Tensor,
        dec_patch_ids: torch.Tensor,
        self_mask: SelfMask | torch.Tensor | None,
    ) -> torch.Tensor:
        """dec_patch_ids (B, T): index of the patch state serving each byte, -1 for none."""
        B, T, _ = byte_states.shape
        P, k, C = patch_states.shape[1], self.k, self.config.dim
        h = self.in_proj(byte_states)  # (B, T, C)
        kv = self.patch_proj(patch_states).view(B, P * k, C)  # (B, P*k, C)
        cross_mask = PatchCrossMask(dec_patch_ids, k, P, bytes_are_queries=True)
        rope = self.rotary(torch.arange(T, device=h.device))
        return self.decode(h, kv, cross_mask, rope, self_mask)

    def decode(
        self,
        h: torch.Tensor,
        kv: torch.Tensor | None,
        cross_mask: PatchCrossMask | torch.Tensor | None,
        rope: tuple[torch.Tensor, torch.Tensor],
        self_mask: SelfMask | torch.Tensor | None,
        caches: list[KVCache] | None = None,
    ) -> torch.Tensor:
        """Byte inputs h (B, T, C) + patch keys/values kv (B, P*k, C) -> logits (B, T, V) float32.

        `kv` None: no patch to read yet (cross-attention outputs exactly zero). With
        `caches` (one per layer) the self-attention continues cached positions (generation).
        """
        for i, block in enumerate(self.blocks):
            if self.config.cross_attn_all_layers or i == 0:
                # With no patch to read, cross-attention outputs exactly zero (as for a byte whose
                # patch id is -1); the residual is still added (twice under "reference").
                cross = self.cross[i if self.config.cross_attn_all_layers else 0]
                out = torch.zeros_like(h) if kv is None else cross(h, kv, cross_mask)
                h = add_cross(h, out, self.double_residual)
            h = block(h, rope, self_mask, None if caches is None else caches[i])
        return self.head(self.norm(h)).float()  # (B, T, V), float32 for a stable loss under autocast
