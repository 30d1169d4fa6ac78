"""Models: BLT, the byte-level baseline and the entropy LM (installed as `bytepatch.models`).

from bytepatch.models import BLT, BLTConfig, PRESETS
model = BLT(PRESETS["tiny"])
logits, loss = model(ids, patch_lengths, targets)

from bytepatch.models import ByteTransformer, TRANSFORMER_PRESETS
lm = ByteTransformer(TRANSFORMER_PRESETS["entropy-paper"])
logits, loss = lm(idx, targets)
"""

from bytepatch.models.blt.model import BLT
from bytepatch.models.blt.config import BLTConfig, GlobalConfig, LocalDecoderConfig, LocalEncoderConfig
from bytepatch.models.blt.flops import (
    blt_flops_per_byte,
    blt_param_counts,
    transformer_flops_per_byte,
    transformer_param_counts,
)
from bytepatch.models.blt.presets import PRESETS
from bytepatch.models.nn.transformer import (
    IGNORE_INDEX,
    TRANSFORMER_PRESETS,
    VOCAB_SIZE,
    ByteTransformer,
    ByteTransformerConfig,
)

__all__ = [
    "BLT",
    "BLTConfig",
    "GlobalConfig",
    "IGNORE_INDEX",
    "LocalDecoderConfig",
    "LocalEncoderConfig",
    "PRESETS",
    "TRANSFORMER_PRESETS",
    "VOCAB_SIZE",
    "ByteTransformer",
    "ByteTransformerConfig",
    "blt_flops_per_byte",
    "blt_param_counts",
    "transformer_flops_per_byte",
    "transformer_param_counts",
]
