"""Named BLT configurations, as plain data.

`tiny` runs a training step on CPU in well under a second (tests, smoke runs);
`small` is a CPU/single-GPU experiment size. `400m` and `1b` are the paper's
settings (Table 10 of arXiv 2412.09871; `1b` matches the released facebook/blt-1b:
encoder 1 layer dim 1024, global 25 layers dim 2048, decoder 9 layers dim 1024,
k = 2, hash n-grams 3..8 with 500,002 buckets, one hash function, RoPE theta 5e5).
Deviation: the paper lists 10 cross-attention heads for 400M, which does not
divide the local width 768; this preset uses 12 (the local models' head count).
The local sliding window is 512 bytes, like the entropy LM's.
"""

from __future__ import annotations

from bytepatch.models.blt.config import BLTConfig, GlobalConfig, LocalDecoderConfig, LocalEncoderConfig

PRESETS: dict[str, BLTConfig] = {
    "tiny": BLTConfig(
        encoder=LocalEncoderConfig(n_layers=1, dim=32, n_heads=2, window=64, hash_table_size=1021, cross_attn_heads=2),
        latent=GlobalConfig(n_layers=2, dim=64, n_heads=4),
        decoder=LocalDecoderConfig(n_layers=2, dim=32, n_heads=2, window=64, cross_attn_heads=2),
        cross_attn_k=2,
    ),
    "small": BLTConfig(
        encoder=LocalEncoderConfig(n_layers=1, dim=256, n_heads=4, hash_table_size=50_021, cross_attn_heads=4),
        latent=GlobalConfig(n_layers=8, dim=512, n_heads=8),
        decoder=LocalDecoderConfig(n_layers=3, dim=256, n_heads=4, cross_attn_heads=4),
        cross_attn_k=2,
    ),
    "400m": BLTConfig(
        encoder=LocalEncoderConfig(n_layers=1, dim=768, n_heads=12, cross_attn_heads=12),
        latent=GlobalConfig(n_layers=24, dim=1280, n_heads=10),
        decoder=LocalDecoderConfig(n_layers=7, dim=768, n_heads=12, cross_attn_heads=12),
        cross_attn_k=2,
    ),
    "1b": BLTConfig(
        encoder=LocalEncoderConfig(n_layers=1, dim=1024, n_heads=16, cross_attn_heads=16),
        latent=GlobalConfig(n_layers=25, dim=2048, n_heads=16),
        decoder=LocalDecoderConfig(n_layers=9, dim=1024, n_heads=16, cross_attn_heads=16),
        cross_attn_k=2,
    ),
}
