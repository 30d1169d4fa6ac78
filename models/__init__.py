"""Models: BLT, the byte-level baseline and the entropy LM (installed as `bytepatch.models`)."""
