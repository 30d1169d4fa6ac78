"""Parameter counts per part and FLOPs per byte, computed from configs alone (no weights allocated).

Counting follows the BLT paper's accounting (arXiv 2412.09871, FLOP equations in
the appendix, after Chinchilla): a matmul with an (m x n) weight costs 2mn FLOPs
per row it is applied to; self-attention costs 2 * 2 * dim * m per position and
layer, m being the attended context (the paper uses the full context, not half
for causality); embedding lookups cost nothing (so the big hash tables add
parameters, not FLOPs); the output head costs 2 * dim * vocab per byte. Each
part is charged per *byte*: the local models run once per byte, the global model
once per patch, i.e. 1 / mean_patch_size times per byte; encoder queries (k per
patch) likewise. Training FLOPs are 3x forward (forward + backward).

The trade-off: closed formulas are exact for parameters (tested against
`sum(p.numel())`) but FLOPs are an estimate: they ignore norms, softmax, RoPE
and masking waste, as the paper does.
"""

from __future__ import annotations

import math

from bytepatch.models.blt.config import BLTConfig, StackConfig
from bytepatch.models.nn.transformer import ByteTransformerConfig

CROSS_ATTN = 4  # q, k, v, o square matrices
NORM = 1  # an RMSNorm gain vector, in units of dim


def block_params(c: StackConfig | ByteTransformerConfig) -> int:
    """One pre-norm block: attention (4 d^2) + SwiGLU (3 d h) + two norm gains."""
    return 4 * c.dim * c.dim + 3 * c.dim * c.ffn_hidden + 2 * c.dim


def cross_attn_params(dim: int) -> int:
    """q, k, v, o projections plus the q and kv norm gains."""
    return CROSS_ATTN * dim * dim + 2 * NORM * dim


def transformer_param_counts(c: ByteTransformerConfig) -> dict[str, int]:
    """Parameters of `ByteTransformer(c)` by part; the parts sum to the total (a tied head counts 0)."""
    counts = {
        "byte embedding": c.vocab_size * c.dim,
        "transformer blocks": c.n_layers * block_params(c) + c.dim,  # + final norm
        "output head": 0 if c.tie_embeddings else c.vocab_size * c.dim,
    }
    counts["total"] = sum(counts.values())
    return counts


def blt_param_counts(c: BLTConfig) -> dict[str, int]:
    """Parameters of `BLT(c)` by part; the parts sum to the total."""
    e, g, d, k = c.encoder, c.latent, c.decoder, c.cross_attn_k
    n_enc_cross = e.n_layers if e.cross_attn_all_layers else 1
    n_dec_cross = d.n_layers if d.cross_attn_all_layers else 1
    n_tables = len(e.ngram_sizes) * e.hash_functions
    counts = {
        "byte embedding": c.vocab_size * e.dim,
        "hash n-gram embeddings": n_tables * e.hash_table_size * e.dim,
        "local encoder": e.n_layers * block_params(e) + e.dim * k * e.dim + n_enc_cross * cross_attn_params(e.dim),
        "global transformer": (k * e.dim * g.dim if k * e.dim != g.dim else 0) + g.n_layers * block_params(g),
        "local decoder": (e.dim * d.dim if e.dim != d.dim else 0)
        + g.dim * k * d.dim
        + n_dec_cross * cross_attn_params(d.dim)
        + d.n_layers * block_params(d)
        + d.dim
        + d.dim * c.vocab_size,
    }
    counts["total"] = sum(counts.values())
    return counts


def _stack_flops(c: StackConfig | ByteTransformerConfig, context: int) -> float:
    """Forward FLOPs of one position through a stack: weights (2 per multiply-add) + attention over `context`."""
    weights = 4 * c.dim * c.dim + 3 * c.dim * c.ffn_hidden
    return c.n_layers * (2 * weights + 2 * 2 * c.dim * context)


def _cross_flops(dim: int, n_queries: float, n_keys: float, keys_per_query: float) -> float:
    """Cross-attention FLOPs: q/o on queries, k/v on keys, scores + weighted sum per query."""
    return 2 * 2 * dim * dim * n_queries + 2 * 2 * dim * dim * n_keys + 2 * 2 * dim * keys_per_query * n_queries


def _check_seq_len(seq_len: float) -> None:
    """nan passed `< 1` (every total nan) and inf gave an infinite global transformer."""
    if not (math.isfinite(seq_len) and seq_len >= 1):
        raise ValueError(f"seq_len must be a finite number >= 1, got {seq_len}")


def blt_flops_per_byte(c: BLTConfig, mean_patch_size: float, seq_len: int = 8192) -> dict[str, float]:
    """Forward FLOPs per byte by part for a mean patch size and a context of `seq_len` bytes."""
    if not (math.isfinite(mean_patch_size) and mean_patch_size >= 1):  # nan passed `< 1`
        raise ValueError(f"mean patch size must be >= 1 byte, got {mean_patch_size}")
    _check_seq_len(seq_len)
    e, g, d, k = c.encoder, c.latent, c.decoder, c.cross_attn_k
    per_patch = 1.0 / mean_patch_size  # patches per byte
    n_enc_cross = e.n_layers if e.cross_attn_all_layers else 1
    n_dec_cross = d.n_layers if d.cross_attn_all_layers else 1
    enc_ctx = min(seq_len, e.window or seq_len)
    dec_ctx = min(seq_len, d.window or seq_len)
    encoder = (
        _stack_flops(e, enc_ctx)
        + per_patch * 2 * e.dim * k * e.dim  # pooled patch -> k queries
        + n_enc_cross * _cross_flops(e.dim, k * per_patch, 1.0, mean_patch_size)
    )
    latent = per_patch * (
        (2 * k * e.dim * g.dim if k * e.dim != g.dim else 0) + _stack_flops(g, max(1.0, seq_len / mean_patch_size))
    )
    decoder = (
        (2 * e.dim * d.dim if e.dim != d.dim else 0)
        + per_patch * 2 * g.dim * k * d.dim  # patch state -> k keys/values
        + n_dec_cross * _cross_flops(d.dim, 1.0, k * per_patch, k)
        + _stack_flops(d, dec_ctx)
        + 2 * d.dim * c.vocab_size
    )
    out = {"local encoder": encoder, "global transformer": latent, "local decoder": decoder}
    out["total"] = sum(out.values())
    return out


def transformer_flops_per_byte(c: ByteTransformerConfig, seq_len: int = 8192) -> dict[str, float]:
    """Forward FLOPs per byte of the byte-level baseline by part (every byte runs every layer)."""
    _check_seq_len(seq_len)
    out = {
        "transformer blocks": _stack_flops(c, min(seq_len, c.window or seq_len)),
        "output head": 2.0 * c.dim * c.vocab_size,
    }
    out["total"] = sum(out.values())
    return out
