"""A plain causal byte-level transformer: BLT's baseline and the entropy LM's architecture.

One model, two jobs. As the *baseline* it is what BLT is measured against (every
byte costs a full pass through every layer). As the *entropy LM* (paper: 14
layers, dim 768, 12 heads, sliding window 512, ~100M parameters) its next-byte
distributions decide where BLT patches start. The trade-off is the usual one: a
sliding window bounds attention cost and lets the model run over arbitrarily long
documents in chunks, at the price of forgetting anything further back than the
window.

Stable API (other modules build on it):

    cfg = TRANSFORMER_PRESETS["entropy-paper"]          # or ByteTransformerConfig(...)
    model = ByteTransformer(cfg)
    logits, loss = model(idx, targets=None, doc_ids=None)
        idx      (B, T) int64 ids in [0, 260): byte + 4, BOE=0, BOS=1, EOS=2, BPE=3
        targets  (B, T) int64 next ids, IGNORE_INDEX (-100) where no loss is wanted
        doc_ids  (B, T) int, optional: attention never crosses a change of doc id
                 (use `doc_ids_from_bos(idx)` for rows packed with several documents)
        logits   (B, T, 260) float; loss: mean cross-entropy over non-ignored targets
                 (`mean_cross_entropy`: 0 when every target is ignored, never NaN)
    model.num_params(), ByteTransformerConfig.from_dict(d), cfg.to_dict()

Positions are absolute within the row (RoPE only sees differences, so a document
starting mid-row behaves as if it started at 0). Padding is by right-padding `idx`
with any id and setting the matching targets to -100: attention is causal, so pads
never touch real positions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bytepatch.models.field_types import SCALES, check_field_types, check_sizes
from bytepatch.models.nn.attention import chunk_for, self_mask
from bytepatch.models.nn.layers import (
    ATTENTION_IMPLS,
    RMSNorm,
    Rotary,
    TransformerBlock,
    init_weights,
    swiglu_hidden_dim,
)
from bytepatch.strict import from_dict

VOCAB_SIZE = 260  # 256 byte values + BOE, BOS, EOS, BPE
IGNORE_INDEX = -100  # targets with this value contribute no loss (F.cross_entropy's default)


# What nn.Embedding indexes with. A uint8 tensor compared with the vocabulary size (260 wraps to
# 4 in uint8) failed the range check with a range inside it; int8/int16 failed inside the embedding.
ID_DTYPES = (torch.int64, torch.int32)


def describe_input(x: object) -> str:
    """A tensor as its shape and dtype, anything else as its type (for error messages)."""
    return f"{tuple(x.shape)} {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__


def is_integer_tensor(x: object) -> bool:
    """A tensor of integers (not bool, float or complex)."""
    return isinstance(x, torch.Tensor) and not (
        x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool
    )


def check_ids(ids: object, name: str = "ids") -> None:
    """Raise ValueError unless `ids` is a (B, T) tensor of an id dtype (no device sync)."""
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.dtype not in ID_DTYPES:
        raise ValueError(f"{name} must be a (B, T) int64 (or int32) tensor, got {describe_input(ids)}")


def check_id_values(ids: torch.Tensor, vocab_size: int, name: str = "ids") -> None:
    """Raise ValueError unless every id lies in [0, vocab_size) (reads values: a sync on GPU)."""
    if ids.min() < 0 or ids.max() >= vocab_size:
        raise ValueError(f"{name} must lie in [0, {vocab_size}), got range [{int(ids.min())}, {int(ids.max())}]")


def check_beside_ids(x: torch.Tensor, name: str, ids: torch.Tensor, ids_name: str = "ids") -> None:
    """Raise ValueError unless `x` (argument `name`) is on the device of `ids`."""
    if x.device != ids.device:
        verb = "are" if ids_name.endswith("s") else "is"
        raise ValueError(f"{ids_name} {verb} on {ids.device} but {name} on {x.device}; put both on one device")


def check_like_ids(x: object, name: str, ids: torch.Tensor, ids_name: str = "ids") -> None:
    """Raise ValueError unless `x` is an integer tensor shaped like `ids`, on its device (no device sync)."""
    if not is_integer_tensor(x) or x.shape != ids.shape:
        raise ValueError(
            f"{name} must be an integer tensor shaped like {ids_name} {tuple(ids.shape)}, got {describe_input(x)}"
        )
    check_beside_ids(x, name, ids, ids_name)


def check_targets(targets: torch.Tensor, ids: torch.Tensor) -> None:
    """Raise ValueError unless `targets` is an integer tensor shaped like `ids` on its device (no device sync).

    A flattened (B * T,) or otherwise mis-shaped `targets` failed inside F.cross_entropy, or,
    when it held B * T values, was taken as the rows read left to right."""
    check_like_ids(targets, "targets", ids)


def check_target_values(targets: torch.Tensor, vocab_size: int) -> None:
    """Raise ValueError unless every target is an id in [0, vocab_size) or IGNORE_INDEX (reads values: a sync on GPU)."""
    bad = ((targets < 0) | (targets >= vocab_size)) & (targets != IGNORE_INDEX)
    if bad.any():
        value = int(targets[bad][0])
        raise ValueError(f"targets must lie in [0, {vocab_size}) or be {IGNORE_INDEX} (ignored), got {value}")


def is_compiling() -> bool:
    """Whether torch.compile is tracing (input checks are skipped then)."""
    compiler = getattr(torch, "compiler", None)
    return bool(compiler is not None and hasattr(compiler, "is_compiling") and compiler.is_compiling())


def mean_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of `logits` (..., V) over the `targets` (...) that are not IGNORE_INDEX;
    0 when every target is ignored (F.cross_entropy's mean is 0/0 = NaN there), as the trainer's
    `batch_nll` counts it: a sum over no targets, divided by at least one. Targets of any integer
    dtype (int32 ids shifted by one, say) are read as int64, the dtype F.cross_entropy takes."""
    flat = targets.flatten().long()
    total = F.cross_entropy(logits.flatten(0, -2), flat, ignore_index=IGNORE_INDEX, reduction="sum")
    return total / (flat != IGNORE_INDEX).sum().clamp(min=1)


