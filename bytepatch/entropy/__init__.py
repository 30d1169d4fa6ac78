"""Entropy models for entropy patching (docs/design.md §2, §4): interface, n-gram model, calibration.

Core library: never imports torch, `bytepatch.models` or `bytepatch.cli`. The
transformer entropy LM implements the same `EntropyModel` protocol in `bytepatch.models`.
"""

import importlib

from bytepatch.entropy.base import EntropyModel, read_model_config, score

# Lazy (PEP 562): the n-gram model and calibration load Numba (~0.5 s), which code that
# only needs `bytepatch.entropy.ref` or the protocol (a space run) should not pay.
_HOMES = {
    "Calibration": "calibrate",
    "calibrate_threshold": "calibrate",
    "mean_patch_size": "calibrate",
    "NgramConfig": "ngram",
    "NgramCounter": "ngram",
    "NgramModel": "ngram",
    "DEFAULT_MODEL_DIR": "registry",
    "load_entropy_model": "registry",
}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f"bytepatch.entropy.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'bytepatch.entropy' has no attribute {name!r}")


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
