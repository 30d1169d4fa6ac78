"""Steppers: run a model one position at a time with KV caches, for generation.

    stepper = BLTStepper(blt)                    # or TransformerStepper(byte_transformer)
    logits = stepper.step(BOS_ID, next_starts_patch=True)
    logits = stepper.step(byte + 4, next_starts_patch=...)   # (260,) float32, predicts the next id

Each call feeds the id at the next position and returns the logits there, equal (up
to float rounding; tested) to those of a full `forward` over the whole sequence with
the same patches. What is cached:

- local encoder and decoder, and `ByteTransformer`: per layer, the rotated keys and
  values of the last `window` positions (a sliding window never reads further back),
  so a byte costs O(layers x window) whatever the length;
- latent global transformer: per layer, the keys and values of every closed patch;
  it runs once per patch, when the patch closes;
- the open patch's byte states (per encoder layer), which its pooling reads once it
  closes.

`next_starts_patch` is the patcher's decision for the *next* position, which every
rule knows before that byte exists (see `bytepatch.patchers.incremental`). The stepper
needs it now because the patch that ends here must be closed here: under the
"reference" decoder alignment this very byte reads its own patch's global state.

Trade-off: one position per call (a prompt is fed byte by byte, not as one batched
prefill) and batch size 1. That keeps the cached path a line-by-line mirror of
`forward` and easy to check, at the price of slower prompt processing; fine for
interactive generation, not for serving.
"""

from __future__ import annotations

import torch
from torch import nn

from bytepatch.models.blt.model import BLT
from bytepatch.models.nn.layers import Rotary, TransformerBlock, apply_rotary, attend
from bytepatch.models.nn.transformer import ByteTransformer


class KVCache:
    """Rotated keys and values of one self-attention layer, trimmed to the last `window` positions."""

    def __init__(self, window: int | None) -> None:
        self.window = window  # None = keep everything (plain causal)
        self.k: torch.Tensor | None = None  # (1, H, t, D)
        self.v: torch.Tensor | None = None

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add one position's (1, H, 1, D) key/value; returns everything the new query may attend to."""
        self.k = k if self.k is None else torch.cat([self.k, k], 2)
        self.v = v if self.v is None else torch.cat([self.v, v], 2)
        if self.window is not None and self.k.shape[2] > self.window:
            # The window counts the query itself: keep it and the window - 1 before it.
            self.k, self.v = self.k[:, :, -self.window :], self.v[:, :, -self.window :]
        return self.k, self.v


def block_step(block: TransformerBlock, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], cache: KVCache):
    """`TransformerBlock.forward` for one new position x (1, 1, C), reading earlier keys from `cache`."""
    attn = block.attn
    h = block.attn_norm(x)
    q, k, v = (w(h).unflatten(-1, (attn.n_heads, -1)).transpose(1, 2) for w in (attn.wq, attn.wk, attn.wv))
    keys, values = cache.append(apply_rotary(k, *rope), v)  # (1, H, t, D)
    y = attend(apply_rotary(q, *rope), keys, values, None, impl=attn.impl)  # every cached key is visible
    x = x + attn.wo(y.transpose(1, 2).flatten(-2))
    return x + block.mlp(block.mlp_norm(x))


class Stack:
    """A list of transformer blocks stepped together, each with its own cache."""

    def __init__(self, blocks: nn.ModuleList, rotary: Rotary, window: int | None) -> None:
        self.blocks, self.rotary = blocks, rotary
        self.caches = [KVCache(window) for _ in blocks]

    def step(self, x: torch.Tensor, pos: int) -> list[torch.Tensor]:
        """x (1, 1, C) at position `pos` -> the output of every block, each (1, 1, C)."""
        rope = self.rotary(torch.tensor([pos], device=x.device))
        outs = []
        for block, cache in zip(self.blocks, self.caches):
            x = block_step(block, x, rope, cache)
            outs.append(x)
        return outs


class TransformerStepper:
    """`ByteTransformer` one position at a time (the byte baseline, and the entropy LM)."""

    def __init__(self, model: ByteTransformer) -> None:
        self.model = model
        self.stack = Stack(model.blocks, model.rotary, model.config.window)
        self.pos = 0

    @torch.inference_mode()
    def step(self, token: int, next_starts_patch: bool = False) -> torch.Tensor:
        """Feed one id; logits (vocab,) float32 for the next. Patches do not exist here."""
        m = self.model
        x = m.tok_emb(torch.tensor([[token]], device=m.head.weight.device))  # (1, 1, C)
        x = self.stack.step(x, self.pos)[-1]
        self.pos += 1
        return m.head(m.norm(x)).float()[0, 0]


