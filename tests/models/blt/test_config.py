"""BLT configs: what each part and the whole refuse, by name."""

import pytest

from bytepatch.models.blt.config import BLTConfig, LocalDecoderConfig, LocalEncoderConfig


@pytest.mark.parametrize("part, prefix", [(LocalEncoderConfig, "encoder."), (LocalDecoderConfig, "decoder.")])
@pytest.mark.parametrize("heads", [0, -4])
def test_cross_attention_heads_below_one_are_refused_by_name(part, prefix, heads):
    """0 raised ZeroDivisionError from the divisibility check; -4 divides 64 and was accepted."""
    with pytest.raises(ValueError, match=f"{prefix}cross_attn_heads must be >= 1, got {heads}"):
        part(cross_attn_heads=heads)


@pytest.mark.parametrize("vocab_size", [0, -1])
def test_a_vocabulary_below_one_is_refused_by_name(vocab_size):
    """Accepted before: -1 failed building nn.Embedding, 0 built a model no id fits."""
    with pytest.raises(ValueError, match=f"vocab_size must be >= 1, got {vocab_size}"):
        BLTConfig(vocab_size=vocab_size)
