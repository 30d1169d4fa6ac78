"""BLT / baseline training checkpoints: what `bytepatch train` writes and `eval` / `generate` load.

Format (`DIR/checkpoint.pt`, written atomically by `bytepatch.models.train.state.save_state`,
read with `torch.load(weights_only=True)`: tensors and plain containers only, no pickled code):

    {"format": 1,
     "model": state_dict (of the bare model, never the DDP wrapper),
     "optimizer": AdamW state_dict,
     "rng": {"python", "numpy", "torch", "cuda"?},         # rank 0's generators
     "extra": {
        "kind": "bytepatch-train", "version": 1,
        "run": {"model_type": "blt"|"baseline", "model": {...config...}, "train": {...}},
        "step": int, "world_size": int,
        "loader": [state of rank 0, rank 1, ...],           # models.data.PackedLoader.state_dict()
        "data": {"datasets": [absolute paths], "eval_datasets": [absolute paths],
                 "eval_content": [{"path", ...content signature...}],  # of the held-out datasets
                 "patcher": {...dataset metadata "patcher"...},      # PatcherSpec.to_dict()
                 "entropy_model": {"name", "kind", "fingerprint", "precision"} | None,  # EntropyModelRef
                 "signature": {"patcher", "entropy_model_fingerprint"},  # DataSignature.to_dict()
                 "content": [{"path", ...content signature...}]},
        "counters": {"train_flops": float, "train_bytes": int, "train_rows": int},
        "metrics": {"held_out_bits_per_byte": float | None, "loss": float | None}}}

`DIR/config.json` repeats `extra["run"]` in readable form (and is a valid
`--config`). Loading for inference:

    model, config, metadata = load_checkpoint("runs/blt")     # DIR or DIR/checkpoint.pt
    model(ids, patch_lengths)                                 # eval mode, on CPU unless device=...
    metadata["model_type"], metadata["data"]["patcher"], metadata["data"]["entropy_model"]
    PatcherSpec.from_dict(metadata["data"]["patcher"])                  # typed, as eval and generate read them
    EntropyModelRef.from_json(metadata["data"]["entropy_model"])

Trade-off: one file with the optimizer inside is twice the size of the weights
alone, but makes every checkpoint resumable; inference simply ignores the optimizer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bytepatch.models.blt.model import BLT
from bytepatch.models.blt.config import BLTConfig
from bytepatch.models.train.state import CHECKPOINT_FORMAT, safe_torch_load
from bytepatch.models.train.config import RunConfig
from bytepatch.models.nn.transformer import ByteTransformer, ByteTransformerConfig

CHECKPOINT_FILE = "checkpoint.pt"
CONFIG_FILE = "config.json"
LOG_FILE = "log.jsonl"
KIND = "bytepatch-train"
VERSION = 1


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return " ".join(lines[:2])[:300] or type(exc).__name__


def check_finite(model: torch.nn.Module, file: Path) -> None:
    """Refuse weights holding NaN or infinity: every output would be NaN (and a NaN is not JSON)."""
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"{file}: weight {name!r} holds NaN or infinite values; the checkpoint is unusable")


def build_model(run: RunConfig) -> BLT | ByteTransformer:
    """A freshly initialised model for the run (uses the global torch RNG)."""
    return BLT(run.model) if run.model_type == "blt" else ByteTransformer(run.model)


def checkpoint_path(path: str | Path) -> Path:
    """`DIR/checkpoint.pt` for a run directory, the path itself for a file."""
    path = Path(path)
    return path / CHECKPOINT_FILE if path.is_dir() else path


def read_checkpoint(path: str | Path, settings_only: bool = False) -> dict[str, Any]:
    """The raw checkpoint dict, validated to be a bytepatch training checkpoint.

    `settings_only`: for its plain entries (`extra`) alone, before a trainer reads it in
    full: the tensors are memory-mapped, not read, and the checksums are left to that full
    read (an entropy-paper checkpoint is about a gigabyte)."""
    file = checkpoint_path(path)
    ckpt = safe_torch_load(file, what="checkpoint", unchecked_mmap=settings_only)
    extra = ckpt.get("extra") if isinstance(ckpt, dict) else None
    if not isinstance(extra, dict) or ckpt.get("format") != CHECKPOINT_FORMAT or extra.get("kind") != KIND:
        raise ValueError(f"{file}: not a bytepatch train checkpoint (written by `bytepatch train`)")
    if extra.get("version") != VERSION:
        raise ValueError(f"{file}: checkpoint version {extra.get('version')} is not supported (expected {VERSION})")
    return ckpt


def written_by(extra: dict[str, Any]) -> str:
    """The command whose run wrote a checkpoint ("train" or "train-entropy"): both share this
    format, and train-entropy's data section records its raw-document corpus, not a dataset signature."""
    data = extra.get("data")
    return "train-entropy" if isinstance(data, dict) and "corpus" in data and "signature" not in data else "train"