class BLTStepper:
    """`BLT` one byte at a time: encoder and decoder per byte, the global model per closed patch."""

    def __init__(self, model: BLT) -> None:
        self.model = model
        enc, dec, c = model.encoder, model.decoder, model.config
        self.encoder = Stack(enc.blocks, enc.rotary, c.encoder.window)
        self.latent = Stack(model.latent.blocks, model.latent.rotary, None)
        self.decoder = Stack(dec.blocks, dec.rotary, c.decoder.window)
        self.history = max(c.encoder.ngram_sizes, default=1)  # ids the hash n-grams look back at
        self.tail: list[int] = []
        self.open: list[list[torch.Tensor]] = []  # per byte of the open patch: its encoder layer outputs
        self.last_kv: torch.Tensor | None = None  # decoder keys/values (1, k, C) of the last closed patch
        self.pos = 0
        self.n_patches = 0

    @torch.inference_mode()
    def step(self, token: int, next_starts_patch: bool) -> torch.Tensor:
        """Feed the id at the next position; logits (vocab,) float32 for the one after."""
        m = self.model
        self.tail = (self.tail + [token])[-self.history :]
        ids = torch.tensor([self.tail], device=m.decoder.head.weight.device)
        x = m.encoder.embed(ids)[:, -1:]  # (1, 1, C): the hash n-grams see the ids before it too
        layers = self.encoder.step(x, self.pos)
        self.open.append(layers)
        # Every closed patch ended before this byte's patch began: "strict" reads the latest.
        kv = self.last_kv
        if next_starts_patch:
            self._close_patch()
            if m.config.decoder_alignment == "reference":
                kv = self.last_kv  # this byte ends the patch, so it reads that patch's state
        logits = self._decode(layers[-1], kv)
        self.pos += 1
        return logits

    def _close_patch(self) -> None:
        """Pool the open patch into k queries, run the global model one patch, keep its decoder keys."""
        m, enc, k = self.model, self.model.encoder, self.model.config.cross_attn_k
        all_layers = enc.config.cross_attn_all_layers
        per_layer = [torch.cat(states, 1) for states in zip(*self.open)]  # each (1, L, C)
        first = 0 if all_layers else len(per_layer) - 1
        pooled = per_layer[first].amax(1)  # (1, C): max-pool of the patch's byte states
        queries = enc.pool_proj(pooled).view(1, k, -1)  # (1, k, C)
        for i in range(first, len(per_layer)):
            # Only this patch's bytes are here, so no mask is needed.
            queries = queries + enc.cross[i if all_layers else 0](queries, per_layer[i], None)
        patch = m.latent.in_proj(queries.reshape(1, 1, -1))  # (1, 1, dG)
        state = self.latent.step(patch, self.n_patches)[-1]  # (1, 1, dG)
        self.last_kv = m.decoder.patch_proj(state).view(1, k, -1)  # (1, k, C_dec)
        self.n_patches += 1
        self.open = []

    def _decode(self, byte_state: torch.Tensor, kv: torch.Tensor | None) -> torch.Tensor:
        dec = self.model.decoder
        all_layers = dec.config.cross_attn_all_layers
        h = dec.in_proj(byte_state)  # (1, 1, C)
        rope = dec.rotary(torch.tensor([self.pos], device=h.device))
        for i, (block, cache) in enumerate(zip(self.decoder.blocks, self.decoder.caches)):
            # With no patch to read (bytes of the first patch) cross-attention adds exactly zero.
            if kv is not None and (all_layers or i == 0):
                h = h + dec.cross[i if all_layers else 0](h, kv, None)
            h = block_step(block, h, rope, cache)
        return dec.head(dec.norm(h)).float()[0, 0]


def stepper_for(model: nn.Module) -> BLTStepper | TransformerStepper:
    """The cached stepper of a BLT or a ByteTransformer."""
    if isinstance(model, BLT):
        return BLTStepper(model)
    if isinstance(model, ByteTransformer):
        return TransformerStepper(model)
    raise TypeError(f"no stepper for {type(model).__name__}; expected BLT or ByteTransformer")
