"""`bytepatch verify` for training runs and entropy models (these need bytepatch.models)."""

from __future__ import annotations

from pathlib import Path


def verify_model_dir(path: Path) -> str:
    """Verify a training run (DIR/checkpoint.pt), an entropy-model directory, or both (what
    `train-entropy` writes) fully: SHA-256 of every tensor and value, the weights fit their
    config, all finite."""
    found = []
    if (path / "checkpoint.pt").exists():
        found.append(_verify_run(path))
    if (path / "config.json").exists() and (model := _verify_entropy_model(path)) is not None:
        found.append(model)
    if not found:
        raise ValueError(f"{path}: not a dataset (no manifest.json), training run (no checkpoint.pt) or entropy model")
    return "; ".join(found)


def _verify_run(path: Path) -> str:
    from bytepatch.models.files import CHECKSUM_KEY, safe_torch_load
    from bytepatch.models.train.checkpoint import load_checkpoint

    had_sums = _has_checksums(path / "checkpoint.pt", CHECKSUM_KEY)
    safe_torch_load(path / "checkpoint.pt", full=True, what="checkpoint")  # CRC-32 and SHA-256 of the content
    _, _, meta = load_checkpoint(path)  # the weights fit the config and are finite
    sums = "checksums match" if had_sums else "written before checksums existed (structure checked only)"
    return f"training run at step {meta.get('step')}, {sums}"


def _verify_entropy_model(path: Path) -> str | None:
    """An entropy model's check, or None when DIR/config.json is not one's (a run's config)."""
    from bytepatch.models.train import load_run_config
    from bytepatch.models.train.resume import is_run_config

    run_dir = (path / "checkpoint.pt").exists() and not (path / "model.pt").exists()
    if run_dir and is_run_config(path / "config.json"):
        load_run_config(path / "config.json")  # a run's own config.json: damaged or invalid is a fault here
        return None
    from bytepatch.entropy.base import read_model_config

    kind = read_model_config(path).get("kind")  # names what is wrong with one that is not a model's
    if kind == "ngram":
        from bytepatch.entropy.ngram import NgramModel

        NgramModel.load(path)  # refuses weights that do not match the recorded fingerprint
        return "n-gram entropy model, weights match their fingerprint"
    if kind == "transformer":
        from bytepatch.models.entropy_lm.model import WEIGHTS_FILE, load
        from bytepatch.models.files import safe_torch_load

        safe_torch_load(path / WEIGHTS_FILE, full=True)
        load(path)  # refuses weights that are not the ones its config was written with
        return "transformer entropy model, checksums match"
    return None


def _has_checksums(file: Path, key: str) -> bool:
    import torch

    try:
        obj = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # the full load below reports what is wrong
        return False
    return isinstance(obj, dict) and key in obj