def other_trainers_run(out: str | Path, extra: dict[str, Any], command: str) -> str | None:
    """What to say when `command` ("train" or "train-entropy") is asked to resume the checkpoint
    (its `extra`) of run directory `out` that the other one wrote; None when it is its own."""
    if written_by(extra) == command:
        return None
    if command == "train":
        return (
            f"{Path(out) / CHECKPOINT_FILE}: an entropy LM's training checkpoint (train-entropy), not a BLT or baseline "
            f"run's; continue it with `bytepatch train-entropy INPUT... -o {out} --resume`, or train in another directory"
        )
    return (
        f"{Path(out) / CHECKPOINT_FILE}: a BLT or baseline training run's checkpoint (train), not an entropy LM's; "
        f"continue it with `bytepatch train DATASET... -o {out} --resume`, or train the entropy LM in another directory"
    )


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[BLT | ByteTransformer, BLTConfig | ByteTransformerConfig, dict[str, Any]]:
    """(model in eval mode on `device`, its model config, metadata) from a run directory or checkpoint file.

    metadata: model_type, step, run (the full run config dict), data (datasets,
    patcher, entropy_model), counters, metrics — everything of `extra` but the loader state.
    A `transformers` BLT directory is read too (`bytepatch.models.hf`), as a step-0 checkpoint.
    """
    from bytepatch.models.hf.convert import checkpoint_view, is_hf_dir  # lazy: hf builds on this module

    if is_hf_dir(path):
        return checkpoint_view(path, device)
    if Path(path).is_dir() and not (Path(path) / CHECKPOINT_FILE).exists() and (Path(path) / "config.json").is_file():
        from bytepatch.entropy.base import other_transformers_model
        from bytepatch.models.hf.checkpoint import read_config

        cfg = read_config(path)  # a config.json that is not JSON (a damaged transformers directory?) says so
        if (other := other_transformers_model(cfg)) is not None:  # not "checkpoint.pt: no such file"
            raise ValueError(f"{Path(path) / 'config.json'}: {other}")
        if isinstance(cfg.get("kind"), str):  # fit-entropy's or train-entropy's model: say so, not "no such file"
            raise ValueError(
                f"{path}: an entropy model ({cfg['kind']}, written by fit-entropy or train-entropy), not a training "
                f"run: it has no {CHECKPOINT_FILE}; it patches corpora (`bytepatch segment ... --entropy-model "
                f"{path}`), `bytepatch eval-entropy` scores it"
            )
    if (
        Path(path).is_dir()
        and not (Path(path) / CHECKPOINT_FILE).exists()
        and not (Path(path) / "config.json").exists()
    ):
        from bytepatch.models.hf.checkpoint import incomplete_weights

        # transformers weights without the config.json an export writes last: say so, not "no checkpoint.pt"
        if (found := incomplete_weights(path)) is not None:
            raise ValueError(
                f"{path}: holds {found} but no config.json: not a complete transformers directory (an export "
                "interrupted before its last file, or an incomplete copy); export or copy it again"
            )
    ckpt = read_checkpoint(path)
    extra = ckpt["extra"]
    file = checkpoint_path(path)
    try:
        run = RunConfig.from_dict(extra["run"])
        model = build_model(run)
        model.load_state_dict(ckpt["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # RuntimeError: missing keys, wrong shapes
        raise ValueError(f"{file}: weights do not fit the recorded model config ({_first_line(exc)})") from exc
    check_finite(model, file)
    model.to(device).eval()
    metadata = {k: v for k, v in extra.items() if k not in ("loader", "kind", "version")}
    metadata["model_type"] = run.model_type
    metadata["path"] = str(checkpoint_path(path))
    return model, run.model, metadata