@dataclass(frozen=True)
class ByteTransformerConfig:
    n_layers: int = 2  # depth; the paper's entropy LM has 14
    dim: int = 64  # residual width; heads split it evenly
    n_heads: int = 4  # head dim = dim / n_heads must be even for RoPE
    window: int | None = None  # sliding attention window in bytes (incl. the byte itself); None = full causal
    vocab_size: int = VOCAB_SIZE  # ids are byte + 4; 4 specials
    rope_theta: float = 10000.0  # RoPE base; larger stretches the wavelengths for long contexts
    multiple_of: int = 256  # SwiGLU width rounded up to this (Llama rule; 768 -> 2048)
    ffn_dim_multiplier: float = 1.0  # scales the SwiGLU width before rounding
    norm_eps: float = 1e-5  # RMSNorm epsilon
    intermediate_size: int | None = None  # explicit SwiGLU width (e.g. the transformers patcher's); None = rule above
    tie_embeddings: bool = False  # share input embedding and output head (saves vocab*dim params)
    attn_impl: str = "sdpa"  # "sdpa" (linear-memory masks, fused kernel), "dense" (T x T masks) or "reference" (tests)

    def __post_init__(self) -> None:
        check_field_types(self)  # first: the checks below compare numbers
        check_sizes(self, "", ("n_layers", "dim", "n_heads", "multiple_of", "vocab_size"), SCALES)
        if self.dim % self.n_heads or (self.dim // self.n_heads) % 2:
            raise ValueError(f"dim {self.dim} / n_heads {self.n_heads} must be an even integer head size")
        if self.ffn_hidden < 1:  # a small ffn_dim_multiplier rounded the SwiGLU width to 0: no MLP at all
            raise ValueError(f"ffn_dim_multiplier {self.ffn_dim_multiplier} gives a SwiGLU width of 0; raise it")
        if self.window is not None and self.window < 1:
            raise ValueError(f"window must be >= 1 or None, got {self.window}")
        if self.intermediate_size is not None and self.intermediate_size < 1:
            raise ValueError(f"intermediate_size must be >= 1 or None, got {self.intermediate_size}")
        if self.attn_impl not in ATTENTION_IMPLS:
            raise ValueError(f"attn_impl must be one of {ATTENTION_IMPLS}, got {self.attn_impl!r}")

    @property
    def ffn_hidden(self) -> int:
        if self.intermediate_size is not None:
            return self.intermediate_size
        return swiglu_hidden_dim(self.dim, self.multiple_of, self.ffn_dim_multiplier)

    @classmethod
    def from_dict(cls, d: dict) -> "ByteTransformerConfig":
        """Build from a plain dict (e.g. a saved checkpoint); unknown keys are an error, not ignored."""
        return from_dict(cls, d)

    def to_dict(self) -> dict:
        return asdict(self)


# Presets as plain data. "entropy-paper" is the BLT paper's entropy LM (~100M params).
TRANSFORMER_PRESETS: dict[str, ByteTransformerConfig] = {
    "tiny": ByteTransformerConfig(n_layers=2, dim=64, n_heads=4, window=128),  # CPU tests, ~0.16M
    "small": ByteTransformerConfig(n_layers=4, dim=256, n_heads=4, window=512),  # CPU-trainable entropy LM, ~3.5M
    "base": ByteTransformerConfig(n_layers=8, dim=512, n_heads=8, window=512),  # single-GPU entropy LM, ~28M
    "entropy-paper": ByteTransformerConfig(n_layers=14, dim=768, n_heads=12, window=512),  # paper, ~100M
}


class ByteTransformer(nn.Module):
    """Causal byte-level transformer: embeddings, pre-norm blocks with RoPE, final norm, next-id logits."""

    def __init__(self, config: ByteTransformerConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.dim)
        self.rotary = Rotary(c.dim // c.n_heads, c.rope_theta)
        self.blocks = nn.ModuleList(
            TransformerBlock(c.dim, c.n_heads, c.ffn_hidden, c.norm_eps, c.attn_impl) for _ in range(c.n_layers)
        )
        self.norm = RMSNorm(c.dim, c.norm_eps)
        self.head = nn.Linear(c.dim, c.vocab_size, bias=False)
        init_weights(self, c.n_layers)
        if c.tie_embeddings:
            self.head.weight = self.tok_emb.weight

    def num_params(self) -> int:
        """Parameters counted once even when tied."""
        return sum(p.numel() for p in self.parameters())

    def _check_inputs(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None, doc_ids: torch.Tensor | None = None
    ) -> None:
        """Raise ValueError naming the argument when the inputs break the forward contract: shapes
        and dtypes always (free), id values on the CPU only (a device sync elsewhere). Unchecked, ids
        outside the vocabulary failed inside nn.Embedding, a 1-D idx unpacking its shape, and doc_ids
        of another shape broadcast (one row's documents for every row) or failed inside the mask."""
        check_ids(idx, "idx")
        if doc_ids is not None:
            check_like_ids(doc_ids, "doc_ids", idx, "idx")
        if targets is not None:
            check_targets(targets, idx)
        if idx.device.type == "cpu" and idx.numel():  # a sync elsewhere; on the host it costs nothing
            check_id_values(idx, self.config.vocab_size, "idx")
            if targets is not None:
                check_target_values(targets, self.config.vocab_size)

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        doc_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx (B, T) int64 -> (logits (B, T, vocab), loss or None); see the module docstring."""
        if not is_compiling():
            self._check_inputs(idx, targets, doc_ids)
        B, T = idx.shape
        x = self.tok_emb(idx)  # (B, T, C)
        rope = self.rotary(torch.arange(T, device=idx.device))  # (T, D/2) x2
        chunk = chunk_for(self.config.attn_impl)  # linear-memory windows, or dense masks for the reference impl
        mask = self_mask(T, window=self.config.window, doc_ids=doc_ids, chunk=chunk, device=idx.device)
        for block in self.blocks:
            x = block(x, rope, mask)
        logits = self.head(self.norm(x)).float()  # (B, T, V); float32 so the loss is stable under autocast
        loss = None
        if targets is not None:
            loss = mean_cross_entropy(logits, targets)
        return logits, loss
