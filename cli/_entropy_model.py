"""The one place the CLI resolves an entropy model, for every command and every kind.

- `resolve_entropy_model(NAME_OR_PATH, device)`: the model a user names with
  `--entropy-model` (segment, inspect, calibrate, eval-entropy, train-entropy), as a
  `SharedModel`: loaded here, pickled as a reference, so worker processes load their
  own copy. `load_model` is the same, unwrapped, for in-process use.
- `recorded_entropy_model(ref, override, device)`: the model a dataset or checkpoint
  recorded (eval, generate), loaded by its recorded name or by `--entropy-model`,
  checked by fingerprint, and run at the recorded precision.

Which code loads which kind (n-gram in the core; "transformer" through
`bytepatch.models.entropy_lm`, imported only then, so n-gram commands never import
torch) is decided in one table, `bytepatch.entropy.source.PLUGIN_LOADERS`; a new kind
or a new kind of directory is one more case there or in `resolve_entropy_model`.
Failures become `click.ClickException` naming the model and the reason.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from bytepatch.cli.errors import user_errors
from bytepatch.entropy.base import CONFIG_FILE, EntropyModel
from bytepatch.entropy.ref import EntropyModelRef
from bytepatch.entropy.registry import DEFAULT_NAMES
from bytepatch.entropy.source import SharedModel, open_entropy_model


def resolve_entropy_model(name_or_path: str, device: str = "cpu") -> SharedModel:
    """`--entropy-model NAME_OR_PATH` (a packaged name or a model directory), loaded.

    `device` ("cpu", "cuda", "auto") places transformer models; n-gram models run on
    the CPU whatever it says (their kernels are CPU code).
    """
    with user_errors(f"cannot load entropy model {name_or_path!r}: "):
        try:
            return open_entropy_model(name_or_path, device)
        except FileNotFoundError:
            path = Path(name_or_path)
            if path.is_dir() and not (path / CONFIG_FILE).exists() and (path / "checkpoint.pt").is_file():
                # A train-entropy run stopped before it wrote its model (`train` writes its
                # config.json first): 'has no config.json' alone left the user to guess why.
                raise click.ClickException(
                    f"cannot load entropy model {name_or_path!r}: it has no config.json yet: it holds the "
                    "checkpoint.pt of an unfinished train-entropy run; finish it with `bytepatch train-entropy "
                    f"INPUT... -o {name_or_path} --resume`, which writes the model"
                ) from None
            raise
        except ValueError:
            if (what := _training_run(name_or_path)) is not None:
                raise click.ClickException(
                    f"cannot load entropy model {name_or_path!r}: it is the directory of a `bytepatch train` "
                    f"run ({what}), not an entropy model; --entropy-model takes a directory written by "
                    f"fit-entropy or train-entropy, or a name ({', '.join(DEFAULT_NAMES)}); eval, generate and "
                    "convert take the run"
                ) from None
            raise


def _training_run(name_or_path: str) -> str | None:
    """What checkpoint a training run's directory holds ("a BLT checkpoint"), None if it is no run's.

    Asked only once the load failed: a run's config.json has no 'kind', and the core could only
    say that field is missing. Told by the config's keys as `train` and `model-info` tell it.
    """
    from bytepatch.models.train.resume import is_run_config

    config = Path(name_or_path) / CONFIG_FILE
    if not is_run_config(config):
        return None
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type", "blt")
    except (OSError, ValueError):  # damaged beside the run's checkpoint: still the run's
        model_type = None
    return {"blt": "a BLT checkpoint", "baseline": "a byte-baseline checkpoint"}.get(model_type, "a checkpoint")


def load_model(name_or_path: str, device: str = "cpu") -> EntropyModel:
    """`resolve_entropy_model`, unwrapped: the model object itself (settings such as
    `autocast` set on it apply to it)."""
    return resolve_entropy_model(name_or_path, device).model


def recorded_entropy_model(
    ref: EntropyModelRef | None,
    override: str | None,
    device: Any = None,
    near: Sequence[str | Path] = (),
    note: str | None = None,
):
    """The entropy model a dataset or checkpoint recorded, checked by fingerprint (None if none).

    `override` (`--entropy-model`) names where the model is now, if it moved; refused when
    nothing was recorded, saying why (`note`: the checkpoint's `patching_note`, if any). A
    transformer entropy model runs at the recorded precision: bf16 autocast needs CUDA,
    so a bf16-patched dataset read without a GPU is scored in fp32, with a warning that a
    byte whose entropy sits at the threshold may start a patch differently.
    """
    if ref is None:
        if override is not None:
            why = f" ({note})" if note else ""
            raise click.ClickException(f"this checkpoint's patcher uses no entropy model{why}; drop --entropy-model")
        return None
    import torch

    dev = torch.device(device) if device is not None else torch.device("cpu")
    name, model = _find_recorded(ref, override, dev.type, near)
    if hasattr(model, "autocast"):  # transformer: match the precision the patches were computed in
        from bytepatch.models.entropy_lm.model import autocast_dtype

        run_on = getattr(model, "device", dev)
        precision = ref.precision
        if precision == "bf16" and run_on.type != "cuda":
            click.echo(
                f"warning: the training data was patched with {name!r} in bf16 on CUDA; without a GPU it "
                "runs in fp32 here, so patch boundaries may differ slightly",
                err=True,
            )
            precision = "fp32"
        model.autocast = autocast_dtype(run_on, precision)
    return model


def find_recorded_entropy_model(
    ref: EntropyModelRef, override: str | None, device: str = "cpu", near: Sequence[str | Path] = ()
) -> EntropyModel:
    """The recorded entropy model as stored, found as `recorded_entropy_model` finds it (checked by
    fingerprint), with no precision set: for a command that copies the model instead of running it."""
    return _find_recorded(ref, override, device, near)[1]


COPIED_NAME = "entropy_model"  # a copy of the entropy model inside a run directory


def run_places(meta: dict) -> list[Path]:
    """Where a checkpoint's relative entropy-model name may resolve: its run directory and
    the directories of the datasets it was trained on (and their parents)."""
    places = [Path(meta["path"]).resolve().parent] if meta.get("path") else []
    for d in (meta.get("data") or {}).get("datasets") or []:
        places += [Path(d).resolve(), Path(d).resolve().parent]
    return list(dict.fromkeys(places))


def _find_recorded(ref: EntropyModelRef, override: str | None, device: str, near: Sequence[str | Path]):
    """(name, model) of the recorded entropy model, checked by fingerprint.

    A run records the model by the name given to `segment` (often a relative path), so
    from another working directory that name may not resolve. Tried in order: the
    override; the recorded name; the name relative to each directory in `near` (the run
    directory, its datasets); a copy named `entropy_model` in those directories. The
    first that loads with the recorded fingerprint wins.
    """
    if override is not None:
        candidates = [override]
    else:
        candidates = [ref.name]
        if not Path(ref.name).is_absolute():
            candidates += [str(Path(base) / ref.name) for base in near]
        candidates += [str(Path(base) / COPIED_NAME) for base in near]
    tried: list[str] = []
    for name in dict.fromkeys(candidates):
        if name != ref.name and name != override and not Path(name).exists():
            continue
        try:
            model = load_model(name, device=device)
        except click.ClickException as exc:
            tried.append(f"{name} ({exc.message})")
            continue
        if model.fingerprint == ref.fingerprint:
            return name, model
        tried.append(f"{name} (fingerprint {model.fingerprint[:16]}..., not {ref.fingerprint[:16]}...)")
    raise click.ClickException(
        f"cannot find the entropy model the checkpoint was trained with ({ref.name!r}, fingerprint "
        f"{ref.fingerprint[:16]}...); tried: {'; '.join(tried) or ref.name}. Pass --entropy-model with its "
        f"directory, or copy it into the run directory as {COPIED_NAME}/"
    )
