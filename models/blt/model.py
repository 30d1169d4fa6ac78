"""The Byte Latent Transformer: local encoder -> latent global transformer -> local decoder.

    logits, loss = BLT(config)(ids, patch_lengths, targets=None)

ids (B, T) int64 model ids (byte + 4; BOE=0, BOS=1, EOS=2, BPE=3).
patch_lengths (B, P) int: the lengths of row b's patches, left to right, zero-padded
    on the right, each row summing to T. The model does no patching; lengths come
    from the data (an entropy or space patcher).
targets (B, T) int64, optional: next ids, -100 where no loss is wanted (padding).
logits (B, T, 260) float32; loss = mean cross-entropy over non-ignored targets.

BOS convention (as in the reference): a row starts with BOS and BOS is a patch of
length 1 of its own, so `patch_lengths[:, 0] == 1`. The global state of patch k
then serves the bytes of patch k + 1 in the decoder, and the first real patch
already has BOS's state to read. The model does not enforce this (a window cut
from the middle of a long document may start anywhere); it only requires valid
lengths. One document (or one window of one) per row: pad rows on the right by
extending the last patch or adding patches of pad bytes whose targets are -100.

Causality: decoder byte t reads global state j only if patch j ends before t
(`decoder_alignment="strict"`, default) or at t ("reference"); global state j
depends only on bytes of patches 0..j; local self-attention is causal. So logits at
t depend only on bytes 0..t: perturbing byte t never changes logits at positions
< t. The trade-off of "strict": the byte that ends a patch predicts the first byte
of the next patch without the fresh summary of its own patch.

Validation: shapes and dtypes are checked in every forward (free). Values (id range,
patch lengths summing to T, zero padding on the right) need a device-to-host sync
each, so forward checks them only for CPU inputs unless `BLT(config, check_inputs=True)`;
the data loader checks every batch at collate time on the host (`validate_inputs`).
Nothing is checked while torch.compile traces the model.
"""

from __future__ import annotations

import torch
from torch import nn

from bytepatch.models.blt.config import BLTConfig
from bytepatch.models.blt.global_transformer import GlobalTransformer
from bytepatch.models.nn.attention import chunk_for, self_mask
from bytepatch.models.nn.layers import init_weights
from bytepatch.models.blt.local_decoder import LocalDecoder
from bytepatch.models.blt.local_encoder import LocalEncoder
from bytepatch.models.nn.transformer import (
    check_beside_ids,
    check_id_values,
    check_ids,
    check_target_values,
    check_targets,
    describe_input,
    is_compiling,
    is_integer_tensor,
    mean_cross_entropy,
)


def check_input_shapes(ids: torch.Tensor, patch_lengths: torch.Tensor) -> None:
    """Raise ValueError when shapes or dtypes break the forward contract (metadata only: no device sync)."""
    check_ids(ids)
    if not is_integer_tensor(patch_lengths) or patch_lengths.dim() != 2:
        raise ValueError(f"patch_lengths must be a (B, P) integer tensor, got {describe_input(patch_lengths)}")
    B, T = ids.shape
    if patch_lengths.shape[0] != B:
        raise ValueError(f"batch sizes differ: ids has {B} rows, patch_lengths {patch_lengths.shape[0]}")
    if T == 0 or patch_lengths.shape[1] == 0:
        raise ValueError("empty input: need at least one byte and one patch per row")
    check_beside_ids(patch_lengths, "patch_lengths", ids)


def check_input_values(ids: torch.Tensor, patch_lengths: torch.Tensor, vocab_size: int) -> None:
    """Raise ValueError when id or patch-length values break the contract (reads values: a sync on GPU)."""
    B, T = ids.shape
    if B == 0:  # no rows, nothing to check (min() of an empty tensor raises)
        return
    check_id_values(ids, vocab_size)
    if patch_lengths.min() < 0:
        raise ValueError("patch_lengths must be non-negative")
    real = patch_lengths > 0
    if (real[:, 1:] & ~real[:, :-1]).any():
        raise ValueError("patch_lengths must be zero-padded on the right only (a zero followed by a length)")
    sums = patch_lengths.sum(-1)
    if (sums != T).any():
        bad = int((sums != T).nonzero()[0, 0])
        raise ValueError(f"patch_lengths of row {bad} sum to {int(sums[bad])}, expected T = {T}")


