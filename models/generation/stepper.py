"""Steppers: run a model over the next positions with KV caches, for generation.

    stepper = BLTStepper(blt)                          # or TransformerStepper(byte_transformer)
    logits = stepper.feed([BOS_ID, *prompt_ids], starts)   # (n, 260): the prompt in one batched pass
    logits = stepper.step(byte + 4, next_starts_patch=...)  # (260,): one more position

`feed` takes the ids at the next n positions and returns the logits at each, equal
(up to float rounding; tested) to those of a full `forward` over the whole sequence
with the same patches; `step` is `feed` of one id. So prefilling a prompt costs one
pass linear in its length (the windowed attention of `nn.attention` keeps it linear
for long prompts too), and every later byte costs O(layers x window).

What is cached, through the model's own blocks (`TransformerBlock(..., cache=)`):
- local encoder and decoder, and `ByteTransformer`: per layer, the rotated keys and
  values of the last `window - 1` positions (a sliding window never reads further back);
- latent global transformer: per layer, the keys and values of every closed patch;
  it runs once per patch, when the patch closes;
- the open patch's byte states (per encoder layer), which its pooling reads once it closes.

`starts[i]` (`next_starts_patch`) is the patcher's decision for the position *after*
ids[i], which every rule knows before that byte exists (see
`bytepatch.patchers.incremental`). The stepper needs it now because the patch that
ends at ids[i] must be closed there: under the "reference" decoder alignment that
very byte reads its own patch's global state.

Trade-off: batch size 1 (one text); serving many texts at once would batch lanes as
`entropy_lm.inference` does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from bytepatch.models.blt.model import BLT
from bytepatch.models.nn.attention import KVCache, PatchCrossMask, SelfMask, self_mask
from bytepatch.models.nn.layers import Rotary
from bytepatch.models.nn.transformer import ByteTransformer


class Stack:
    """Transformer blocks run with one KV cache each; positions continue from call to call."""

    def __init__(self, blocks: nn.ModuleList, rotary: Rotary, window: int | None) -> None:
        self.blocks, self.rotary, self.window = blocks, rotary, window
        self.caches = [KVCache(window) for _ in blocks]
        self.pos = 0  # positions fed so far

    def prepare(self, T: int, device: torch.device) -> tuple[tuple[torch.Tensor, torch.Tensor], SelfMask]:
        """RoPE tables and mask for the next T positions (call `advance(T)` once they are fed)."""
        rope = self.rotary(torch.arange(self.pos, self.pos + T, device=device))
        return rope, self_mask(T, window=self.window, n_past=self.caches[0].length, device=device)

    def advance(self, T: int) -> None:
        self.pos += T

    def feed(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x (1, T, C) at the next T positions -> the output of every block, each (1, T, C)."""
        rope, mask = self.prepare(x.shape[1], x.device)
        outs = []
        for block, cache in zip(self.blocks, self.caches):
            x = block(x, rope, mask, cache=cache)
            outs.append(x)
        self.advance(x.shape[1])
        return outs


class TransformerStepper:
    """`ByteTransformer` over the next positions, batch size 1."""

    def __init__(self, model: ByteTransformer) -> None:
        self.model = model
        self.stack = Stack(model.blocks, model.rotary, model.config.window)

    @torch.inference_mode()
    def feed(self, tokens: Sequence[int], starts: Sequence[bool] | None = None) -> torch.Tensor:
        """Feed ids at the next n positions; logits (n, vocab) float32, row i predicts the id after tokens[i].

        `starts` (patch decisions) is accepted for symmetry with `BLTStepper` and ignored.
        """
        m = self.model
        x = m.tok_emb(torch.tensor([list(tokens)], device=m.head.weight.device))  # (1, n, C)
        x = self.stack.feed(x)[-1]
        return m.head(m.norm(x)).float()[0]

    def step(self, token: int, next_starts_patch: bool = False) -> torch.Tensor:
        """Feed one id; logits (vocab,) for the next. Patches do not exist here."""
        return self.feed([token])[-1]


