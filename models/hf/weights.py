"""Weight names: bytepatch `BLT` / `ByteTransformer` state dicts <-> the `transformers` BLT port.

The tensors are the same numbers under other names (no transposes, no reordering),
with one exception: the port keeps the hash n-gram tables as one fused embedding
(table i occupies rows [i * buckets, (i + 1) * buckets), hash function major, n
minor: the order in which both sides sum them), bytepatch as one table per
(function, n). The maps are built from the config, so a missing or unexpected
tensor is reported by name instead of silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from bytepatch.models.blt.config import BLTConfig
from bytepatch.models.nn.transformer import ByteTransformerConfig

HF_PREFIX = "model."
PATCHER_PREFIX = "model.patcher."
HASH_KEY = "model.encoder_hash_tok_embedding.weight"

# bytepatch block parameter -> port layer parameter
_BLOCK = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn.wq.weight": "self_attn.q_proj.weight",
    "attn.wk.weight": "self_attn.k_proj.weight",
    "attn.wv.weight": "self_attn.v_proj.weight",
    "attn.wo.weight": "self_attn.o_proj.weight",
    "mlp_norm.weight": "post_attention_layernorm.weight",
    "mlp.w1.weight": "mlp.gate_proj.weight",
    "mlp.w3.weight": "mlp.up_proj.weight",
    "mlp.w2.weight": "mlp.down_proj.weight",
}
_CROSS = {
    "q_norm.weight": "q_norm.weight",
    "kv_norm.weight": "k_norm.weight",
    "wq.weight": "q_proj.weight",
    "wk.weight": "k_proj.weight",
    "wv.weight": "v_proj.weight",
    "wo.weight": "o_proj.weight",
}


def _blocks(ours: str, theirs: str, n: int) -> Iterator[tuple[str, str]]:
    for i in range(n):
        for a, b in _BLOCK.items():
            yield f"{ours}.{i}.{a}", f"{theirs}.{i}.{b}"


def _cross(ours: str, theirs: str, n: int) -> Iterator[tuple[str, str]]:
    for i in range(n):
        for a, b in _CROSS.items():
            yield f"{ours}.{i}.{a}", f"{theirs}.{i}.{b}"


def blt_name_pairs(c: BLTConfig) -> list[tuple[str, str]]:
    """(bytepatch name, port name) of every BLT tensor except the hash tables."""
    e, g, d = c.encoder, c.latent, c.decoder
    pairs = [
        ("encoder.tok_emb.weight", "model.local_encoder.embed_tokens.weight"),
        ("encoder.pool_proj.weight", "model.local_encoder.patch_embedding_projection.weight"),
        *_blocks("encoder.blocks", "model.local_encoder.layers", e.n_layers),
        *_cross("encoder.cross", "model.local_encoder.cross_attn_layers", e.n_layers if e.cross_attn_all_layers else 1),
        *_blocks("latent.blocks", "model.global_transformer.layers", g.n_layers),
        ("decoder.patch_proj.weight", "model.local_decoder.patch_embedding_projection.weight"),
        *_cross("decoder.cross", "model.local_decoder.cross_attn_layers", d.n_layers if d.cross_attn_all_layers else 1),
        *_blocks("decoder.blocks", "model.local_decoder.layers", d.n_layers),
        ("decoder.norm.weight", "model.local_decoder.norm.weight"),
        ("decoder.head.weight", "lm_head.weight"),
    ]
    if c.cross_attn_k * e.dim != g.dim:
        pairs.append(("latent.in_proj.weight", "model.global_transformer.token_embedding_projection.weight"))
    return pairs


def patcher_name_pairs(p: ByteTransformerConfig, prefix: str = PATCHER_PREFIX) -> list[tuple[str, str]]:
    """(bytepatch ByteTransformer name, port name) for the patcher, under `prefix`."""
    return [
        ("tok_emb.weight", f"{prefix}embed_tokens.weight"),
        *_blocks("blocks", f"{prefix}layers", p.n_layers),
        ("norm.weight", f"{prefix}norm.weight"),
        ("head.weight", f"{prefix}lm_head.weight"),
    ]


def _n_tables(c: BLTConfig) -> int:
    return c.encoder.hash_functions * len(c.encoder.ngram_sizes)


EMBED_KEY = "model.local_encoder.embed_tokens.weight"
HEAD_KEY = "lm_head.weight"


def untie(hf: dict[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    """The port's tensors with both of a tied pair (`tie_word_embeddings`): the file may hold either.

    The port's tie makes the encoder's byte embedding the head (`_tied_weights_keys`), and
    `save_pretrained` keeps only `lm_head.weight`; two different tensors cannot both be it.
    """
    present = [key for key in (HEAD_KEY, EMBED_KEY) if key in hf]
    if not present:
        return hf
    if len(present) == 2 and not torch.equal(hf[HEAD_KEY], hf[EMBED_KEY]):
        raise ValueError(f"{where}: tie_word_embeddings is true, but {HEAD_KEY} and {EMBED_KEY} differ")
    shared = hf[present[0]]
    return {**hf, HEAD_KEY: shared, EMBED_KEY: shared}


def blt_state_from_hf(
    hf: dict[str, torch.Tensor], c: BLTConfig, where: str, tied: bool = False
) -> dict[str, torch.Tensor]:
    """bytepatch `BLT` state dict from the port's tensors; ValueError names a missing tensor.

    `tied`: the port's `tie_word_embeddings` (one tensor for the byte embedding and the head).
    """
    if tied:
        hf = untie(hf, where)
    state = {}
    for ours, theirs in blt_name_pairs(c):
        if theirs not in hf:
            raise ValueError(f"{where}: missing tensor {theirs!r}")
        state[ours] = hf[theirs]
    # The port always has the fused table: 0 rows without n-grams (encoder_hash_byte_group_nb_functions=0).
    if HASH_KEY not in hf:
        raise ValueError(f"{where}: missing tensor {HASH_KEY!r}")
    fused = hf[HASH_KEY]
    rows = c.encoder.hash_table_size
    if fused.shape[0] != rows * _n_tables(c):
        raise ValueError(
            f"{where}: {HASH_KEY} has {fused.shape[0]} rows, expected {_n_tables(c)} tables x {rows} buckets"
        )
    for i in range(_n_tables(c)):
        state[f"encoder.hash_emb.tables.{i}.weight"] = fused[i * rows : (i + 1) * rows]
    return state


def hf_state_from_blt(state: dict[str, torch.Tensor], c: BLTConfig) -> dict[str, torch.Tensor]:
    """The port's tensors from a bytepatch `BLT` state dict (copies: safe to write while training goes on)."""
    out = {theirs: state[ours].detach().clone() for ours, theirs in blt_name_pairs(c)}
    tables = [state[f"encoder.hash_emb.tables.{i}.weight"] for i in range(_n_tables(c))]
    # without n-grams the port still has its (empty) fused table, and from_pretrained wants the tensor
    out[HASH_KEY] = torch.cat(tables, 0) if tables else torch.zeros(0, c.encoder.dim)
    return out


