"""`bytepatch verify`: check a dataset, training run or entropy model completely."""

from __future__ import annotations

from pathlib import Path

import click

from bytepatch.dataset import MANIFEST
from bytepatch.dataset.reader import not_local
from bytepatch.inspect.escape import terminal_safe
from bytepatch.io.fs import is_uri, shown_path


@click.command("verify")
@click.argument("paths", nargs=-1, required=True, metavar="DATASET|RUN|MODEL...")
def verify(paths: tuple[str, ...]) -> None:
    """Check every byte of DATASET (a `segment` output), RUN (a `train` or
    `train-entropy` output) or MODEL (an entropy model directory, or `default`: the
    shipped model, as in `--entropy-model default`) against its recorded checksums and
    invariants. Reading already checks sizes and a fast checksum; this also checks
    SHA-256 of every file and every row. Exit 1 names the first fault.

    \b
    Examples:
      bytepatch verify out/
      bytepatch verify runs/tiny/ models/ngram/
      bytepatch verify default
    """
    for path in paths:
        try:
            if is_uri(path):  # Path() would fold "s3://" into "s3:/"
                raise ValueError(not_local(path))
            target = _directory(path)
            line = _verify_one(target) + ("" if target == Path(path) else f" (the shipped model, {target})")
        except (OSError, ValueError) as exc:  # the message names the path: shown escaped if not UTF-8
            raise click.ClickException(shown_path(str(exc))) from exc
        click.echo(f"{terminal_safe(shown_path(path))}: ok, {line}")


def _directory(path: str) -> Path:
    """The directory `path` names: itself, or the shipped entropy model for a packaged
    name (`default`, as `--entropy-model` takes it) when no such path exists here."""
    from bytepatch.entropy.registry import DEFAULT_NAMES, resolve_model_path

    if path in DEFAULT_NAMES and not Path(path).exists():
        return resolve_model_path(path)
    return Path(path)


def _verify_one(path: Path) -> str:
    if not path.exists():
        raise ValueError(f"{path}: no such directory")
    if not path.is_dir():
        raise ValueError(f"{path}: not a directory")
    if (path / MANIFEST).exists():
        from bytepatch.dataset.verify import verify_dataset

        r = verify_dataset(path)
        sums = (
            "all checksums match"
            if r.with_checksums == r.shards
            else (f"{r.shards - r.with_checksums} shard(s) written before checksums existed (rows checked only)")
        )
        return f"{r.shards} shard(s), {r.documents:,} documents, {r.bytes:,} bytes, {r.patches:,} patches; {sums}"
    if _segment_output(path):  # shards or run state, no manifest: say why, as `stats` and `inspect` do
        from bytepatch.dataset import read_manifest

        read_manifest(path)  # raises: an interrupted run, or --num-shards jobs not all finished
    from bytepatch.cli._verify_models import verify_model_dir

    return verify_model_dir(path)


def _segment_output(path: Path) -> bool:
    """Whether `path` holds what `bytepatch segment` writes before its manifest (shards, a
    job's manifest, the run state)."""
    from bytepatch.segment.layout import job_file

    try:
        return any(job_file(entry.name) for entry in path.iterdir())
    except OSError:
        return False
