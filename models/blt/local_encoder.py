"""Local encoder: bytes -> one vector per patch (plus byte states for the decoder).

Byte embeddings plus hash n-gram embeddings go through a few transformer layers
with a causal sliding window (windows may cross patch boundaries: a byte sees the
preceding bytes, not only its patch). Then cross-attention pools each patch: its
`k` query vectors start as a projection of the max-pool of the patch's byte states
and attend *only to the bytes of that patch*. The trade-off against plain pooling
is a few extra matmuls per patch for a learned, content-dependent summary; against
the reference's option of pooling after every layer, this keeps the default
(released 1B) of pooling once, after the last layer.
"""

from __future__ import annotations

import torch
from torch import nn

from bytepatch.models.blt.config import LocalEncoderConfig
from bytepatch.models.blt.hash_ngram import HashNgramEmbedding
from bytepatch.models.nn.attention import PatchCrossMask, SelfMask
from bytepatch.models.nn.layers import CrossAttention, Rotary, TransformerBlock


def add_cross(x: torch.Tensor, out: torch.Tensor, double_residual: bool) -> torch.Tensor:
    """x + out, or x + (out + x) when the residual is added twice (the reference's order of additions)."""
    return x + (out + x) if double_residual else x + out


def max_pool_patches(x: torch.Tensor, patch_ids: torch.Tensor, n_patches: int) -> torch.Tensor:
    """Max over each patch's byte states: x (B, T, C), patch_ids (B, T) -> (B, P, C); empty patches are 0."""
    B, T, C = x.shape
    out = x.new_zeros(B, n_patches, C)
    index = patch_ids[:, :, None].expand(B, T, C)
    return out.scatter_reduce(1, index, x, reduce="amax", include_self=False)


class LocalEncoder(nn.Module):
    """Bytes (B, T) -> byte states (B, T, dim) and patch vectors (B, P, k * dim)."""

    def __init__(
        self,
        config: LocalEncoderConfig,
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
        self.tok_emb = nn.Embedding(vocab_size, c.dim)
        self.hash_emb = (
            HashNgramEmbedding(c.dim, c.ngram_sizes, c.hash_table_size, c.hash_functions) if c.ngram_sizes else None
        )
        self.rotary = Rotary(c.dim // c.n_heads, c.rope_theta)
        self.blocks = nn.ModuleList(
            TransformerBlock(c.dim, c.n_heads, c.ffn_hidden, c.norm_eps, attn_impl) for _ in range(c.n_layers)
        )
        # k queries per patch, initialised from the pooled patch: dim -> k * dim.
        self.pool_proj = nn.Linear(c.dim, cross_attn_k * c.dim, bias=False)
        n_cross = c.n_layers if c.cross_attn_all_layers else 1
        self.cross = nn.ModuleList(
            CrossAttention(c.dim, c.cross_attn_heads, c.norm_eps, attn_impl) for _ in range(n_cross)
        )

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Byte embedding plus hashed n-gram embeddings: (B, T) -> (B, T, dim)."""
        x = self.tok_emb(ids)
        return x if self.hash_emb is None else x + self.hash_emb(ids)

    def forward(
        self,
        ids: torch.Tensor,
        patch_ids: torch.Tensor,
        n_patches: int,
        self_mask: SelfMask | torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """ids, patch_ids (B, T); self_mask for (T, T) (a `SelfMask`, a dense bool or None = plain causal)."""
        T = ids.shape[1]
        x = self.embed(ids)  # (B, T, C)
        rope = self.rotary(torch.arange(T, device=ids.device))
        states = []
        for block in self.blocks:
            x = block(x, rope, self_mask)
            states.append(x)
        # Query slot q belongs to patch q // k and may read exactly that patch's bytes.
        cross_mask = PatchCrossMask(patch_ids, self.k, n_patches, bytes_are_queries=False)
        return x, self.pool(states, patch_ids, n_patches, cross_mask)

    def pool(
        self, states: list[torch.Tensor], patch_ids: torch.Tensor, n_patches: int, cross_mask: PatchCrossMask | None
    ) -> torch.Tensor:
        """Patch vectors (B, P, k * C) from every layer's byte states (each (B, T, C)).

        The k queries of a patch start from the max-pool of its bytes at the first pooling
        layer (the last layer, or the first with `cross_attn_all_layers`) and read them
        by cross-attention at every pooling layer. Generation calls this too, on the bytes
        of the patches it closes.
        """
        B, k, C = states[0].shape[0], self.k, self.config.dim
        all_layers = self.config.cross_attn_all_layers
        first = 0 if all_layers else len(states) - 1
        pooled = max_pool_patches(states[first], patch_ids, n_patches)  # (B, P, C)
        queries = self.pool_proj(pooled).view(B, n_patches * k, C)  # (B, P*k, C)
        for i in range(first, len(states)):
            out = self.cross[i if all_layers else 0](queries, states[i], cross_mask)
            queries = add_cross(queries, out, self.double_residual)
        return queries.view(B, n_patches, k * C)
