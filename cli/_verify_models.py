"""`bytepatch verify` for training runs and entropy models (these need bytepatch.models)."""

from __future__ import annotations

from pathlib import Path


def verify_model_dir(path: Path) -> str:
    """Verify an entropy-model directory fully (load checks its fingerprint / checksums)."""
    from bytepatch.entropy.base import read_model_config

    if (path / "config.json").exists():
        kind = read_model_config(path).get("kind")
        if kind == "ngram":
            from bytepatch.entropy.ngram import NgramModel

            NgramModel.load(path)  # refuses weights that do not match the recorded fingerprint
            return "n-gram entropy model, weights match their fingerprint"
    raise ValueError(f"{path}: not a dataset (no {'manifest.json'}), training run or entropy model")
