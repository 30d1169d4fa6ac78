"""`bytepatch convert`: `transformers` BLT checkpoints <-> bytepatch run and entropy-model directories."""

from __future__ import annotations

import click

TARGETS = ("hf", "bytepatch")


@click.command("convert")
@click.argument("src", type=click.Path(exists=True, file_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="New directory to write.")
@click.option(
    "--to",
    "target",
    type=click.Choice(TARGETS),
    default=None,
    help="Target format.  [default: the other one: hf for bytepatch input, bytepatch for hf input]",
)
@click.option(
    "--entropy-model",
    "-m",
    default=None,
    help="Entropy model of a bytepatch run to export as the port's patcher, if it moved since training.",
)
def convert(src: str, output: str, target: str | None, entropy_model: str | None) -> None:
    """Convert SRC between the `transformers` BLT format and bytepatch's own.

    SRC is one of: a `transformers` BLT directory (`BltForCausalLM.save_pretrained`:
    config.json + safetensors, sharded or not), a `BltPatcher` directory, a run
    directory of `bytepatch train`, or a transformer entropy-model directory. A `transformers` BLT becomes a run directory that
    `eval`, `generate` and `train --init` read, with its patcher as OUTPUT/entropy_model.
    A bytepatch BLT must use the reference-compatible settings
    (decoder_alignment=reference, cross_attn_residual=reference, cross-attention
    heads = local heads, ...); any other setting is refused by name.
    `transformers` itself is not needed.

    Examples:

    \b
        bytepatch convert blt-1b-hf -o runs/blt-1b
        bytepatch convert runs/finetuned -o finetuned-hf --to hf
        bytepatch convert blt-1b-hf -o blt-entropy --to bytepatch   # a BltPatcher dir gives an entropy model
    """
    from pathlib import Path

    from bytepatch.models.hf import UnsupportedSetting, hf_model_type

    kind = hf_model_type(src)
    source = "hf" if kind is not None else "bytepatch"
    target = target or ("bytepatch" if source == "hf" else "hf")
    out = Path(output)
    try:
        if source == target:
            raise click.ClickException(f"{src} is already in the {target} format")
        if source == "hf":
            if entropy_model is not None:  # the directory carries its own patcher (or none)
                raise click.ClickException(
                    f"{src} is a transformers directory: --entropy-model picks the entropy model of a bytepatch "
                    "run to export; drop --entropy-model"
                )
            _from_hf(src, out, kind)
        else:
            _to_hf(src, out, entropy_model)
    except UnsupportedSetting as exc:
        raise click.ClickException(str(exc)) from exc
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot convert {src!r}: {exc}") from exc
    click.echo(f"wrote {out} ({target})", err=True)


def _from_hf(src: str, out, kind: str) -> None:
    from bytepatch.models.hf.convert import hf_to_run_dir, patcher_to_entropy_dir

    if kind == "blt_patcher":
        patcher_to_entropy_dir(src, out)
    else:
        hf_to_run_dir(src, out)


def _to_hf(src: str, out, entropy_override: str | None) -> None:
    if _is_entropy_model_dir(src):
        if entropy_override is not None:
            raise click.ClickException(
                f"{src} is an entropy model, the one exported: --entropy-model picks the entropy model of a "
                "bytepatch run to export; drop --entropy-model"
            )
        _entropy_to_hf(src, out)
        return
    from bytepatch.models.hf.config_map import check_exportable
    from bytepatch.models.hf.convert import run_dir_to_hf
    from bytepatch.models.train import load_checkpoint

    model, _, meta = load_checkpoint(src)
    if meta["model_type"] != "blt":
        raise click.ClickException(f"{src} holds a {meta['model_type']} model; only a BLT has a transformers format")
    check_exportable(model.config)  # a model the port cannot compute is refused before its entropy model is sought
    data = meta.get("data") or {}
    patcher, info = data.get("patcher"), data.get("entropy_model")
    lm = _exported_entropy_model(meta, entropy_override)
    if lm is not None and getattr(lm, "kind", None) != "transformer":
        unusable, lm = lm.kind, None
    else:
        unusable = info.get("kind") if info is not None and lm is None else None
    note = None
    if unusable is not None:
        ignored = " (--entropy-model is not used)" if entropy_override is not None else ""
        note = (
            f"note: the run's entropy model is {'an n-gram' if unusable == 'ngram' else f'a {unusable}'} model, "
            "which the port cannot run; exported without a patcher (patch_in_forward=false: pass "
            f"patch_lengths to the port, e.g. those `bytepatch segment` stores){ignored}"
        )
    elif patcher is not None and patcher.get("patcher") != "entropy":
        note = (
            f"note: the run was patched with the {patcher.get('patcher')} patcher, which the port does not "
            "have; exported without a patcher (pass patch_lengths to the port)"
        )
    seq_len = ((meta.get("run") or {}).get("train") or {}).get("seq_len")
    run_dir_to_hf(src, out, lm, patcher, model, info, seq_len)
    if note is not None:  # once written: a refusal (a busy --output, a setting of the run's) comes alone
        click.echo(note, err=True)


def _exported_entropy_model(meta: dict, override: str | None):
    """The run's entropy model when it may become the port's patcher, else None.

    A core-kind (n-gram) model is never exported, so it is not loaded: its record is
    kept and the model itself need not exist any more. Any other kind is loaded (the
    caller checks it is a transformer). The transformer is looked for where
    `eval` looks (its recorded name, the run directory, `--entropy-model`) and checked
    by fingerprint; when it is nowhere, the error names the recorded path and the option.
    """
    from bytepatch.cli._entropy_model import find_recorded_entropy_model, run_places
    from bytepatch.entropy.ref import EntropyModelRef
    from bytepatch.entropy.registry import CORE_KINDS

    data = meta.get("data") or {}
    try:
        ref = EntropyModelRef.from_json(data.get("entropy_model"))
    except ValueError as exc:
        raise click.ClickException(f"checkpoint {meta['path']}: {exc}") from exc
    if ref is None:
        if override is not None:
            raise click.ClickException("the run's data was patched without an entropy model; drop --entropy-model")
        return None
    if ref.kind in CORE_KINDS or (data.get("patcher") or {}).get("patcher") != "entropy":
        return None
    return find_recorded_entropy_model(ref, override, near=run_places(meta))


def _is_entropy_model_dir(src: str) -> bool:
    """Whether SRC is an entropy-model directory, told by its config.json (a string 'kind').

    Not by the absence of checkpoint.pt: `train-entropy` keeps one beside the model for --resume.
    """
    from bytepatch.entropy.base import read_model_config

    try:
        read_model_config(src)
    except (OSError, ValueError):
        return False
    return True


def _entropy_to_hf(src: str, out) -> None:
    from bytepatch.cli._entropy_model import load_model
    from bytepatch.models.hf.convert import entropy_dir_to_patcher

    lm = load_model(src)
    if getattr(lm, "kind", None) != "transformer":
        raise click.ClickException(f"{src} is a {lm.kind} entropy model; only a transformer maps onto BltPatcher")
    entropy_dir_to_patcher(lm, out)
