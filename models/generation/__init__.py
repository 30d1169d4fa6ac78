"""Byte-by-byte generation from a BLT (patching online) or the byte baseline.

`generate` (sampling, the generation loop), `stepper` (one position at a time with
KV caches), `online_entropy` (the next byte's entropy for a growing document, which
decides the patch boundaries while generating).
"""
