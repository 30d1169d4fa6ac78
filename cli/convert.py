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
    from bytepatch.cli._entropy_model import load_model

    if _is_entropy_model_dir(src):
        _entropy_to_hf(src, out)
        return
    from bytepatch.models.hf.convert import run_dir_to_hf
    from bytepatch.models.train import load_checkpoint

    model, _, meta = load_checkpoint(src)
    if meta["model_type"] != "blt":
        raise click.ClickException(f"{src} holds a {meta['model_type']} model; only a BLT has a transformers format")
    data = meta.get("data") or {}
    patcher, info = data.get("patcher"), data.get("entropy_model")
    lm = None
    if info is not None or entropy_override is not None:
        lm = load_model(entropy_override or info["name"])
        if info is not None and lm.fingerprint != info.get("fingerprint"):
            raise click.ClickException(
                f"entropy model {entropy_override or info['name']!r} is not the one the run's "
                "data was patched with (fingerprint differs)"
            )
    if lm is not None and getattr(lm, "kind", None) != "transformer":
        click.echo(
            f"note: the run's entropy model is a {lm.kind} model, which the port cannot run; "
            "exporting without a patcher (patch_in_forward=false)",
            err=True,
        )
        lm = None
    elif patcher is not None and patcher.get("patcher") != "entropy":
        click.echo(
            f"note: the run was patched with the {patcher.get('patcher')} patcher, which the port does not "
            "have; exporting without a patcher (pass patch_lengths to the port)",
            err=True,
        )
    seq_len = ((meta.get("run") or {}).get("train") or {}).get("seq_len")
    run_dir_to_hf(src, out, lm, patcher, model, info, seq_len)


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