class BLTStepper:
    """`BLT` over the next positions: encoder and decoder per byte, the global model per closed patch."""

    def __init__(self, model: BLT) -> None:
        self.model = model
        enc, dec, c = model.encoder, model.decoder, model.config
        self.encoder = Stack(enc.blocks, enc.rotary, c.encoder.window)
        self.latent = Stack(model.latent.blocks, model.latent.rotary, None)
        self.decoder = Stack(dec.blocks, dec.rotary, c.decoder.window)
        self.history = max(c.encoder.ngram_sizes, default=1)  # ids the hash n-grams look back at
        self.tail: list[int] = []
        self.open: list[torch.Tensor] = []  # per encoder layer: states (1, L, C) of the open patch's bytes
        self.last_kv: torch.Tensor | None = None  # decoder keys/values (1, k, C) of the last closed patch

    @property
    def pos(self) -> int:
        return self.encoder.pos

    @property
    def n_patches(self) -> int:
        return self.latent.pos

    def step(self, token: int, next_starts_patch: bool) -> torch.Tensor:
        """Feed the id at the next position; logits (vocab,) float32 for the one after."""
        return self.feed([token], [next_starts_patch])[-1]

    @torch.inference_mode()
    def feed(self, ids: Sequence[int], starts: Sequence[bool]) -> torch.Tensor:
        """Feed ids at the next n positions (starts[i]: a patch starts after ids[i]); logits (n, vocab)."""
        ids, starts = list(ids), [bool(s) for s in starts]
        if len(ids) != len(starts) or not ids:
            raise ValueError(f"need one start decision per id and at least one id, got {len(ids)} and {len(starts)}")
        m = self.model
        device = m.decoder.head.weight.device
        context = self.tail + ids
        x = m.encoder.embed(torch.tensor([context], device=device))[:, len(self.tail) :]  # n-grams see earlier ids
        self.tail = context[-self.history :]
        layers = self.encoder.feed(x)  # per layer (1, n, C)
        ends = [i for i, s in enumerate(starts) if s]  # new positions that end a patch
        previous_kv = self.last_kv
        new_kv = self._close_patches(layers, ends)
        kv = [t for t in (previous_kv, new_kv) if t is not None]
        return self._decode(layers[-1], torch.cat(kv, 1) if kv else None, ends, previous_kv is not None)

    def _close_patches(self, layers: list[torch.Tensor], ends: list[int]) -> torch.Tensor | None:
        """Pool the patches that end among the new positions, run them through the global model.

        Returns their decoder keys/values (1, n_closed * k, C); keeps the still-open bytes.
        """
        held = self.open[0].shape[1] if self.open else 0
        span = [torch.cat([o, x], 1) for o, x in zip(self.open, layers)] if self.open else layers
        self.open = [s[:, held + ends[-1] + 1 :] for s in span] if ends else span
        if not ends:
            return None
        m, k = self.model, self.model.config.cross_attn_k
        bounds = torch.tensor([held + e + 1 for e in ends], device=span[0].device)  # exclusive ends
        closed = int(bounds[-1])
        patch_ids = torch.searchsorted(bounds, torch.arange(closed, device=bounds.device), right=True)[None]
        mask = PatchCrossMask(patch_ids, k, len(ends), bytes_are_queries=False)
        patches = m.encoder.pool([s[:, :closed] for s in span], patch_ids, len(ends), mask)  # (1, n_closed, k*C)
        states = self.latent.feed(m.latent.in_proj(patches))[-1]  # (1, n_closed, dG)
        kv = m.decoder.patch_proj(states).view(1, len(ends) * k, -1)  # (1, n_closed*k, C_dec)
        self.last_kv = kv[:, -k:]
        return kv

    def _decode(self, byte_states: torch.Tensor, kv: torch.Tensor | None, ends: list[int], has_previous: bool):
        """Decoder over the new positions; each reads the patch the alignment rule gives it."""
        m, k, n = self.model, self.model.config.cross_attn_k, byte_states.shape[1]
        device = byte_states.device
        cross = None
        if kv is not None:
            # kv holds [last patch closed before this call (if any), patches closed in it]:
            # byte i reads the newest of those ending before it ("strict") or at it ("reference").
            ends_t = torch.tensor(ends, dtype=torch.long, device=device)
            right = m.config.decoder_alignment == "reference"
            closed_by_i = torch.searchsorted(ends_t, torch.arange(n, device=device), right=right)
            patch = closed_by_i + int(has_previous) - 1  # -1: nothing to read yet
            cross = PatchCrossMask(patch[None], k, kv.shape[1] // k, bytes_are_queries=True)
        rope, mask = self.decoder.prepare(n, device)
        logits = m.decoder.decode(m.decoder.in_proj(byte_states), kv, cross, rope, mask, self.decoder.caches)
        self.decoder.advance(n)
        return logits.float()[0]


def stepper_for(model: nn.Module) -> BLTStepper | TransformerStepper:
    """The cached stepper of a BLT or a ByteTransformer."""
    if isinstance(model, BLT):
        return BLTStepper(model)
    if isinstance(model, ByteTransformer):
        return TransformerStepper(model)
    raise TypeError(f"no stepper for {type(model).__name__}; expected BLT or ByteTransformer")
