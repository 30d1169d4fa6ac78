"""Layers shared by every model and the plain byte transformer built from them.

`attention` (dense and linear-memory attention, the KV cache),
`layers` (RMSNorm, rotary embeddings, self/cross-attention, feed-forward, the transformer block),
`transformer` (`ByteTransformer`: BLT's baseline and the entropy LM's architecture).
"""
