"""BLT configuration: one frozen dataclass per part, composed into `BLTConfig`.

Each part (local encoder, latent global transformer, local decoder) has its own
small config instead of one flat bag of ~90 fields shared by every sub-model (the
reference's design). The price is a nested dict on disk; `BLTConfig.from_dict`
reads it back and rejects unknown keys at every level, so a typo or a config from
an incompatible version fails loudly instead of being silently dropped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from bytepatch.models.field_types import SCALES, check_field_types, check_sizes
from bytepatch.models.nn.layers import ATTENTION_IMPLS, swiglu_hidden_dim
from bytepatch.models.nn.transformer import VOCAB_SIZE
from bytepatch.strict import check_keys, from_dict

DECODER_ALIGNMENTS = ("strict", "reference")
CROSS_ATTN_RESIDUALS = ("single", "reference")


@dataclass(frozen=True)
class StackConfig:
    """Fields every transformer stack has."""

    n_layers: int = 1  # number of transformer blocks
    dim: int = 64  # residual width
    n_heads: int = 4  # self-attention heads; dim / n_heads must be even (RoPE)
    rope_theta: float = 500000.0  # RoPE base; the released BLT uses 5e5
    multiple_of: int = 256  # SwiGLU width rounded up to this (Llama rule: 1024 -> 2816)
    ffn_dim_multiplier: float = 1.0  # scales the SwiGLU width before rounding
    norm_eps: float = 1e-5  # RMSNorm epsilon
    # Explicit SwiGLU width; None = the Llama rule above. Checkpoints converted from other code
    # (the transformers port stores `intermediate_size`) carry their exact widths here.
    intermediate_size: int | None = None

    key_prefix = ""  # how an override names this part's fields (`encoder.dim=64`); not a field

    def __post_init__(self) -> None:
        check_field_types(self, self.key_prefix)  # first: the checks below compare numbers
        if self.intermediate_size is not None and self.intermediate_size < 1:
            raise ValueError(f"{self.key_prefix}intermediate_size must be >= 1 or null, got {self.intermediate_size}")
        check_sizes(self, self.key_prefix, ("n_layers", "dim", "n_heads", "multiple_of"), SCALES)
        if self.dim % self.n_heads or (self.dim // self.n_heads) % 2:
            raise ValueError(f"{type(self).__name__}: dim {self.dim} / n_heads {self.n_heads} must be an even integer")
        if self.ffn_hidden < 1:  # a small ffn_dim_multiplier rounded the SwiGLU width to 0: no MLP at all
            raise ValueError(
                f"{self.key_prefix}ffn_dim_multiplier {self.ffn_dim_multiplier} gives a SwiGLU width of 0; raise it"
            )
        window = getattr(self, "window", None)
        if window is not None and window < 1:
            raise ValueError(f"{self.key_prefix}window must be >= 1 or null, got {window}")
        cross_heads = getattr(self, "cross_attn_heads", None)
        if cross_heads is not None and cross_heads < 1:  # 0 divided by zero below, -4 divided dim
            raise ValueError(f"{self.key_prefix}cross_attn_heads must be >= 1, got {cross_heads}")
        if cross_heads is not None and self.dim % cross_heads:
            raise ValueError(f"{type(self).__name__}: dim {self.dim} not divisible by cross_attn_heads {cross_heads}")

    @property
    def ffn_hidden(self) -> int:
        if self.intermediate_size is not None:
            return self.intermediate_size
        return swiglu_hidden_dim(self.dim, self.multiple_of, self.ffn_dim_multiplier)


@dataclass(frozen=True)
class LocalEncoderConfig(StackConfig):
    key_prefix = "encoder."
    window: int | None = 512  # sliding self-attention window over bytes (incl. the byte itself)
    ngram_sizes: tuple[int, ...] = (3, 4, 5, 6, 7, 8)  # hashed byte n-grams ending at each byte; () disables
    hash_table_size: int = 500_002  # buckets per n-gram table (paper: 500,002)
    hash_functions: int = 1  # independent hash functions per n (each its own table); released BLT: 1
    cross_attn_heads: int = 4  # heads of the patch-pooling cross-attention
    cross_attn_all_layers: bool = False  # pool after every layer (True) or only after the last (released 1B)

    def __post_init__(self) -> None:
        super().__post_init__()
        if any(n < 1 for n in self.ngram_sizes) or self.hash_table_size < 1 or not 1 <= self.hash_functions:
            raise ValueError("ngram sizes, hash_table_size and hash_functions must be positive")


@dataclass(frozen=True)
class GlobalConfig(StackConfig):
    """The latent transformer over patches: plain causal attention, no window."""

    key_prefix = "latent."


@dataclass(frozen=True)
class LocalDecoderConfig(StackConfig):
    key_prefix = "decoder."
    window: int | None = 512  # sliding self-attention window over bytes
    cross_attn_heads: int = 4  # heads of the cross-attention reading patch states
    cross_attn_all_layers: bool = True  # cross-attend before every layer (released 1B) or only the first


@dataclass(frozen=True)
class BLTConfig:
    encoder: LocalEncoderConfig = field(default_factory=LocalEncoderConfig)  # bytes -> patch vectors
    latent: GlobalConfig = field(default_factory=GlobalConfig)  # patch vectors -> patch states
    decoder: LocalDecoderConfig = field(default_factory=LocalDecoderConfig)  # patch states + bytes -> logits
    cross_attn_k: int = 2  # query vectors per patch; a patch enters the global model as k * encoder.dim
    vocab_size: int = VOCAB_SIZE  # ids are byte + 4; BOE=0, BOS=1, EOS=2, BPE=3
    # Which global state serves decoder byte t: "strict" = the last patch ending *before* t
    # (no byte sees the global summary of its own patch); "reference" = the last patch ending
    # at or before t (the BLT reference: the byte that ends a patch already reads that patch's
    # state, which it may since it predicts the next byte). Both are causal.
    decoder_alignment: str = "strict"
    # How cross-attention joins the residual stream: "single" = x + attn(x); "reference" = x + (attn(x) + x),
    # the residual added twice, as the BLT reference code and the transformers port do (encoder and
    # decoder). Needed, with decoder_alignment="reference", to run the released weights exactly.
    cross_attn_residual: str = "single"
    attn_impl: str = "sdpa"  # "sdpa" (linear-memory masks, fused kernel), "dense" (T x T masks) or "reference" (tests)

    def __post_init__(self) -> None:
        for name, part_cls in _PARTS.items():
            # A dict here met check_field_types' "does not know the annotation" TypeError (a bug message),
            # and another part's config (a GlobalConfig as encoder) was accepted and failed building the model.
            part = getattr(self, name)
            if not isinstance(part, part_cls):
                hint = "; BLTConfig.from_dict reads nested dicts" if isinstance(part, dict) else ""
                raise ValueError(f"{name} must be a {part_cls.__name__}, got {type(part).__name__}{hint}")
        check_field_types(self)
        if self.vocab_size < 1:  # 0 and -1 were accepted and failed building the embedding, or in every forward
            raise ValueError(f"vocab_size must be >= 1, got {self.vocab_size}")
        if self.cross_attn_k < 1:
            raise ValueError(f"cross_attn_k must be >= 1, got {self.cross_attn_k}")
        if self.decoder_alignment not in DECODER_ALIGNMENTS:
            raise ValueError(f"decoder_alignment must be one of {DECODER_ALIGNMENTS}, got {self.decoder_alignment!r}")
        if self.cross_attn_residual not in CROSS_ATTN_RESIDUALS:
            raise ValueError(
                f"cross_attn_residual must be one of {CROSS_ATTN_RESIDUALS}, got {self.cross_attn_residual!r}"
            )
        if self.attn_impl not in ATTENTION_IMPLS:
            raise ValueError(f"attn_impl must be one of {ATTENTION_IMPLS}, got {self.attn_impl!r}")

    @classmethod
    def from_dict(cls, d: dict) -> "BLTConfig":
        """Inverse of `to_dict`; unknown keys at any level raise ValueError."""
        check_keys(d, [f.name for f in fields(cls)], cls.__name__)
        kwargs = dict(d)
        for name, part_cls in _PARTS.items():
            if name in kwargs:
                sub = kwargs[name]
                if isinstance(sub, dict) and "ngram_sizes" in sub:
                    sub = {**sub, "ngram_sizes": tuple(sub["ngram_sizes"])}  # JSON gives a list
                kwargs[name] = from_dict(part_cls, sub)
        return cls(**kwargs)

    def to_dict(self) -> dict:
        """Plain nested dict (JSON-safe apart from tuples becoming lists when dumped)."""
        return asdict(self)


_PARTS = {"encoder": LocalEncoderConfig, "latent": GlobalConfig, "decoder": LocalDecoderConfig}