def patcher_state_from_hf(
    hf: dict[str, torch.Tensor], p: ByteTransformerConfig, where: str, prefix: str = PATCHER_PREFIX
) -> dict[str, torch.Tensor]:
    state = {}
    for ours, theirs in patcher_name_pairs(p, prefix):
        if theirs not in hf:
            raise ValueError(f"{where}: missing tensor {theirs!r}")
        state[ours] = hf[theirs]
    # A tied model holds one tensor for both: loading two different ones would keep the last silently.
    if p.tie_embeddings and not torch.equal(state["tok_emb.weight"], state["head.weight"]):
        raise ValueError(
            f"{where}: the entropy model's config ties its embeddings, but {prefix}embed_tokens.weight and "
            f"{prefix}lm_head.weight differ"
        )
    return state


def hf_state_from_patcher(state: dict[str, torch.Tensor], p: ByteTransformerConfig) -> dict[str, torch.Tensor]:
    # A tied entropy model is written as two equal tensors: the port never ties.
    return {theirs: state[ours].detach().clone() for ours, theirs in patcher_name_pairs(p)}


def expected_hf_names(c: BLTConfig, p: ByteTransformerConfig | None) -> set[str]:
    """Every tensor name a port checkpoint of this config holds (to report unexpected extras)."""
    names = {theirs for _, theirs in blt_name_pairs(c)} | {HASH_KEY}
    if p is not None:
        names |= {theirs for _, theirs in patcher_name_pairs(p)}
    return names
