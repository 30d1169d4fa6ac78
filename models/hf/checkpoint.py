"""Read and write `transformers` BLT checkpoint directories without `transformers`.

A directory is what `BltForCausalLM.save_pretrained` writes: `config.json`
(model_type "blt") plus `model.safetensors`, or shards listed by
`model.safetensors.index.json`. The patcher (the entropy model) lives in the same
tensors under `model.patcher.` when `patch_in_forward` is set; a patcher saved on
its own (`BltPatcher.save_pretrained`, model_type "blt_patcher") is read too.

    ckpt = load_blt("blt-1b-hf")          # HFCheckpoint: .model (BLT), .entropy_model, .patcher
    lm = load_patcher("blt-1b-hf")        # TransformerEntropyModel, default threshold = the port's
    save_blt(model, "out", entropy_model=lm, patcher=spec)   # BltForCausalLM.from_pretrained("out") loads it

Weights are loaded in float32 whatever their stored dtype (bytepatch's models run
in float32 and autocast); they are written in float32.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bytepatch.models.blt.model import BLT
from bytepatch.models.blt.config import BLTConfig
from bytepatch.models.entropy_lm import TransformerEntropyModel
from bytepatch.models.errors import UnsupportedSetting
from bytepatch.models.hf import config_map, weights
from bytepatch.models.hf.safetensors_io import load_file, read_header, save_file
from bytepatch.models.nn.transformer import ByteTransformer
from bytepatch.patchers import REFERENCE_THRESHOLD

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"


@dataclass
class HFCheckpoint:
    """A `transformers` BLT directory read into bytepatch objects."""

    model: BLT  # in eval mode, float32, on the CPU
    entropy_model: TransformerEntropyModel | None  # the port's patcher, when the directory has one
    patcher: dict[str, Any]  # bytepatch patcher settings of the port's own patching (threshold, max length)
    path: Path
    # Without the port's patcher: the entropy model (record) a bytepatch export says its data was
    # patched with (`patcher` then holds that run's patcher settings); None otherwise.
    entropy_ref: dict[str, Any] | None = None
    seq_len: int | None = None  # the bytepatch run's row length a bytepatch export records (eval's default)
    # Why the checkpoint patches as it does, when that is not obvious (config_map.PER_BYTE_NOTE); shown in errors.
    note: str | None = None


def hf_model_type(path: str | Path) -> str | None:
    """ "blt" or "blt_patcher" when `path` is a `transformers` BLT directory, else None (never raises)."""
    try:
        if not (Path(path) / CONFIG_FILE).is_file():  # a FIFO there would block the open for ever
            return None
        with open(Path(path) / CONFIG_FILE, encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(cfg, dict) or "model" in cfg or "kind" in cfg:  # a bytepatch run or entropy-model config
        return None
    kind = cfg.get("model_type")
    return kind if kind in (config_map.MODEL_TYPE, config_map.PATCHER_MODEL_TYPE) else None


def incomplete_weights(path: str | Path) -> str | None:
    """The name of a safetensors weight file (or its index, or `save_file`'s temporary) in `path`, else None."""
    for name in (WEIGHTS_FILE, INDEX_FILE, WEIGHTS_FILE + ".tmp"):
        if (Path(path) / name).exists():
            return name
    shards = sorted(p.name for p in Path(path).glob("*.safetensors"))
    return shards[0] if shards else None


def read_config(path: str | Path) -> dict[str, Any]:
    where = Path(path) / CONFIG_FILE
    try:
        with open(where, encoding="utf-8") as f:
            cfg = json.load(f)
    except FileNotFoundError as exc:
        raise ValueError(f"{path}: no {CONFIG_FILE} (not a transformers checkpoint directory)") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    if not isinstance(cfg, dict):
        raise ValueError(f"{where}: expected a JSON object")
    return cfg


def _weight_map(index: Path) -> dict[str, str]:
    """The index's tensor name -> shard file name."""
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise TypeError("weight_map")
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{index}: not a safetensors index (needs a 'weight_map' object)") from exc
    return weight_map


def weight_files(path: str | Path) -> list[Path]:
    """The safetensors files of a directory: one file, or the shards its index names (in order)."""
    path = Path(path)
    single, index = path / WEIGHTS_FILE, path / INDEX_FILE
    if single.exists():
        return [single]
    if index.exists():
        shards = sorted(set(_weight_map(index).values()))
        files = []
        for name in shards:
            if not isinstance(name, str) or Path(name).name != name:
                raise ValueError(f"{index}: shard name {name!r} must be a plain file name in the directory")
            if not (path / name).exists():
                raise ValueError(f"{index}: shard {name} is missing")
            files.append(path / name)
        return files
    if (path / "pytorch_model.bin").exists():
        raise ValueError(f"{path}: only safetensors weights are read; re-save with safe_serialization=True")
    raise ValueError(f"{path}: no {WEIGHTS_FILE} or {INDEX_FILE}")


def read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of the directory, float32 (integer tensors kept as stored)."""
    out: dict[str, torch.Tensor] = {}
    found: dict[str, str] = {}  # tensor name -> the file holding it
    files = weight_files(path)
    for file in files:
        for name, t in load_file(file).items():
            if name in out:
                raise ValueError(f"{file}: tensor {name!r} appears in two shards")
            out[name] = t.float() if t.is_floating_point() else t
            found[name] = file.name
    _check_index(path, files, found)
    return out


def _check_index(path: str | Path, files: list[Path], found: dict[str, str]) -> None:
    """Refuse a shard without a tensor the index lists there; `found`: tensor name -> file holding it.

    A shard replaced by another file (another save's, an empty one) is said here, naming both, not
    later as a tensor the model misses (or, for the patcher's tensors, as a checkpoint without a patcher).
    """
    if files[0].name == WEIGHTS_FILE:
        return
    index = Path(path) / INDEX_FILE
    for name, shard in _weight_map(index).items():
        if found.get(name) != shard:
            raise ValueError(f"{index}: lists tensor {name!r} in {shard}, which does not hold it")


def _check_extras(hf: dict[str, torch.Tensor], expected: set[str], where: Path) -> None:
    extra = sorted(set(hf) - expected)
    if extra:
        more = f" (and {len(extra) - 3} more)" if len(extra) > 3 else ""
        raise ValueError(f"{where}: unexpected tensors {', '.join(extra[:3])}{more}: the config does not describe them")


def _load_into(module: torch.nn.Module, state: dict[str, torch.Tensor], where: Path) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{where}: weights do not match the config ({exc})") from exc


def _entropy_model(
    cfg: dict[str, Any], hf: dict[str, torch.Tensor], where: Path, prefix: str, threshold: float, **options: Any
) -> TransformerEntropyModel:
    pconf = config_map.patcher_config_from_hf(cfg, f"{where}: patcher_config")
    if pconf.window is None:  # said here, naming the file and key: the entropy model's own error named neither
        raise UnsupportedSetting(
            f"{where}: patcher_config: sliding_window=null (the port's patcher then attends to the whole text; "
            "bytepatch's entropy model needs a window, which bounds the bytes each entropy depends on)"
        )
    net = ByteTransformer(pconf)
    _load_into(net, weights.patcher_state_from_hf(hf, pconf, str(where), prefix), where)
    training = {"source": "transformers", "path": str(where.parent)}
    return TransformerEntropyModel(net.eval(), threshold, training, **options)


def load_blt(path: str | Path, **entropy_options: Any) -> HFCheckpoint:
    """Read a `BltForCausalLM` directory; `entropy_options` go to the entropy model (device, precision)."""
    path = Path(path)
    cfg = read_config(path)
    where = path / CONFIG_FILE
    config = config_map.blt_config_from_hf(cfg, str(where))
    spec = config_map.patcher_spec_from_hf(cfg, str(where))
    hf = read_tensors(path)
    has_patcher = any(name.startswith(weights.PATCHER_PREFIX) for name in hf)
    config_map.check_port_patching(cfg, str(where), has_patcher)
    pconf, pcfg = None, config_map.sub_config(cfg, "patcher_config", str(where))
    if has_patcher:
        pconf = config_map.patcher_config_from_hf(pcfg, f"{where}: patcher_config")
    _check_extras(hf, weights.expected_hf_names(config, pconf), path)
    model = BLT(config)
    tied = config_map.tied_embeddings(cfg, str(where))
    _load_into(model, weights.blt_state_from_hf(hf, config, str(path), tied), path)
    entropy, ref, note = None, None, None
    if has_patcher:
        entropy = _entropy_model(pcfg, hf, where, weights.PATCHER_PREFIX, spec["threshold"], **entropy_options)
    else:
        recorded = config_map.recorded_patching(cfg, str(where))
        if recorded is not None:
            spec, ref = recorded
        else:  # patch_in_forward=false (check_port_patching): the port patches one byte per patch
            spec, note = dict(config_map.PER_BYTE_PATCHER), config_map.PER_BYTE_NOTE
    seq_len = config_map.recorded_seq_len(cfg, str(where))
    return HFCheckpoint(model.eval(), entropy, spec, path, ref, seq_len, note)


def load_patcher(path: str | Path, **options: Any) -> TransformerEntropyModel:
    """The entropy model of a `BltForCausalLM` directory (its patcher) or of a `BltPatcher` directory.

    Its default threshold is the directory's `patching_threshold` (a patcher saved
    alone by the port carries none: the paper's 1.335442066192627 nats then;
    `save_patcher` writes the entropy model's own).
    """
    path = Path(path)
    cfg = read_config(path)
    where = path / CONFIG_FILE
    kind = cfg.get("model_type")
    if kind == config_map.PATCHER_MODEL_TYPE:
        hf = read_tensors(path)
        pconf = config_map.patcher_config_from_hf(cfg, str(where))
        _check_extras(hf, {t for _, t in weights.patcher_name_pairs(pconf, "")}, path)
        return _entropy_model(cfg, hf, where, "", _alone_threshold(cfg, where), **options)
    if kind != config_map.MODEL_TYPE:
        raise ValueError(f"{where}: model_type {kind!r} is neither 'blt' nor 'blt_patcher'")
    spec = config_map.patcher_spec_from_hf(cfg, str(where))
    files = weight_files(path)
    found = {name: file.name for file in files for name in read_header(file)[0]}  # headers only
    _check_index(path, files, found)
    names = {n for n in found if n.startswith(weights.PATCHER_PREFIX)}
    if not names:
        why = "patch_in_forward is off" if not cfg.get("patch_in_forward", True) else "though patch_in_forward is on"
        raise ValueError(f"{path}: this BLT checkpoint has no patcher weights ({why})")
    hf = {}
    for file in files:
        hf.update({k: v.float() for k, v in load_file(file, names).items()})
    pcfg = config_map.sub_config(cfg, "patcher_config", str(where))
    return _entropy_model(pcfg, hf, where, weights.PATCHER_PREFIX, spec["threshold"], **options)


def _alone_threshold(cfg: dict[str, Any], where: Path) -> float:
    """Default threshold of a BltPatcher saved alone: the `patching_threshold` that `save_patcher`
    writes (the port keeps such an extra key through save_pretrained), else the paper's."""
    value = cfg.get("patching_threshold")
    if value is None:
        return REFERENCE_THRESHOLD
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where}: patching_threshold must be a finite number, got {value!r}")
    return float(value)


def _prepare_dir(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ValueError(f"{path}: exists and is not an empty directory; choose a new output directory")
    path.mkdir(parents=True, exist_ok=True)


def save_blt(
    model: BLT,
    path: str | Path,
    entropy_model: TransformerEntropyModel | None = None,
    patcher: dict[str, Any] | None = None,
    patching: dict[str, Any] | None = None,
    seq_len: int | None = None,
) -> None:
    """Write `model` (and its entropy model as the port's patcher) to a new directory.

    `patching` (`config_map.patching_record`), for an export without the port's patcher,
    records how the run's data was patched, and `seq_len` the run's row length; `load_blt`
    reads both back.

    Raises `UnsupportedSetting` naming the first setting with no `transformers`
    equivalent (see `config_map.EXPORT_REFUSALS`). The weights are written first,
    config.json last: a directory without config.json is an interrupted export.
    """
    path = Path(path)
    pconf = entropy_model.config if entropy_model is not None else None
    cfg = config_map.hf_config_from_blt(model.config, pconf, patcher)
    if patching is not None and entropy_model is None:
        cfg[config_map.PATCHING_KEY] = patching
    if seq_len is not None:
        cfg[config_map.SEQ_LEN_KEY] = int(seq_len)
    _prepare_dir(path)
    tensors = weights.hf_state_from_blt(model.state_dict(), model.config)
    if entropy_model is not None:
        tensors.update(weights.hf_state_from_patcher(entropy_model.model.state_dict(), entropy_model.config))
    save_file({k: v.float() for k, v in tensors.items()}, path / WEIGHTS_FILE)
    _write_json(path / CONFIG_FILE, cfg)


def save_patcher(entropy_model: TransformerEntropyModel, path: str | Path) -> None:
    """Write an entropy model as a `BltPatcher` directory (`BltPatcher.from_pretrained` loads it)."""
    path = Path(path)
    cfg = config_map.hf_patcher_config(entropy_model.config)
    _prepare_dir(path)
    state = entropy_model.model.state_dict()
    tensors = {t: state[o].detach().float().clone() for o, t in weights.patcher_name_pairs(entropy_model.config, "")}
    save_file(tensors, path / WEIGHTS_FILE)
    # The port's BltPatcherConfig has no threshold; without this key a calibrated entropy model
    # came back from its BltPatcher with the paper's 1.335 nats, and patched differently.
    # An uncalibrated one (default_threshold None: calibration failed) has none to keep.
    extra: dict[str, Any] = {"architectures": ["BltPatcher"]}
    if entropy_model.default_threshold is not None:
        extra["patching_threshold"] = float(entropy_model.default_threshold)
    _write_json(path / CONFIG_FILE, {**cfg, **extra})


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def blt_config_of(path: str | Path) -> BLTConfig:
    """The bytepatch config of a `transformers` BLT directory (reads config.json only)."""
    return config_map.blt_config_from_hf(read_config(path), str(Path(path) / CONFIG_FILE))
