"""BLT configs: what each part and the whole refuse, by name."""

import pytest

from bytepatch.models.blt.config import BLTConfig, GlobalConfig, LocalDecoderConfig, LocalEncoderConfig


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


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"encoder": {"dim": 32}}, "encoder must be a LocalEncoderConfig, got dict; BLTConfig.from_dict reads"),
        ({"encoder": GlobalConfig()}, "encoder must be a LocalEncoderConfig, got GlobalConfig"),
        ({"latent": LocalEncoderConfig()}, "latent must be a GlobalConfig, got LocalEncoderConfig"),
        ({"decoder": LocalEncoderConfig()}, "decoder must be a LocalDecoderConfig, got LocalEncoderConfig"),
    ],
)
def test_parts_of_the_wrong_kind_are_refused_by_name(kwargs, message):
    """A dict raised check_field_types' internal 'does not know the annotation' TypeError; another
    part's config was accepted and failed only when the model was built (AttributeError: window)."""
    with pytest.raises(ValueError, match=message):
        BLTConfig(**kwargs)


@pytest.mark.parametrize("part, prefix", [(LocalEncoderConfig, "encoder."), (GlobalConfig, "latent.")])
def test_an_ffn_multiplier_that_rounds_the_swiglu_width_to_zero_is_refused(part, prefix):
    """int(1e-3 * 170) = 0 built zero-width MLPs silently (torch only warned about empty tensors)."""
    with pytest.raises(ValueError, match=f"{prefix}ffn_dim_multiplier 0.001 gives a SwiGLU width of 0"):
        part(ffn_dim_multiplier=1e-3)
    assert part(ffn_dim_multiplier=1e-3, intermediate_size=8).ffn_hidden == 8  # an explicit width still wins
