"""`bytepatch model-info`: parameters per part and FLOPs per byte of a model preset."""

from __future__ import annotations

import json
from pathlib import Path

import click


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


def _load_blt_config(preset: str):
    from bytepatch.models import PRESETS, BLTConfig

    if preset in PRESETS:
        return PRESETS[preset]
    path = Path(preset)
    if path.suffix == ".json" and path.is_file():
        try:
            return BLTConfig.from_dict(json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise click.ClickException(f"{path}: not a valid BLT config: {exc}") from exc
    raise click.ClickException(f"unknown BLT preset {preset!r}; choose from {', '.join(PRESETS)} or a config .json")


@click.command("model-info")
@click.argument("preset")
@click.option("--patch-size", type=float, default=4.5, show_default=True, help="Mean patch size in bytes.")
@click.option("--seq-len", type=int, default=8192, show_default=True, help="Context length in bytes.")
@click.option("--baseline", is_flag=True, help="PRESET names a byte-level transformer preset (baseline / entropy LM).")
def model_info(preset: str, patch_size: float, seq_len: int, baseline: bool) -> None:
    """Print parameters per part and forward FLOPs per byte of PRESET.

    PRESET is a BLT preset (tiny, small, 400m, 1b) or a BLT config saved as
    JSON; with --baseline, a byte-level transformer preset (tiny, small, base,
    entropy-paper). FLOPs follow the BLT paper's accounting: the global model
    runs once per patch, so its share shrinks as --patch-size grows.

    Examples:

        bytepatch model-info 1b --patch-size 6

        bytepatch model-info entropy-paper --baseline
    """
    if patch_size < 1:
        raise click.ClickException(f"--patch-size must be >= 1 byte, got {patch_size}")
    if seq_len < 1:
        raise click.ClickException(f"--seq-len must be >= 1, got {seq_len}")
    from bytepatch.models import (
        TRANSFORMER_PRESETS,
        blt_flops_per_byte,
        blt_param_counts,
        transformer_flops_per_byte,
        transformer_param_counts,
    )

    if baseline:
        if preset not in TRANSFORMER_PRESETS:
            raise click.ClickException(
                f"unknown transformer preset {preset!r}; choose from {', '.join(TRANSFORMER_PRESETS)}"
            )
        tcfg = TRANSFORMER_PRESETS[preset]
        click.echo(f"byte transformer {preset!r}: {tcfg.n_layers} layers, dim {tcfg.dim}, window {tcfg.window}")
        params, flops = transformer_param_counts(tcfg), transformer_flops_per_byte(tcfg, seq_len)
    else:
        cfg = _load_blt_config(preset)
        click.echo(f"BLT {preset!r}: mean patch size {patch_size:g} bytes, context {seq_len} bytes")
        params, flops = blt_param_counts(cfg), blt_flops_per_byte(cfg, patch_size, seq_len)
    rows = [("part", "parameters", "FLOPs/byte (fwd)")]
    for part, n in params.items():
        rows.append((part, f"{n:,}", _human(flops[part], "FLOP") if part in flops else "0 (lookup)"))
    click.echo(_table(rows))
    embeddings = params["byte embedding"] + params.get("hash n-gram embeddings", 0)
    click.echo(f"non-embedding parameters: {params['total'] - embeddings:,} ({_human(params['total'] - embeddings)})")
    click.echo(f"training FLOPs/byte (3x forward): {_human(3 * flops['total'], 'FLOP')}")
