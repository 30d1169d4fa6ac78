"""Directory conversions behind `bytepatch convert`, and an HF directory seen as a bytepatch checkpoint.

- `transformers` BLT directory -> bytepatch run directory (`checkpoint.pt` + `config.json`,
  what `bytepatch train` writes; step 0, no optimizer state) with the patcher as a
  bytepatch transformer entropy model in `DIR/entropy_model/`;
- bytepatch run directory (a BLT trained with the reference-compatible settings) ->
  `transformers` directory, its entropy model (a transformer) becoming the port's patcher;
- a `BltPatcher` directory <-> a bytepatch transformer entropy-model directory.

`checkpoint_view` gives `eval`, `generate` and `train --init` the same
(model, config, metadata) triple for a `transformers` directory as
`bytepatch.models.train.load_checkpoint` gives for a run directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from bytepatch.entropy.registry import TRANSFORMERS_KIND
from bytepatch.models.blt.model import BLT
from bytepatch.models.blt.config import BLTConfig
from bytepatch.models.entropy_lm import TransformerEntropyModel
from bytepatch.models.hf import config_map
from bytepatch.models.hf.checkpoint import HFCheckpoint, hf_model_type, load_blt, load_patcher, save_blt, save_patcher
from bytepatch.models.train.checkpoint import CHECKPOINT_FILE, CONFIG_FILE, KIND, VERSION
from bytepatch.models.train.config import RunConfig, TrainConfig
from bytepatch.models.train.state import atomic_write_text, save_state
from bytepatch.patchers import patcher_from_dict

ENTROPY_DIR = "entropy_model"


def checkpoint_view(path: str | Path, device: str | torch.device = "cpu") -> tuple[BLT, BLTConfig, dict[str, Any]]:
    """(model in eval mode on `device`, config, metadata) of a `transformers` BLT directory.

    metadata mirrors a training checkpoint's: model_type "blt", step 0, and data with
    the port's patcher settings and its entropy model (named by this directory, which
    `--entropy-model` accepts too).
    """
    ckpt = load_blt(path)
    return ckpt.model.to(device).eval(), ckpt.model.config, _metadata(ckpt, str(Path(path)), TRANSFORMERS_KIND)


def _metadata(ckpt: HFCheckpoint, entropy_name: str, entropy_kind: str) -> dict[str, Any]:
    lm = ckpt.entropy_model
    info = ckpt.entropy_ref  # a patcher-less bytepatch export: the model its data was patched with
    if lm is not None:
        info = {"name": entropy_name, "kind": entropy_kind, "fingerprint": lm.fingerprint, "precision": "fp32"}
    fingerprint = None if info is None else info["fingerprint"]
    patcher = patcher_from_dict(ckpt.patcher).to_dict()  # every setting spelled out, as a dataset records it
    return {
        "model_type": "blt",
        "step": 0,
        "path": str(ckpt.path),
        # a bytepatch export's row length, else the trainer's default (the port records none)
        "run": RunConfig("blt", ckpt.model.config, _train_config(ckpt.seq_len)).to_dict(),
        "data": {
            "datasets": [],
            "eval_datasets": [],
            "patcher": patcher,
            "entropy_model": info,
            "entropy_model_fingerprint": fingerprint,
            # what a dataset must have been patched with to be evaluated or fine-tuned on (the port's own patching)
            "signature": {"patcher": patcher, "entropy_model_fingerprint": fingerprint},
            # why it patches so, for error messages (a port directory without a patcher), else None
            "patching_note": ckpt.note,
        },
        "counters": {"train_flops": 0.0, "train_bytes": 0, "train_rows": 0},
        "metrics": {"held_out_bits_per_byte": None, "loss": None},
        "converted_from": str(ckpt.path),
    }


def _train_config(seq_len: int | None) -> TrainConfig:
    return TrainConfig() if seq_len is None else TrainConfig(seq_len=seq_len)


def hf_to_run_dir(src: str | Path, out: str | Path) -> Path:
    """Write a `transformers` BLT directory as a bytepatch run directory; returns `out`."""
    ckpt = load_blt(src)
    out = Path(out)
    _new_dir(out)
    entropy_name = None
    if ckpt.entropy_model is not None:
        ckpt.entropy_model.save(out / ENTROPY_DIR)
        entropy_name = str((out / ENTROPY_DIR).resolve())
    meta = _metadata(ckpt, entropy_name or "", "transformer")
    extra = {
        "kind": KIND,
        "version": VERSION,
        "world_size": 1,
        "loader": [],
        **{k: v for k, v in meta.items() if k not in ("model_type", "path")},
    }
    # checkpoint.pt last, as the trainer writes it: a conversion stopped before it leaves no run to read
    # (written first, it made a run without its config.json look complete: eval read it)
    atomic_write_text(out / CONFIG_FILE, _json(meta["run"]))
    save_state(out / CHECKPOINT_FILE, ckpt.model, None, extra)
    return out


def run_dir_to_hf(
    src: str | Path,
    out: str | Path,
    entropy_model: TransformerEntropyModel | None,
    patcher: dict[str, Any] | None,
    model: BLT,
    recorded_entropy_model: dict[str, Any] | None = None,
    seq_len: int | None = None,
) -> Path:
    """Write a loaded bytepatch BLT (and its transformer entropy model) as a `transformers` directory.

    Without the port's patcher (space or stride patches, an n-gram entropy model), the run's
    patcher settings and `recorded_entropy_model` are kept in config.json (PATCHING_KEY);
    `seq_len`, the run's row length, is kept too (SEQ_LEN_KEY), so `eval` packs the same rows.
    """
    spec = patcher if patcher is not None and patcher.get("patcher") == "entropy" and entropy_model else None
    patching = None
    if spec is None and patcher is not None:
        patching = config_map.patching_record(patcher, recorded_entropy_model)
    save_blt(
        model, out, entropy_model=entropy_model if spec else None, patcher=spec, patching=patching, seq_len=seq_len
    )
    return Path(out)


def patcher_to_entropy_dir(src: str | Path, out: str | Path) -> Path:
    """A `BltPatcher` (or a BLT directory's patcher) as a bytepatch transformer entropy-model directory."""
    lm = load_patcher(src)
    out = Path(out)
    _new_dir(out)
    lm.save(out)
    return out


def entropy_dir_to_patcher(lm: TransformerEntropyModel, out: str | Path) -> Path:
    save_patcher(lm, out)
    return Path(out)


def _new_dir(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ValueError(f"{path}: exists and is not an empty directory; choose a new output directory")
    path.mkdir(parents=True, exist_ok=True)


def _json(data: dict[str, Any]) -> str:
    import json

    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def is_hf_dir(path: str | Path) -> bool:
    """True for a `transformers` BLT or BltPatcher directory."""
    return os.path.isdir(path) and hf_model_type(path) is not None
