"""Tiny random `transformers` BLT checkpoints for the interop tests (built with the real port)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

WINDOW = 16  # local and patcher sliding window: the test sequences are longer


def hf_config(*, patcher: bool = True, window: int | None = WINDOW, **top: Any):
    from transformers import BltConfig

    local = dict(hidden_size=32, num_attention_heads=2, cross_attn_k=2, hidden_size_global=48)
    kwargs: dict[str, Any] = dict(
        vocab_size=260,
        patch_in_forward=patcher,
        patching_threshold=1.335442066192627,
        local_attention_window_len=window,
        cross_attn_k=2,
        encoder_hash_byte_group_size=[3, 4, 5, 6, 7, 8],
        encoder_hash_byte_group_vocab=97,
        encoder_config=dict(local, num_hidden_layers=1, intermediate_size=80),  # not the Llama rule's 96
        decoder_config=dict(local, num_hidden_layers=2, intermediate_size=96),
        # 2 x 32 != 48: the port's token_embedding_projection (bytepatch's latent.in_proj) is exercised
        global_config=dict(hidden_size=48, num_attention_heads=4, num_hidden_layers=2, intermediate_size=112),
        patcher_config=dict(
            hidden_size=32, num_attention_heads=2, num_hidden_layers=2, intermediate_size=64, sliding_window=window
        ),
    )
    kwargs.update(top)
    return BltConfig(**kwargs)


def randomise_norms(model: torch.nn.Module, seed: int) -> None:
    """Norm gains away from 1, so a swapped or missing norm cannot go unnoticed."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and "norm" in name:
                p.copy_(torch.rand(p.shape, generator=g) + 0.5)


def random_hf_model(seed: int = 0, **config: Any):
    from transformers import BltForCausalLM

    torch.manual_seed(seed)
    model = BltForCausalLM(hf_config(**config)).float().eval()
    randomise_norms(model, seed + 1)
    return model


def save_hf(path: Path, seed: int = 0, max_shard_size: str | None = None, **config: Any):
    """A random BltForCausalLM saved with save_pretrained; returns the model."""
    model = random_hf_model(seed, **config)
    if max_shard_size is None:
        model.save_pretrained(str(path))
    else:
        model.save_pretrained(str(path), max_shard_size=max_shard_size)
    return model
