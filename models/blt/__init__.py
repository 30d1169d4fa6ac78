"""The Byte Latent Transformer, one module per part, in the order bytes flow through it.

`config` (one frozen dataclass per part) and `presets` (named sizes), `hash_ngram`
(n-gram hash embeddings), `local_encoder` (bytes -> patch vectors),
`global_transformer` (the latent transformer over patches), `local_decoder`
(patch states -> next-byte logits), `model` (`BLT`, the three joined), `flops`
(parameter counts and FLOPs per byte from a config). `from bytepatch.models import BLT`.
"""
