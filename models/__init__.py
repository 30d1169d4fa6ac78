"""Models: BLT, the byte-level baseline and the entropy LM (installed as `bytepatch.models`)."""

from bytepatch.models.transformer import (
    IGNORE_INDEX,
    TRANSFORMER_PRESETS,
    VOCAB_SIZE,
    ByteTransformer,
    ByteTransformerConfig,
)

__all__ = [
    "IGNORE_INDEX",
    "TRANSFORMER_PRESETS",
    "VOCAB_SIZE",
    "ByteTransformer",
    "ByteTransformerConfig",
]
