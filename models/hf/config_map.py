"""Translate between a `transformers` BLT `config.json` (model_type "blt") and bytepatch configs.

Pure functions over plain dicts: nothing here needs `transformers`. Reading is
strict in the other direction too: a setting of the port that bytepatch cannot
compute exactly (grouped-query attention, another activation or RoPE scaling, a
local encoder re-pooling at every layer, ...) is refused with `UnsupportedSetting`
naming it, never approximated. Writing refuses bytepatch settings with no port
equivalent (`EXPORT_REFUSALS` documents the list; docs/models.md repeats it).

Facts about the port this relies on (transformers 5.x, `models/blt`):
- a model is always "reference" BLT: cross-attention adds its residual twice and
  byte t reads the last patch that ended at or before t (`decoder_alignment="reference"`);
- cross-attention heads = the local model's self-attention heads (head dim = width / heads);
- one `local_attention_window_len` serves encoder and decoder self-attention;
- FFN widths are explicit `intermediate_size` values (the conversion of the released
  weights rounds 8/3 * width up to a multiple of 256, the Llama rule);
- RoPE theta per part in `rope_parameters` (older files: a flat `rope_theta`); when
  absent the port's defaults apply: 5e5 for the local and global models, 1e4 for the patcher;
- the patcher ("entropy model") is a plain causal byte transformer with a sliding window;
- `tie_word_embeddings` ties the head to the local encoder's byte embedding (the patcher never ties).
"""

from __future__ import annotations

import math
from typing import Any

from bytepatch.models.blt.config import BLTConfig, GlobalConfig, LocalDecoderConfig, LocalEncoderConfig
from bytepatch.models.errors import UnsupportedSetting
from bytepatch.models.nn.layers import swiglu_hidden_dim
from bytepatch.models.nn.transformer import VOCAB_SIZE, ByteTransformerConfig
from bytepatch.patchers import REFERENCE_THRESHOLD

MODEL_TYPE = "blt"
PATCHER_MODEL_TYPE = "blt_patcher"
PART_DEFAULT_THETA = 500000.0  # the port's default_theta for its local encoder/decoder and global model
PATCHER_DEFAULT_THETA = 10000.0  # the port's patcher has no default_theta: the library default applies
PORT_DEFAULT_WINDOW = 512  # BltConfig.local_attention_window_len default (the released checkpoints' value)
PATCHER_DEFAULT_WINDOW = 512  # BltPatcherConfig.sliding_window default

# The bytepatch settings refused on export, and why (docs/models.md shows this list).
EXPORT_REFUSALS: dict[str, str] = {
    "decoder_alignment='strict'": "the port lets byte t read the patch that ends at t (only 'reference' exists there)",
    "cross_attn_residual='single'": "the port adds the cross-attention residual twice (only 'reference' exists there)",
    "cross_attn_heads != n_heads": "the port's cross-attention uses the local model's head count",
    "encoder.dim != decoder.dim": "the port feeds encoder byte states to the decoder without a projection",
    "encoder.window != decoder.window": "the port has one local_attention_window_len for both local models",
    "encoder.cross_attn_all_layers with > 1 encoder layer": "the port re-pools the patch queries at every layer",
    "vocab_size != 260": "the port's byte vocabulary is fixed",
    "entropy patcher with threshold_add (relative rule)": "the port's patcher applies the global threshold only",
}


# A config.json is data from elsewhere: every value is checked for its type here, so that a null, a
# string or a list where a number belongs is refused naming the file and the key (it ended in a
# TypeError traceback, or in a ValueError that named neither).
_MISSING = object()


def _int(d: dict[str, Any], key: str, where: str, default: Any = _MISSING, minimum: int = 1) -> Any:
    """d[key] as an integer >= minimum; `default` when absent or null (refused when there is none)."""
    value = d.get(key)
    if value is None:
        if default is _MISSING:
            raise ValueError(f"{where}: {key} is missing (an integer >= {minimum} is needed)")
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{where}: {key} must be an integer >= {minimum}, got {value!r}")
    return value


