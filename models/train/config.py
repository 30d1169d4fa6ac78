"""What a training run is: the model kind and its config, plus the trainer's settings.

Model args stay separate from trainer args (torchtitan style): `RunConfig` holds a
`BLTConfig` or `ByteTransformerConfig` unchanged, next to a `TrainConfig` for the
loop. Both are frozen dataclasses that reject unknown keys, so a typo in a config
file or a `key=value` override fails loudly instead of being silently dropped.

On disk (`DIR/config.json`, also accepted by `bytepatch train --config`):

    {"model_type": "blt", "model": {...BLTConfig.to_dict()...}, "train": {...TrainConfig...},
     "data": {"patcher": {"patcher": "entropy", "threshold": 1.33, ...},      # optional: pins the data
              "entropy_model_fingerprint": "transformer-..."}}

The optional `data` section is the signature a fresh run expects of its datasets
(the patcher's settings as a dataset's metadata records them, and the entropy
model's fingerprint, null for patchers without one); without it the first dataset
sets it. A dataset patched otherwise is refused by a BLT run (the baseline reads no patches:
its datasets are never compared).

Overrides: `encoder.dim=64` or `latent.n_layers=4` (BLT, dotted into the parts),
`n_layers=4` (baseline), `train.warmup_steps=10` (trainer). Values are parsed as
JSON (`null`, `true`, `[3, 4]`, numbers) and fall back to the raw string; every
field's type is then checked (`models.field_types`): `train.steps=1.5` is an error.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from bytepatch.models.blt.config import BLTConfig
from bytepatch.models.blt.presets import PRESETS
from bytepatch.models.field_types import check_field_types
from bytepatch.dataset.metadata import DataSignature
from bytepatch.entropy.base import other_transformers_model
from bytepatch.models.nn.transformer import TRANSFORMER_PRESETS, ByteTransformerConfig
from bytepatch.strict import check_keys
from bytepatch.strict import from_dict as strict_from_dict

MODEL_TYPES = ("blt", "baseline")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000  # optimizer steps in total (the cosine schedule ends here)
    batch_size: int = 8  # rows per step and rank (global batch = batch_size x world size)
    seq_len: int = 1024  # ids per row, BOS/EOS included; several documents are packed per row
    lr: float = 1e-3  # peak learning rate; small models tolerate more than the paper's 4e-4
    warmup_steps: int | None = None  # None: 5% of steps, at least 1
    min_lr_ratio: float = 0.1  # cosine floor as a fraction of lr
    weight_decay: float = 0.1  # AdamW decay on matrices and embeddings, not on norm gains
    beta1: float = 0.9
    beta2: float = 0.95  # paper / Llama value; 0.999 reacts too slowly at small batch sizes
    grad_clip: float = 1.0  # max global gradient norm
    seed: int = 0  # model init and data order
    eval_fraction: float = 0.05  # documents held out by id hash when no eval dataset is given
    eval_every: int = 100  # steps between held-out evaluations (and after the last step)
    eval_batches: int | None = 50  # cap on held-out batches per evaluation (None: all of them)
    log_every: int = 10  # steps between progress lines / log records
    save_every: int = 100  # steps between checkpoints (and after the last step)
    device: str = "auto"  # "cpu", "cuda" or "auto" (cuda when available)
    prefetch: int = 4  # batches the loader thread packs ahead (0: no thread)
    parallel: str = "ddp"  # under torchrun: "ddp" (replicate) or "fsdp" (FSDP2: shard params, grads, optimizer)
    compile: bool = False  # torch.compile the model for the training step
    activation_checkpointing: bool = False  # recompute each transformer block in backward (memory for compute)

    def __post_init__(self) -> None:
        check_field_types(self, "train.")  # first: the checks below compare numbers
        for name in ("steps", "batch_size", "eval_every", "log_every", "save_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.seq_len < 2:
            raise ValueError(f"train.seq_len must be >= 2, got {self.seq_len}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"train.lr must be a positive finite number, got {self.lr}")
        # A negative clip norm flips every gradient (training climbs the loss) and 0 zeroes them
        # (nothing learns, silently): both are refused, as are the other out-of-range knobs.
        if not (self.grad_clip > 0 and math.isfinite(self.grad_clip)):
            raise ValueError(f"train.grad_clip must be a positive finite number, got {self.grad_clip}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise ValueError(f"train.weight_decay must be a finite number >= 0, got {self.weight_decay}")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be in [0, 1), got {getattr(self, name)}")
        if self.warmup_steps is not None and self.warmup_steps < 0:
            raise ValueError(f"train.warmup_steps must be >= 0 or null, got {self.warmup_steps}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"train.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if not 0 <= self.eval_fraction < 1:
            raise ValueError(f"train.eval_fraction must be in [0, 1), got {self.eval_fraction}")
        if self.eval_batches is not None and self.eval_batches < 1:
            raise ValueError(f"train.eval_batches must be >= 1 or null (all batches), got {self.eval_batches}")
        if not 0 <= self.seed < 2**63:  # torch and numpy seed generators take this range
            raise ValueError(f"train.seed must be in [0, 2**63), got {self.seed}")
        if self.prefetch < 0:
            raise ValueError(f"train.prefetch must be >= 0, got {self.prefetch}")
        if self.device not in ("cpu", "cuda", "auto"):
            raise ValueError(f"train.device must be cpu, cuda or auto, got {self.device!r}")
        if self.parallel not in ("ddp", "fsdp"):
            raise ValueError(f"train.parallel must be ddp or fsdp, got {self.parallel!r}")

    @property
    def warmup(self) -> int:
        return self.warmup_steps if self.warmup_steps is not None else max(1, self.steps // 20)


# Settings a run may change when it resumes. All but `steps` leave what the next steps compute
# unchanged. `steps` moves the end of the cosine schedule, so from the resumed step on the
# learning rate differs from the uninterrupted run's (extending a run is the point); the
# warmup is pinned to the checkpoint's (the trainer writes it into train.warmup_steps when it
# was derived from steps), so a resumed run never re-enters or shortens its warmup.
RESUMABLE_CHANGES = frozenset(
    {
        "steps",
        "device",
        "log_every",
        "eval_every",
        "eval_batches",
        "save_every",
        "prefetch",
        "compile",
        "activation_checkpointing",
    }
)


def check_data_section(data: Any) -> dict[str, Any] | None:
    """Validate the optional `data` section of a run config (a `DataSignature`); returns it
    normalized, every patcher setting spelled out (or None)."""
    return None if data is None else DataSignature.from_dict(data, "run config data").to_dict()


@dataclass(frozen=True)
class RunConfig:
    model_type: str  # "blt" or "baseline" (ByteTransformer)
    model: BLTConfig | ByteTransformerConfig
    train: TrainConfig
    data: dict[str, Any] | None = field(default=None, compare=True, hash=False)  # pins the datasets' signature

    def __post_init__(self) -> None:
        if self.model_type not in MODEL_TYPES:
            raise ValueError(f"model type must be one of {MODEL_TYPES}, got {self.model_type!r}")
        want = BLTConfig if self.model_type == "blt" else ByteTransformerConfig
        if not isinstance(self.model, want):
            raise ValueError(f"model type {self.model_type!r} needs a {want.__name__}, got {type(self.model).__name__}")
        object.__setattr__(self, "data", check_data_section(self.data))

    def to_dict(self) -> dict[str, Any]:
        d = {"model_type": self.model_type, "model": self.model.to_dict(), "train": asdict(self.train)}
        if self.data is not None:
            d["data"] = self.data
        return json.loads(json.dumps(d))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        check_keys(d, ("model_type", "model", "train", "data"), "run config", required=("model",))
        model_type = d.get("model_type", "blt")
        model = model_config_from_dict(model_type, d["model"])
        return cls(model_type, model, strict_from_dict(TrainConfig, d.get("train", {})), d.get("data"))


def model_config_from_dict(model_type: str, d: dict[str, Any]) -> BLTConfig | ByteTransformerConfig:
    if model_type == "blt":
        return BLTConfig.from_dict(d)
    if model_type == "baseline":
        return ByteTransformerConfig.from_dict(d)
    raise ValueError(f"model type must be one of {MODEL_TYPES}, got {model_type!r}")


def preset_config(model_type: str, preset: str) -> BLTConfig | ByteTransformerConfig:
    table: dict[str, Any] = PRESETS if model_type == "blt" else TRANSFORMER_PRESETS
    if preset not in table:
        raise ValueError(f"unknown {model_type} preset {preset!r}; choose from {', '.join(table)}")
    return table[preset]


def load_run_config(path: str | Path) -> RunConfig:
    path = Path(path)
    if path.exists() and not path.is_file():  # a FIFO would block the read for ever
        raise ValueError(f"{path}: not a regular file, so not a JSON run config; move it away")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read a JSON run config ({exc})") from exc
    if (what := _other_config(data, path)) is not None:  # not a run's: say what it is, not every unknown key
        raise ValueError(f"{path}: {what}")
    try:
        return RunConfig.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc


def _other_config(data: Any, path: Path) -> str | None:
    """What a config.json that is not a run's is, with what to do instead (None: taken as a run's,
    so its own errors name the key). An entropy model's config has a string `kind`, a
    `transformers` BLT's a `model_type` of blt or blt_patcher and no `model` section (as
    `models.hf.checkpoint.hf_model_type` tells them); both were refused listing every key."""
    if not isinstance(data, dict) or "model" in data and set(data) <= {"model_type", "model", "train", "data"}:
        return None
    if isinstance(data.get("kind"), str):
        return (
            f"an entropy model's config ({data['kind']}, written by train-entropy or fit-entropy), not a "
            "training run's; train one with train-entropy, or pass a run's config.json or --preset"
        )
    if (other := other_transformers_model(data)) is not None:
        return other
    if "model" not in data and data.get("model_type") == "blt_patcher":
        return "a transformers BltPatcher's config (an entropy model), not a training run's"
    if "model" not in data and data.get("model_type") == "blt":
        return (
            f"a transformers BLT's config, not a training run's; fine-tune it with `train --init {path.parent}`, "
            f"or make a run of it with `bytepatch convert {path.parent} -o RUN`"
        )
    return None


# Spellings of non-finite floats that are not JSON (`--lr nan` arrives as "train.lr=nan"): parsed
# as the floats they name, so the type check says "must be a finite number, got nan".
NON_FINITE = {"nan": math.nan, "inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf}


def _parse_value(raw: str) -> Any:
    if raw.strip().lower() in NON_FINITE:
        return NON_FINITE[raw.strip().lower()]
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _set_path(cfg: Any, keys: list[str], value: Any, full: str) -> Any:
    """A copy of dataclass `cfg` with the field at `keys` set to `value` (re-validated by __post_init__)."""
    names = {f.name: f for f in fields(cfg)}
    if keys[0] not in names:
        raise ValueError(
            f"unknown key {full!r}: {type(cfg).__name__} has no field {keys[0]!r} (fields: {', '.join(names)})"
        )
    current = getattr(cfg, keys[0])
    if len(keys) > 1:
        if not is_dataclass(current):
            raise ValueError(f"unknown key {full!r}: {keys[0]!r} has no sub-fields")
        return replace(cfg, **{keys[0]: _set_path(current, keys[1:], value, full)})
    if is_dataclass(current):
        raise ValueError(f"key {full!r} names a section; set one of its fields, e.g. {full}.dim=64")
    return replace(cfg, **{keys[0]: value})  # the config's __post_init__ checks the type and normalises


def apply_overrides(run: RunConfig, overrides: list[str]) -> RunConfig:
    """Apply `key=value` overrides; `train.x` sets the trainer, anything else the model config."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} is not of the form key=value")
        value = _parse_value(raw)
        parts = key.split(".")
        try:
            if parts[0] == "train":
                run = replace(run, train=_set_path(run.train, parts[1:] or [""], value, key))
            else:
                run = replace(run, model=_set_path(run.model, parts, value, key))
        except TypeError as exc:
            raise ValueError(f"override {item!r}: {exc}") from exc
    return run
