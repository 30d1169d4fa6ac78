"""Named BLT configurations, as plain data.

`tiny` runs a training step on CPU in well under a second (tests, smoke runs);
`small` is a CPU/single-GPU experiment size. `400m`, `1b` and `7b` are the paper's
architectures (Table 10 of arXiv 2412.09871).

`1b` matches the released facebook/blt-1b: encoder 1 layer dim 1024, global 25
layers dim 2048, decoder 9 layers dim 1024, k = 2, hash n-grams 3..8 with 500,002
buckets, one hash function, RoPE theta 5e5.

`7b` matches the released facebook/blt-7b as the `transformers` port describes it:
the converted config.json (itazap/blt-7b-hf, the port's 7B conversion; the official
repo is gated) has encoder 1 layer dim 1280 with 20 heads, global 32 layers dim
4096 with 32 heads, decoder 6 layers dim 1280 with 20 heads, cross_attn_k = 4, hash
n-grams 3..8 x 500,002 x 1 function; its FFN widths 3584 / 11008 are what the port's
conversion script (`models/blt/convert_blt_weights_to_hf.py`: 8/3 x width rounded
up to a multiple of 256) gives, i.e. this config's Llama rule; and k x 1280 = 5120 !=
4096, so the encoder output is projected to the global width (the port's
`token_embedding_projection`, noted "(7b)" in its configuration_blt.py). A test
builds the port's model for this config and checks every parameter shape.

Deviation (400m): the paper lists 10 cross-attention heads for 400M. The reference
code runs them with head dim 768 // 10 = 76 (an inner width of 760, not 768);
bytepatch's cross-attention needs heads that divide the width, so this preset uses
12, the local models' head count (which is also what the `transformers` port uses).
The local sliding window is 512 bytes, like the entropy LM's. These presets use
bytepatch's defaults (strict alignment, single cross-attention residual); the
released weights load with the reference settings (`bytepatch.models.hf`).
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
    "7b": BLTConfig(
        encoder=LocalEncoderConfig(n_layers=1, dim=1280, n_heads=20, cross_attn_heads=20),
        latent=GlobalConfig(n_layers=32, dim=4096, n_heads=32),
        decoder=LocalDecoderConfig(n_layers=6, dim=1280, n_heads=20, cross_attn_heads=20),
        cross_attn_k=4,
    ),
}
