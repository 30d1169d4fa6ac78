"""`bytepatch model-info`: parameters per part and FLOPs per byte of a model preset."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from bytepatch.cli._options import given


def _human(x: float, unit: str = "") -> str:
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.2f} {suffix}{unit}"
    return f"{x:.0f} {unit}".rstrip()


def _table(rows: list[tuple[str, str, str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = []
    for n, row in enumerate(rows):
        lines.append(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}")
        if n == 0 or n == len(rows) - 2:
            lines.append("-" * (sum(widths) + 4))
    return "\n".join(lines)


ROWS_NOTE = "the row length the run records, which eval packs"
WINDOW_NOTE = "its attention window: an entropy model scores each byte on at most that many before it"


def _load_config(preset: str) -> tuple[str, Any, int | None, str | None]:
    """("blt" or "baseline", the model config, its context or None, what that context is) of a
    BLT preset, a BLT config .json, a training run's config.json (or its directory), whose
    model may be either kind, or a transformer entropy model's. The context is the row length
    a run was trained with (its train.seq_len, an export's bytepatch_seq_len), an entropy
    model's attention window; None where none is recorded."""
    from bytepatch.entropy.base import other_transformers_model
    from bytepatch.models import PRESETS, BLTConfig
    from bytepatch.models.train import RunConfig
    from bytepatch.models.train.resume import is_run_dict

    if preset in PRESETS:
        return "blt", PRESETS[preset], None, None
    path = Path(preset)
    hf = _hf_config(path)
    if hf is not None:
        return hf
    if path.is_dir() and (path / "config.json").is_file():
        path = path / "config.json"  # a run directory
    if path.suffix == ".json" and path.is_file():
        try:
            data = json.loads(path.read_text())
            if (other := other_transformers_model(data)) is not None:  # not every key a BLT config lacks
                raise click.ClickException(f"{path}: {other}")
            if isinstance(data, dict) and isinstance(data.get("kind"), str):  # an entropy model's directory
                kind, cfg = _entropy_model_config(path, data)
                return kind, cfg, cfg.window, WINDOW_NOTE
            if is_run_dict(data):  # a run's config.json: its model section, and the rows it was trained on
                run = RunConfig.from_dict(data)
                return run.model_type, run.model, run.train.seq_len, ROWS_NOTE
            return "blt", BLTConfig.from_dict(data), None, None
        except (ValueError, TypeError) as exc:
            raise click.ClickException(f"{path}: not a valid BLT or run config: {exc}") from exc
    raise click.ClickException(
        f"unknown BLT preset {preset!r}; choose from {', '.join(PRESETS)}, a config .json or a run directory"
    )


def _entropy_model_config(path: Path, data: dict):
    """("baseline", its ByteTransformerConfig) of a transformer entropy model's config.json (what
    `train-entropy` writes, the model a BltPatcher directory holds); any other kind has none."""
    from bytepatch.models import ByteTransformerConfig

    if data["kind"] != "transformer":
        raise click.ClickException(
            f"{path.parent} is an {data['kind']} entropy model (counts, not a neural network): it has no "
            "parameters or FLOPs to show; model-info takes a BLT or byte-transformer model, preset or run"
        )
    try:
        return "baseline", ByteTransformerConfig.from_dict(data["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise click.ClickException(f"{path}: bad 'model' config of a transformer entropy model ({exc})") from exc


def _hf_config(path: Path):
    """("blt" or "baseline", the config, its context, what that is; as `_load_config`) of a
    `transformers` BLT or BltPatcher directory (or its config.json), else None: every command
    takes the released BLT's directory, model-info too."""
    from bytepatch.models.hf import hf_model_type
    from bytepatch.models.hf.checkpoint import read_config
    from bytepatch.models.hf.config_map import (
        PATCHER_MODEL_TYPE,
        blt_config_from_hf,
        patcher_config_from_hf,
        recorded_seq_len,
    )

    directory = path.parent if path.name == "config.json" and path.is_file() else path
    kind = hf_model_type(directory)
    if kind is None:
        return None
    where = str(directory / "config.json")
    try:
        cfg = read_config(directory)
        if kind == PATCHER_MODEL_TYPE:  # a BltPatcher alone: the byte transformer it is
            patcher = patcher_config_from_hf(cfg, where)
            return "baseline", patcher, patcher.window, WINDOW_NOTE
        return "blt", blt_config_from_hf(cfg, where), recorded_seq_len(cfg, where), ROWS_NOTE
    except ValueError as exc:  # a port setting bytepatch cannot compute, named
        raise click.ClickException(str(exc)) from exc


def _fixed_patch_size(path: Path) -> float | None:
    """The patch size a model's own patching fixes, when it does: a run or an export
    patched with the stride patcher (its stride), a transformers BLT without a patcher (one
    byte per patch, as the port reads it). None when it varies with the text, or is unknown."""
    from bytepatch.models.hf import hf_model_type
    from bytepatch.models.train import CHECKPOINT_FILE

    directory = path.parent if path.name == "config.json" else path
    try:
        if hf_model_type(directory) is not None:
            from bytepatch.models.hf.checkpoint import read_config
            from bytepatch.models.hf.config_map import recorded_patching

            cfg = read_config(directory)
            recorded = recorded_patching(cfg, str(directory / "config.json"))
            if recorded is None:
                return None if cfg.get("patch_in_forward", True) else 1.0  # the port's default is a patcher
            patcher = recorded[0]
        elif (directory / CHECKPOINT_FILE).is_file():
            from bytepatch.models.train.checkpoint import read_checkpoint

            patcher = read_checkpoint(directory, settings_only=True)["extra"]["data"]["patcher"]
        else:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # the config itself is read (and its problems said) by _load_config
    if isinstance(patcher, dict) and patcher.get("patcher") == "stride" and patcher.get("stride"):
        return float(patcher["stride"])
    return None


@click.command("model-info")
@click.argument("preset")
@click.option("--patch-size", type=float, default=4.5, show_default=True, help="Mean patch size in bytes.")
@click.option(
    "--seq-len",
    type=int,
    default=8192,
    help="Context length in bytes [default: 8192; a run's own row length, an entropy model's attention window].",
)
@click.option("--baseline", is_flag=True, help="PRESET names a byte-level transformer preset (baseline / entropy LM).")
def model_info(preset: str, patch_size: float, seq_len: int, baseline: bool) -> None:
    """Print parameters per part and forward FLOPs per byte of PRESET.

    PRESET is a BLT preset (tiny, small, 400m, 1b, 7b), a BLT config saved as
    JSON, a training run (its directory or config.json, BLT or baseline), a
    transformer entropy model (`train-entropy`'s directory), or a
    `transformers` BLT (or BltPatcher) directory such as the released blt-1b-hf;
    with --baseline, a byte-level transformer preset (tiny, small, base,
    entropy-paper). FLOPs follow the BLT paper's accounting: the global model
    runs once per patch, so its share shrinks as --patch-size grows.

    Examples:

        bytepatch model-info 1b --patch-size 6

        bytepatch model-info entropy-paper --baseline
    """
    if not (math.isfinite(patch_size) and patch_size >= 1):  # nan compares False both ways
        raise click.ClickException(f"--patch-size must be a finite number >= 1 byte, got {patch_size}")
    if seq_len < 1:
        raise click.ClickException(f"--seq-len must be >= 1, got {seq_len}")
    from bytepatch.models import (
        TRANSFORMER_PRESETS,
        blt_flops_per_byte,
        blt_param_counts,
        transformer_flops_per_byte,
        transformer_param_counts,
    )

    if baseline and preset not in TRANSFORMER_PRESETS:
        raise click.ClickException(
            f"unknown transformer preset {preset!r}; choose from {', '.join(TRANSFORMER_PRESETS)}"
        )
    kind, cfg, run_seq_len, what = (
        ("baseline", TRANSFORMER_PRESETS[preset], None, None) if baseline else _load_config(preset)
    )
    ctx = click.get_current_context()
    patch_size_given = given(ctx, "patch_size")
    context = f"context {seq_len} bytes"
    if run_seq_len is not None and not given(ctx, "seq_len"):  # the model's own, not the option's default
        seq_len, context = run_seq_len, f"context {run_seq_len} bytes ({what})"
    if kind == "baseline" and patch_size_given:  # it would change nothing
        raise click.ClickException(
            f"--patch-size applies to a BLT; {preset!r} is a byte transformer, which has no patches: drop it"
        )
    if kind == "baseline":
        click.echo(f"byte transformer {preset!r}: {cfg.n_layers} layers, dim {cfg.dim}, window {cfg.window}, {context}")
        params, flops = transformer_param_counts(cfg), transformer_flops_per_byte(cfg, seq_len)
    else:
        fixed = None if baseline else _fixed_patch_size(Path(preset))
        why = ""
        if fixed is not None and not patch_size_given:
            patch_size, why = fixed, " (its patching's, fixed)"
        click.echo(f"BLT {preset!r}: mean patch size {patch_size:g} bytes{why}, {context}")
        params, flops = blt_param_counts(cfg), blt_flops_per_byte(cfg, patch_size, seq_len)
    rows = [("part", "parameters", "FLOPs/byte (fwd)")]
    for part, n in params.items():
        rows.append((part, f"{n:,}", _human(flops[part], "FLOP") if part in flops else "0 (lookup)"))
    click.echo(_table(rows))
    embeddings = params["byte embedding"] + params.get("hash n-gram embeddings", 0)
    click.echo(f"non-embedding parameters: {params['total'] - embeddings:,} ({_human(params['total'] - embeddings)})")
    click.echo(f"training FLOPs/byte (3x forward): {_human(3 * flops['total'], 'FLOP')}")