def _float(d: dict[str, Any], key: str, where: str, default: float) -> float:
    """d[key] as a finite number; `default` when absent or null."""
    value = d.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: {key} must be a finite number, got {value!r}")
    return float(value)


def _bool(d: dict[str, Any], key: str, where: str, default: bool) -> bool:
    """d[key] as a JSON boolean; `default` when absent or null."""
    value = d.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ValueError(f"{where}: {key} must be true or false, got {value!r}")
    return value


def sub_config(d: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    """d[key] as a JSON object ({} when absent or null)."""
    value = d.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{where}: {key} must be an object, got {type(value).__name__}")
    return value


def _theta(d: dict[str, Any], default: float, where: str) -> float:
    params = d.get("rope_parameters") or d.get("rope_scaling") or {}
    if not isinstance(params, dict):
        raise UnsupportedSetting(f"{where}: rope_parameters must be an object, got {params!r}")
    rope_type = params.get("rope_type", params.get("type", "default"))
    if rope_type != "default":
        raise UnsupportedSetting(f"{where}: rope_type {rope_type!r} (only 'default' RoPE is supported)")
    if params.get("rope_theta") is not None:
        return _float(params, "rope_theta", f"{where}: rope_parameters", default)
    return _float(d, "rope_theta", where, default)


def _check_part(d: dict[str, Any], where: str) -> tuple[int, int, int]:
    """(layers, width, heads) of one part after refusing what bytepatch cannot run exactly."""
    width = _int(d, "hidden_size", where)
    heads = _int(d, "num_attention_heads", where)
    layers = _int(d, "num_hidden_layers", where)
    kv = _int(d, "num_key_value_heads", where, None)
    if kv is not None and kv != heads:
        raise UnsupportedSetting(
            f"{where}: num_key_value_heads={kv} != num_attention_heads={heads} (grouped-query attention)"
        )
    act = d.get("hidden_act", "silu")
    if act != "silu":
        raise UnsupportedSetting(f"{where}: hidden_act={act!r} (bytepatch's feed-forward is SwiGLU with silu)")
    head_dim = _int(d, "head_dim", where, None)
    if head_dim is not None and head_dim != width // heads:
        raise UnsupportedSetting(f"{where}: head_dim={head_dim} != hidden_size / num_attention_heads")
    if d.get("vocab_size", VOCAB_SIZE) not in (None, VOCAB_SIZE):
        raise UnsupportedSetting(f"{where}: vocab_size={d['vocab_size']} (bytepatch's byte vocabulary is {VOCAB_SIZE})")
    return layers, width, heads


def _ffn(d: dict[str, Any], width: int, where: str) -> int | None:
    """Explicit FFN width, or None when it equals bytepatch's default rule (keeps round trips identical)."""
    size = _int(d, "intermediate_size", where, int(8 * width / 3))  # the port's fallback
    return None if size == swiglu_hidden_dim(width) else size


def _build(cls: type, where: str, **fields: Any) -> Any:
    """cls(**fields), its own validation errors (a width the heads do not divide evenly...) naming the file."""
    try:
        return cls(**fields)
    except ValueError as exc:
        raise UnsupportedSetting(f"{where}: {exc}") from None


def _eps(d: dict[str, Any], where: str) -> float:
    return _float(d, "rms_norm_eps", where, _float(d, "norm_eps", where, 1e-5))


def blt_config_from_hf(cfg: dict[str, Any], where: str = "config.json") -> BLTConfig:
    """The bytepatch `BLTConfig` computing exactly what the port computes for `cfg`."""
    if cfg.get("model_type") != MODEL_TYPE:
        raise UnsupportedSetting(f"{where}: model_type is {cfg.get('model_type')!r}, expected {MODEL_TYPE!r}")
    if cfg.get("vocab_size", VOCAB_SIZE) != VOCAB_SIZE:
        raise UnsupportedSetting(f"{where}: vocab_size={cfg.get('vocab_size')} (expected {VOCAB_SIZE})")
    tied_embeddings(cfg, where)  # a boolean; the weights mapping reads it (bytepatch keeps two equal tensors)
    enc, dec, glob = (sub_config(cfg, k, where) for k in ("encoder_config", "decoder_config", "global_config"))
    k = _int(cfg, "cross_attn_k", where, 2)
    for name, part in (("encoder_config", enc), ("decoder_config", dec)):
        if _int(part, "cross_attn_k", f"{where}: {name}", k) != k:
            raise UnsupportedSetting(f"{where}: {name}.cross_attn_k={part['cross_attn_k']} != cross_attn_k={k}")
    el, ew, eh = _check_part(enc, f"{where}: encoder_config")
    dl, dw, dh = _check_part(dec, f"{where}: decoder_config")
    gl, gw, gh = _check_part(glob, f"{where}: global_config")
    if ew != dw:
        raise UnsupportedSetting(f"{where}: encoder hidden_size {ew} != decoder hidden_size {dw}")
    if _int(dec, "hidden_size_global", f"{where}: decoder_config", gw) != gw:
        raise UnsupportedSetting(f"{where}: decoder_config.hidden_size_global != global_config.hidden_size ({gw})")
    enc_all = _bool(enc, "cross_attn_all_layers", f"{where}: encoder_config", False)
    if enc_all and el > 1:
        raise UnsupportedSetting(
            f"{where}: encoder_config.cross_attn_all_layers=true with {el} encoder layers "
            "(the port re-pools the patch queries at every layer; bytepatch and the reference carry them)"
        )
    # null means no window (full causal attention); only an absent key takes the port's default
    window = (
        _int(cfg, "local_attention_window_len", where, None)
        if "local_attention_window_len" in cfg
        else PORT_DEFAULT_WINDOW
    )
    sizes = cfg.get("encoder_hash_byte_group_size") or [3, 4, 5, 6, 7, 8]  # the port's `or`: [] is its default
    if not isinstance(sizes, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes):
        raise ValueError(f"{where}: encoder_hash_byte_group_size must be a list of positive integers, got {sizes!r}")
    n_functions = _int(cfg, "encoder_hash_byte_group_nb_functions", where, 1, minimum=0)
    if n_functions == 0:  # the port then has no hash n-gram embeddings (a table of 0 rows), bytepatch no n-grams
        sizes, n_functions = [], 1
    encoder = _build(
        LocalEncoderConfig,
        where,
        n_layers=el,
        dim=ew,
        n_heads=eh,
        rope_theta=_theta(enc, PART_DEFAULT_THETA, f"{where}: encoder_config"),
        norm_eps=_eps(enc, f"{where}: encoder_config"),
        intermediate_size=_ffn(enc, ew, f"{where}: encoder_config"),
        window=window,
        ngram_sizes=tuple(sizes),
        hash_table_size=_int(cfg, "encoder_hash_byte_group_vocab", where, 500002),
        hash_functions=n_functions,
        cross_attn_heads=eh,
        cross_attn_all_layers=enc_all,
    )
    latent = _build(
        GlobalConfig,
        where,
        n_layers=gl,
        dim=gw,
        n_heads=gh,
        rope_theta=_theta(glob, PART_DEFAULT_THETA, f"{where}: global_config"),
        norm_eps=_eps(glob, f"{where}: global_config"),
        intermediate_size=_ffn(glob, gw, f"{where}: global_config"),
    )
    decoder = _build(
        LocalDecoderConfig,
        where,
        n_layers=dl,
        dim=dw,
        n_heads=dh,
        rope_theta=_theta(dec, PART_DEFAULT_THETA, f"{where}: decoder_config"),
        norm_eps=_eps(dec, f"{where}: decoder_config"),
        intermediate_size=_ffn(dec, dw, f"{where}: decoder_config"),
        window=window,  # the port's decoder reuses the encoder's mask
        cross_attn_heads=dh,
        cross_attn_all_layers=_bool(dec, "cross_attn_all_layers", f"{where}: decoder_config", True),
    )
    return _build(
        BLTConfig,
        where,
        encoder=encoder,
        latent=latent,
        decoder=decoder,
        cross_attn_k=k,
        decoder_alignment="reference",
        cross_attn_residual="reference",
    )


def tied_embeddings(cfg: dict[str, Any], where: str) -> bool:
    """Whether the port ties its output head to the encoder's byte embedding (`tie_word_embeddings`).

    It then holds one tensor for both (`save_pretrained` writes `lm_head.weight` only); bytepatch's
    BLT has no tying, so it gets two equal copies, and an export writes them untied (same logits).
    """
    return _bool(cfg, "tie_word_embeddings", where, False)


# Extra patcher_config key (the port keeps it through save_pretrained): the exported entropy model's own
# bytepatch config. The port spells some settings otherwise (an FFN width from multiple_of or
# ffn_dim_multiplier becomes intermediate_size, tied embeddings two tensors, attn_impl nothing), and
# the entropy model's fingerprint covers its config: without the record it came back as another
# model, and the datasets it had patched no longer matched the export.
MODEL_CONFIG_KEY = "bytepatch_model"


def _computes(c: ByteTransformerConfig) -> tuple:
    """The settings that decide what a byte transformer computes, as the port's config can state them."""
    return (c.n_layers, c.dim, c.n_heads, c.window, c.vocab_size, c.rope_theta, c.norm_eps, c.ffn_hidden)


def patcher_config_from_hf(cfg: dict[str, Any], where: str = "patcher_config") -> ByteTransformerConfig:
    """The `ByteTransformerConfig` of the port's patcher (its entropy model).

    An export's MODEL_CONFIG_KEY record is returned instead when it computes the same network.
    """
    layers, width, heads = _check_part(cfg, where)
    if cfg.get("tie_word_embeddings"):
        raise UnsupportedSetting(f"{where}: tie_word_embeddings=true (the port's patcher never ties)")
    window = _int(cfg, "sliding_window", where, None) if "sliding_window" in cfg else PATCHER_DEFAULT_WINDOW
    port = _build(
        ByteTransformerConfig,
        where,
        n_layers=layers,
        dim=width,
        n_heads=heads,
        window=window,
        rope_theta=_theta(cfg, PATCHER_DEFAULT_THETA, where),
        norm_eps=_eps(cfg, where),
        intermediate_size=_ffn(cfg, width, where),
    )
    recorded = cfg.get(MODEL_CONFIG_KEY)
    if recorded is None:
        return port
    try:
        own = ByteTransformerConfig.from_dict(recorded) if isinstance(recorded, dict) else None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {MODEL_CONFIG_KEY}: {exc}") from None
    if own is None:
        raise ValueError(f"{where}: {MODEL_CONFIG_KEY} must be an object, got {type(recorded).__name__}")
    if _computes(own) != _computes(port):  # the port's settings were changed after the export
        raise ValueError(
            f"{where}: {MODEL_CONFIG_KEY} (the exported entropy model's config) describes another network than "
            "the port's settings beside it; remove the key to read the port's settings"
        )
    return own


def check_port_patching(cfg: dict[str, Any], where: str, has_patcher: bool) -> None:
    """Refuse patching settings of a BLT directory whose port patching bytepatch cannot reproduce.

    `has_patcher`: whether the weights hold the patcher's tensors (`model.patcher.*`).
    """
    in_forward = cfg.get("patch_in_forward", True)  # the port's default is a patcher
    # The port builds its patcher from patch_in_forward alone: without tensors it would run an
    # untrained one; with patch_in_forward=false it drops them and patches one byte per position.
    if in_forward and not has_patcher:
        raise ValueError(
            f"{where}: patch_in_forward is true, but the weights hold no patcher (no model.patcher.* tensors); "
            "the port would patch with an untrained one"
        )
    if not in_forward and has_patcher:
        raise UnsupportedSetting(
            f"{where}: patch_in_forward=false, but the weights hold a patcher (model.patcher.*), which the port "
            "then ignores, making every position a patch; set patch_in_forward=true to patch with it"
        )
    if in_forward and cfg.get("patching_mode", "entropy") == "entropy":
        # BltPatcher.forward given patch_size=None skips its threshold and returns all-ones lengths (every
        # position a patch, the last one open): bytepatch read the directory as entropy patching instead.
        if "patch_size" in cfg and cfg["patch_size"] is None:
            raise UnsupportedSetting(
                f"{where}: patch_size=null (the port then ignores its patcher's entropies and makes every "
                "position a patch, the last one left open; set patch_size to a number: with a "
                "patching_threshold its value is unused)"
            )


def patcher_spec_from_hf(cfg: dict[str, Any], where: str = "config.json") -> dict[str, Any]:
    """bytepatch patcher settings (`patcher_from_dict` input) of the port's own patching."""
    mode = cfg.get("patching_mode", "entropy")
    if mode != "entropy":
        raise UnsupportedSetting(f"{where}: patching_mode={mode!r} (only the port's entropy patching is read)")
    if cfg.get("patching_threshold_add") or cfg.get("monotonicity"):
        raise UnsupportedSetting(
            f"{where}: patching_threshold_add/monotonicity are set, but the port patches by the global threshold only"
        )
    if "patching_threshold" in cfg and cfg["patching_threshold"] is None and cfg.get("patch_in_forward", True):
        # the port's patcher compares entropies with it: None fails there too
        raise ValueError(f"{where}: patching_threshold is null (the patcher needs a number)")
    return {
        "patcher": "entropy",
        "threshold": _float(cfg, "patching_threshold", where, REFERENCE_THRESHOLD),
        "threshold_add": None,
        "max_patch_length": _int(cfg, "max_patch_length", where, None),
    }


# The port's BLT without a patcher (patch_in_forward=false), given no patch_lengths, makes every
# position a patch of its own (BltModel.forward: `process_patch_lengths(torch.ones(...))`). That is
# bytepatch's stride patcher with stride 1: BOS and EOS are patches of one too, as bytepatch frames them.
PER_BYTE_PATCHER: dict[str, Any] = {"patcher": "stride", "stride": 1, "max_patch_length": None}
PER_BYTE_NOTE = (
    "a transformers BLT without a patcher (patch_in_forward=false) reads one byte per patch, as the port "
    "does without patch_lengths; segment its data with --patcher stride --stride 1"
)


# Extra config.json key (the port keeps unknown keys) of an export without the port's patcher:
# how bytepatch patched the run's data (space, stride, an n-gram entropy model), so that the
# directory, and a run converted back from it, still evaluate and fine-tune on that data.
PATCHING_KEY = "bytepatch_patching"


# Extra config.json key: the bytepatch run's row length (ids per row), which `eval` packs rows to by
# default; without it a run converted to transformers and back scored other rows (and other bits per byte).
SEQ_LEN_KEY = "bytepatch_seq_len"


def recorded_seq_len(cfg: dict[str, Any], where: str) -> int | None:
    """The SEQ_LEN_KEY value (an integer >= 2), or None when absent (the port's own directories)."""
    value = cfg.get(SEQ_LEN_KEY)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise ValueError(f"{where}: {SEQ_LEN_KEY} must be an integer >= 2, got {value!r}")
    return value


def patching_record(patcher: dict[str, Any], entropy_model: dict[str, Any] | None) -> dict[str, Any]:
    """The PATCHING_KEY value: bytepatch patcher settings and the entropy-model record (or None)."""
    return {"patcher": dict(patcher), "entropy_model": None if entropy_model is None else dict(entropy_model)}


def recorded_patching(cfg: dict[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """(patcher settings, entropy-model record or None) that PATCHING_KEY records, else None."""
    from bytepatch.entropy.ref import EntropyModelRef
    from bytepatch.patchers import PatcherSpec

    record = cfg.get(PATCHING_KEY)
    if record is None:
        return None
    try:
        if not isinstance(record, dict) or set(record) != {"patcher", "entropy_model"}:
            raise ValueError("expected an object with keys patcher, entropy_model")
        spec = PatcherSpec.from_dict(record["patcher"])
        ref = EntropyModelRef.from_json(record["entropy_model"])
    except ValueError as exc:
        raise ValueError(f"{where}: {PATCHING_KEY}: {exc}") from None
    return spec.to_dict(), None if ref is None else ref.to_dict()


def _refuse(setting: str, detail: str) -> None:
    raise UnsupportedSetting(f"cannot export to transformers: {setting} ({detail}; {EXPORT_REFUSALS_HINT})")


EXPORT_REFUSALS_HINT = "see docs/models.md, 'Use the released BLT'"


def _rope(theta: float) -> dict[str, Any]:
    return {"rope_theta": float(theta), "rope_type": "default"}


def check_exportable(c: BLTConfig) -> None:
    """Raise UnsupportedSetting naming every setting of `c` the port cannot compute.

    All of them at once, with the `bytepatch train` overrides that give the two a run can
    choose (the alignment settings): naming only the first had a strict-and-single run
    retrained to fix the first, to be refused for the second.
    """
    found: list[tuple[str, str]] = []
    fixes: list[str] = []
    if c.decoder_alignment != "reference":
        found.append((f"decoder_alignment={c.decoder_alignment!r}", EXPORT_REFUSALS["decoder_alignment='strict'"]))
        fixes.append("decoder_alignment=reference")
    if c.cross_attn_residual != "reference":
        found.append(
            (f"cross_attn_residual={c.cross_attn_residual!r}", EXPORT_REFUSALS["cross_attn_residual='single'"])
        )
        fixes.append("cross_attn_residual=reference")
    for name, part in (("encoder", c.encoder), ("decoder", c.decoder)):
        if part.cross_attn_heads != part.n_heads:
            found.append(
                (
                    f"{name}.cross_attn_heads={part.cross_attn_heads} != {name}.n_heads={part.n_heads}",
                    EXPORT_REFUSALS["cross_attn_heads != n_heads"],
                )
            )
    if c.encoder.dim != c.decoder.dim:
        found.append(
            (
                f"encoder.dim={c.encoder.dim} != decoder.dim={c.decoder.dim}",
                EXPORT_REFUSALS["encoder.dim != decoder.dim"],
            )
        )
    if c.encoder.window != c.decoder.window:
        found.append(
            (
                f"encoder.window={c.encoder.window} != decoder.window={c.decoder.window}",
                EXPORT_REFUSALS["encoder.window != decoder.window"],
            )
        )
    if c.encoder.cross_attn_all_layers and c.encoder.n_layers > 1:
        found.append(
            (
                f"encoder.cross_attn_all_layers=True with {c.encoder.n_layers} encoder layers",
                EXPORT_REFUSALS["encoder.cross_attn_all_layers with > 1 encoder layer"],
            )
        )
    if c.vocab_size != VOCAB_SIZE:
        found.append((f"vocab_size={c.vocab_size}", EXPORT_REFUSALS["vocab_size != 260"]))
    if not found:
        return
    listed = "; ".join(f"{setting} ({detail})" for setting, detail in found)
    hint = f"train with {' '.join(fixes)} to export; " if fixes else ""
    raise UnsupportedSetting(f"cannot export to transformers: {listed}; {hint}{EXPORT_REFUSALS_HINT}")


def hf_config_from_blt(
    c: BLTConfig,
    patcher: ByteTransformerConfig | None = None,
    patcher_spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """config.json for `BltForCausalLM` computing exactly what `BLT(c)` computes.

    `patcher` (the entropy model's config) adds the port's patcher (`patch_in_forward`);
    `patcher_spec` (bytepatch patcher settings) gives its threshold and max patch length.
    """
    check_exportable(c)
    spec = dict(patcher_spec or {})
    if spec and spec.get("patcher") != "entropy":
        _refuse(f"patcher={spec.get('patcher')!r}", "the port patches with its entropy model only")
    if spec.get("threshold_add") is not None:
        _refuse(
            f"threshold_add={spec['threshold_add']}",
            EXPORT_REFUSALS["entropy patcher with threshold_add (relative rule)"],
        )
    if spec and spec.get("threshold") is None:
        _refuse("threshold=None", "the port's patcher needs a global threshold")
    e, g, d = c.encoder, c.latent, c.decoder

    def local(part, all_layers: bool) -> dict[str, Any]:
        return {
            "hidden_size": part.dim,
            "num_attention_heads": part.n_heads,
            "num_key_value_heads": part.n_heads,
            "num_hidden_layers": part.n_layers,
            "rms_norm_eps": part.norm_eps,
            "intermediate_size": part.ffn_hidden,
            "rope_parameters": _rope(part.rope_theta),
            "hidden_act": "silu",
            "cross_attn_all_layers": all_layers,
            "cross_attn_k": c.cross_attn_k,
            "hidden_size_global": g.dim,
            "vocab_size": VOCAB_SIZE,
        }

    out: dict[str, Any] = {
        "model_type": MODEL_TYPE,
        "architectures": ["BltForCausalLM"],
        "vocab_size": VOCAB_SIZE,
        "cross_attn_k": c.cross_attn_k,
        "local_attention_window_len": e.window,
        # no n-grams: the port reads an empty size list as its default 3..8, but zero functions as none
        "encoder_hash_byte_group_size": list(e.ngram_sizes or (3, 4, 5, 6, 7, 8)),
        "encoder_hash_byte_group_vocab": e.hash_table_size,
        "encoder_hash_byte_group_nb_functions": e.hash_functions if e.ngram_sizes else 0,
        "encoder_config": local(e, e.cross_attn_all_layers),
        "decoder_config": local(d, d.cross_attn_all_layers),
        "global_config": {
            "hidden_size": g.dim,
            "num_attention_heads": g.n_heads,
            "num_key_value_heads": g.n_heads,
            "num_hidden_layers": g.n_layers,
            "rms_norm_eps": g.norm_eps,
            "intermediate_size": g.ffn_hidden,
            "rope_parameters": _rope(g.rope_theta),
            "hidden_act": "silu",
        },
        "rope_parameters": _rope(g.rope_theta),
        "tie_word_embeddings": False,
        "patch_in_forward": patcher is not None,
        "patching_mode": "entropy",
        "patching_threshold": float(spec.get("threshold", 1.335442066192627)),
        "max_patch_length": spec.get("max_patch_length"),
        "dtype": "float32",
    }
    if patcher is not None:
        out["patcher_config"] = hf_patcher_config(patcher)
    return out


def hf_patcher_config(p: ByteTransformerConfig) -> dict[str, Any]:
    """The port's `patcher_config` for a bytepatch byte transformer."""
    if p.vocab_size != VOCAB_SIZE:
        raise UnsupportedSetting(f"cannot export the entropy model: vocab_size={p.vocab_size} (port: {VOCAB_SIZE})")
    return {
        "model_type": PATCHER_MODEL_TYPE,
        "vocab_size": VOCAB_SIZE,
        "hidden_size": p.dim,
        "num_attention_heads": p.n_heads,
        "num_key_value_heads": p.n_heads,
        "num_hidden_layers": p.n_layers,
        "rms_norm_eps": p.norm_eps,
        "intermediate_size": p.ffn_hidden,
        "rope_parameters": _rope(p.rope_theta),
        "sliding_window": p.window,
        MODEL_CONFIG_KEY: p.to_dict(),
    }
