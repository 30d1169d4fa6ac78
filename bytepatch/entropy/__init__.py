"""Entropy models for entropy patching (docs/design.md §2, §4): interface, n-gram model, calibration.

Core library: never imports torch, `bytepatch.models` or `bytepatch.cli`. The
transformer entropy LM implements the same `EntropyModel` protocol in `bytepatch.models`.
"""

from bytepatch.entropy.base import EntropyModel, read_model_config, score
from bytepatch.entropy.calibrate import Calibration, calibrate_threshold, mean_patch_size
from bytepatch.entropy.ngram import NgramConfig, NgramCounter, NgramModel
from bytepatch.entropy.registry import DEFAULT_MODEL_DIR, load_entropy_model

__all__ = [
    "DEFAULT_MODEL_DIR",
    "Calibration",
    "EntropyModel",
    "NgramConfig",
    "NgramCounter",
    "NgramModel",
    "calibrate_threshold",
    "load_entropy_model",
    "mean_patch_size",
    "read_model_config",
    "score",
]
