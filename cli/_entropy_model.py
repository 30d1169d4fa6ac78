"""Resolve `--entropy-model NAME_OR_PATH` for CLI commands, for every kind.

Core kinds (n-gram, the shipped default) load through `bytepatch.entropy.registry`;
a "transformer" directory loads through `bytepatch.models.entropy_lm`, imported only
then, so commands using the n-gram model never import torch. Failures become
`click.ClickException` with the path and the reason.
"""

from __future__ import annotations

import importlib

import click

from bytepatch.entropy.base import EntropyModel
from bytepatch.entropy.registry import CORE_KINDS, load_entropy_model, model_kind, resolve_model_path

TRANSFORMER_MODULE = "bytepatch.models.entropy_lm"


def load_model(name_or_path: str, device: str = "cpu") -> EntropyModel:
    """The entropy model named on the command line, or a ClickException saying why not.

    `device` ("cpu", "cuda", "auto") places transformer models; n-gram models run on
    the CPU whatever it says (their kernels are CPU code).
    """
    try:
        kind = model_kind(name_or_path)
        if kind in CORE_KINDS:
            return load_entropy_model(name_or_path)
        if kind == "transformer":
            return _load_transformer(str(resolve_model_path(name_or_path)), device)
        return load_entropy_model(name_or_path)  # raises the registry's "unknown kind" error
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot load entropy model {name_or_path!r}: {exc}") from exc


def _load_transformer(path: str, device: str) -> EntropyModel:
    try:
        module = importlib.import_module(TRANSFORMER_MODULE)
    except ModuleNotFoundError as exc:
        raise click.ClickException(
            f"entropy model {path!r} is a transformer, but {TRANSFORMER_MODULE} is not available ({exc})"
        ) from exc
    return module.load(path, device=device)


def load_shared(name_or_path: str, device: str = "cpu"):
    """The named model as a `SharedModel` (pickles as a reference: workers reload it by
    path and fingerprint), or a ClickException saying why it cannot be loaded."""
    from bytepatch.entropy.source import open_entropy_model

    try:
        return open_entropy_model(name_or_path, device)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot load entropy model {name_or_path!r}: {exc}") from exc
