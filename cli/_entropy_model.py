"""The one place the CLI resolves an entropy model, for every command and every kind.

Two questions, two functions:

- `resolve_entropy_model(NAME_OR_PATH, device)`: the model a user names with
  `--entropy-model` (segment, inspect, calibrate, eval-entropy), loaded, with the record
  a dataset stores and a loader for worker processes.
- `recorded_entropy_model(ref, override, device)`: the model a dataset or checkpoint
  recorded (train, eval, generate), loaded by its name or by `--entropy-model`,
  checked by fingerprint, and run at the recorded precision.

Both go through `load_model`, which dispatches on the directory's kind: core kinds
(n-gram, the shipped default) load through `bytepatch.entropy.registry`; a
"transformer" directory loads through `bytepatch.models.entropy_lm`, imported only
then, so commands using the n-gram model never import torch. A new kind is one more
branch there. Failures become `click.ClickException` with the path and the reason.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

import click

from bytepatch.entropy.base import EntropyModel
from bytepatch.entropy.ref import EntropyModelRef, EntropyModelSource
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


def resolve_entropy_model(name_or_path: str, device: str = "cpu") -> EntropyModelSource:
    """`--entropy-model NAME_OR_PATH` loaded, with its record and a picklable loader for workers."""
    model = load_model(name_or_path, device)
    ref = EntropyModelRef.of(model, name_or_path, path=str(resolve_model_path(name_or_path)))
    return EntropyModelSource(ref, functools.partial(load_model, name_or_path, device), model)


def recorded_entropy_model(ref: EntropyModelRef | None, override: str | None, device: Any = None):
    """The entropy model a dataset or checkpoint recorded, checked by fingerprint (None if none).

    `override` (`--entropy-model`) names where the model is now, if it moved. A
    transformer entropy model runs at the recorded precision: bf16 autocast needs CUDA,
    so a bf16-patched dataset read without a GPU is scored in fp32, with a warning that a
    byte whose entropy sits at the threshold may start a patch differently.
    """
    if ref is None:
        if override is not None:
            raise click.ClickException("this checkpoint's patcher uses no entropy model; drop --entropy-model")
        return None
    import torch

    dev = torch.device(device) if device is not None else torch.device("cpu")
    name = override or ref.name
    model = load_model(name, device=dev.type)
    if model.fingerprint != ref.fingerprint:
        raise click.ClickException(
            f"entropy model {name!r} has fingerprint {model.fingerprint}, but the checkpoint was trained on "
            f"patches from {ref.fingerprint}; pass --entropy-model with that model"
        )
    if hasattr(model, "autocast"):  # transformer: match the precision the patches were computed in
        from bytepatch.models.entropy_lm.model import autocast_dtype

        run_on = getattr(model, "device", dev)
        precision = ref.precision
        if precision == "bf16" and run_on.type != "cuda":
            click.echo(f"warning: the training data was patched with {name!r} in bf16 on CUDA; without a GPU it "
                       "runs in fp32 here, so patch boundaries may differ slightly", err=True)  # fmt: skip
            precision = "fp32"
        model.autocast = autocast_dtype(run_on, precision)
    return model


def _load_transformer(path: str, device: str) -> EntropyModel:
    try:
        module = importlib.import_module(TRANSFORMER_MODULE)
    except ModuleNotFoundError as exc:
        raise click.ClickException(
            f"entropy model {path!r} is a transformer, but {TRANSFORMER_MODULE} is not available ({exc})"
        ) from exc
    return module.load(path, device=device)