def validate_inputs(ids: torch.Tensor, patch_lengths: torch.Tensor, vocab_size: int) -> None:
    """Raise ValueError with a clear message when ids/patch_lengths break the forward contract.

    Data loaders call this at collate time, on the host, so the training step need not.
    """
    check_input_shapes(ids, patch_lengths)
    check_input_values(ids, patch_lengths, vocab_size)


def patch_ids_from_lengths(patch_lengths: torch.Tensor, T: int) -> torch.Tensor:
    """Index of the patch containing each byte: (B, P) -> (B, T)."""
    ends = patch_lengths.long().cumsum(-1)  # (B, P) exclusive end of each patch
    positions = torch.arange(T, device=patch_lengths.device).expand(ends.shape[0], T).contiguous()
    return torch.searchsorted(ends, positions, right=True)  # number of patches ending at or before t


def decoder_patch_ids(patch_lengths: torch.Tensor, T: int, alignment: str) -> torch.Tensor:
    """Index of the global state serving each decoder byte, -1 for none: (B, P) -> (B, T).

    strict: the last patch ending before t, i.e. (patch of t) - 1.
    reference: the last patch ending at or before t.
    """
    patch_ids = patch_ids_from_lengths(patch_lengths, T)
    if alignment == "strict":
        return patch_ids - 1
    # Patch j ends at or before t  <=>  its exclusive end <= t + 1. Zero-length padding
    # patches share the row's last end (T), so clamp the count to the real patches.
    ends = patch_lengths.long().cumsum(-1)
    positions = torch.arange(1, T + 1, device=patch_lengths.device).expand(ends.shape[0], T).contiguous()
    n_ended = torch.searchsorted(ends, positions, right=True)  # (B, T)
    n_real = (patch_lengths > 0).sum(-1, keepdim=True)
    return torch.minimum(n_ended, n_real) - 1


class BLT(nn.Module):
    """Byte Latent Transformer; see the module docstring for the forward contract."""

    def __init__(self, config: BLTConfig, check_inputs: bool | None = None):
        """`check_inputs`: check id and patch-length *values* in every forward. None (default):
        only for inputs on the CPU, where it costs no device sync; on an accelerator the
        data loader checks them at collate time (`validate_inputs`) and forward checks
        shapes only, keeping ~6 device-to-host syncs per step off the hot path. True: always
        (debugging); False: never."""
        super().__init__()
        self.config = config
        self.check_inputs = check_inputs
        c = config
        self.encoder = LocalEncoder(c.encoder, c.cross_attn_k, c.vocab_size, c.attn_impl, c.cross_attn_residual)
        self.latent = GlobalTransformer(c.latent, c.cross_attn_k * c.encoder.dim, c.attn_impl)
        self.decoder = LocalDecoder(
            c.decoder, c.encoder.dim, c.latent.dim, c.cross_attn_k, c.vocab_size, c.attn_impl, c.cross_attn_residual
        )
        for part in (self.encoder, self.latent, self.decoder):
            init_weights(part, part.config.n_layers)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(
        self,
        ids: torch.Tensor,
        patch_lengths: torch.Tensor,
        targets: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not is_compiling():
            check_input_shapes(ids, patch_lengths)
            check = self.check_inputs if self.check_inputs is not None else ids.device.type == "cpu"
            if targets is not None:
                check_targets(targets, ids)
            if check:
                check_input_values(ids, patch_lengths, self.config.vocab_size)
                if targets is not None:
                    check_target_values(targets, self.config.vocab_size)
        B, T = ids.shape
        P = patch_lengths.shape[1]
        c = self.config
        patch_ids = patch_ids_from_lengths(patch_lengths, T)  # (B, T)
        chunk = chunk_for(c.attn_impl)  # linear-memory windows, or dense masks for the reference impl
        enc_mask = self_mask(T, window=c.encoder.window, chunk=chunk, device=ids.device)
        byte_states, patches = self.encoder(ids, patch_ids, P, enc_mask)  # (B, T, dE), (B, P, k*dE)
        patch_states = self.latent(patches)  # (B, P, dG)
        dec_ids = decoder_patch_ids(patch_lengths, T, c.decoder_alignment)  # (B, T)
        dec_mask = self_mask(T, window=c.decoder.window, chunk=chunk, device=ids.device)
        logits = self.decoder(byte_states, patch_states, dec_ids, dec_mask)  # (B, T, V)
        loss = None
        if targets is not None:
            loss = mean_cross_entropy(logits, targets)  # 0, not NaN, when every target is ignored
        return logits, loss
