"""Parameter and FLOP formulas of models/blt/flops.py."""

from dataclasses import replace

import pytest
import torch

from bytepatch.models import PRESETS, TRANSFORMER_PRESETS, ByteTransformer, blt_flops_per_byte
from bytepatch.models.blt.flops import transformer_flops_per_byte, transformer_param_counts


@pytest.mark.parametrize("name", sorted(TRANSFORMER_PRESETS))
@pytest.mark.parametrize("tied", [False, True])
def test_transformer_param_formula_matches_modules(name, tied):
    cfg = replace(TRANSFORMER_PRESETS[name], tie_embeddings=tied)
    with torch.device("meta"):
        m = ByteTransformer(cfg)
    counts = transformer_param_counts(cfg)
    assert counts["total"] == m.num_params()
    assert counts["byte embedding"] == m.tok_emb.weight.numel()


def test_dense_flops_are_twice_the_weights_plus_attention():
    cfg = TRANSFORMER_PRESETS["entropy-paper"]
    counts = transformer_param_counts(cfg)
    weights = counts["transformer blocks"] - cfg.n_layers * 2 * cfg.dim - cfg.dim  # minus norm gains
    attention = cfg.n_layers * 4 * cfg.dim * cfg.window
    assert transformer_flops_per_byte(cfg)["transformer blocks"] == 2 * weights + attention


def test_global_share_shrinks_with_patch_size_and_locals_barely_move():
    cfg = PRESETS["1b"]
    small, large = blt_flops_per_byte(cfg, 4.0), blt_flops_per_byte(cfg, 8.0)
    # Global weights dominate, so doubling patches roughly halves the global cost (attention context halves too).
    assert 0.45 < large["global transformer"] / small["global transformer"] < 0.55
    assert large["local decoder"] < small["local decoder"] < 1.1 * large["local decoder"]
    assert small["total"] == pytest.approx(sum(v for k, v in small.items() if k != "total"))
    with pytest.raises(ValueError):
        blt_flops_per_byte(cfg, 0.5)


@pytest.mark.parametrize("seq_len", [float("nan"), float("inf"), 0])
def test_a_seq_len_that_is_not_a_finite_number_of_at_least_one_is_refused(seq_len):
    """nan passed the `< 1` check and every total came out nan; inf gave an infinite global transformer."""
    with pytest.raises(ValueError, match="seq_len must be a finite number >= 1"):
        blt_flops_per_byte(PRESETS["tiny"], 4.5, seq_len)
    with pytest.raises(ValueError, match="seq_len must be a finite number >= 1"):
        transformer_flops_per_byte(TRANSFORMER_PRESETS["tiny"], seq_len)
