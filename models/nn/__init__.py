"""Layers shared by every model and the plain byte transformer built from them.

`layers` (RMSNorm, rotary embeddings, attention, feed-forward, transformer block),
`transformer` (`ByteTransformer`: BLT's baseline and the entropy LM's architecture).
"""
