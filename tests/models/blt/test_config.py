"""BLT configs: what each part and the whole refuse, by name."""

import pytest

from bytepatch.models.blt.config import LocalDecoderConfig, LocalEncoderConfig


@pytest.mark.parametrize("part, prefix", [(LocalEncoderConfig, "encoder."), (LocalDecoderConfig, "decoder.")])
@pytest.mark.parametrize("heads", [0, -4])
def test_cross_attention_heads_below_one_are_refused_by_name(part, prefix, heads):
    """0 raised ZeroDivisionError from the divisibility check; -4 divides 64 and was accepted."""
    with pytest.raises(ValueError, match=f"{prefix}cross_attn_heads must be >= 1, got {heads}"):
        part(cross_attn_heads=heads)
