"""`bytepatch eval`: held-out bits per byte of a trained checkpoint, as one JSON line."""

from __future__ import annotations

import click


@click.command("eval")
@click.argument("checkpoint", type=click.Path(exists=True))
@click.argument("data")
@click.option("--batch-size", type=int, default=8, show_default=True, help="Rows per forward pass.")
@click.option("--seq-len", type=int, default=None, help="Ids per row.  [default: the run's]")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="auto", show_default=True)
@click.option("--text", "as_text", is_flag=True, help="Treat DATA as literal text even if a path of that name exists.")
@click.option("--entropy-model", default=None,
              help="Entropy model to patch text with (default: the checkpoint's, by name; checked by fingerprint).")
def eval_cmd(checkpoint: str, data: str, batch_size: int, seq_len: int | None, device: str, as_text: bool,
             entropy_model: str | None) -> None:  # fmt: skip
    """Print the bits per byte of CHECKPOINT on DATA as one JSON line.

    CHECKPOINT is a run directory of `bytepatch train` or its checkpoint.pt.
    DATA is a dataset directory written by `bytepatch segment` (it must have been
    patched like the training data), a corpus file (text, JSONL, Parquet, Arrow, as
    `segment` reads them), or otherwise literal text. Files and text are patched here
    the way the checkpoint's training data was (same patcher, settings and entropy
    model) and each document is framed BOS ... EOS.
    Every document is scored in full; bits per byte counts document bytes (not
    EOS), packed into rows exactly as in training.

    Examples:

    \b
        bytepatch eval runs/tiny data/held-out
        bytepatch eval runs/tiny held_out.jsonl
        bytepatch eval runs/tiny "The quick brown fox jumps over the lazy dog."
    """
    import json
    import math
    from pathlib import Path

    import numpy as np

    from bytepatch.models.data import DocumentSource, evaluation_batches
    from bytepatch.models.entropy_lm.model import autocast_dtype, resolve_device
    from bytepatch.models.train import bits_per_byte, load_checkpoint

    try:
        dev = resolve_device(device)
        model, _, meta = load_checkpoint(checkpoint, device=dev)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    seq_len = seq_len or int(meta["run"]["train"]["seq_len"])
    amp = autocast_dtype(dev, "auto")
    if Path(data).is_dir() and (Path(data) / "manifest.json").exists() and not as_text:
        try:
            source = DocumentSource([data], meta["data"]["signature"], f"checkpoint {meta['path']}")
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        docs = np.arange(len(source))
        batches = evaluation_batches(source, docs, batch_size=batch_size, seq_len=seq_len)
        n_docs = len(source)
        kind = data
    else:
        texts = [data.encode("utf-8")] if as_text or not Path(data).exists() else _read_corpus(data)
        batches = _text_batches(texts, meta, batch_size, seq_len, entropy_model)
        n_docs, kind = len(texts), ("<text>" if as_text or not Path(data).exists() else data)
    bits, n_bytes, _ = bits_per_byte(meta["model_type"], model, batches, dev, amp)
    result = {
        "checkpoint": meta["path"],
        "data": kind,
        "bits_per_byte": bits / n_bytes if n_bytes else math.nan,
        "bytes": n_bytes,
        "documents": n_docs,
        "step": meta["step"],
    }
    click.echo(json.dumps(result))


def _read_corpus(path: str) -> list[bytes]:
    """The documents of a corpus file or directory, read as `bytepatch segment` reads them."""
    from bytepatch.io import InputError, iter_documents

    try:
        return [doc.data for doc in iter_documents([path])]
    except InputError as exc:
        raise click.ClickException(str(exc)) from exc


def _text_batches(docs: list[bytes], meta: dict, batch_size: int, seq_len: int, entropy_model: str | None):
    """Patch `docs` like the training data and pack them as evaluation batches."""
    from bytepatch.models.data import collate, frame, pack_row
    from bytepatch.models.data.loader import to_torch

    if not any(docs):
        raise click.ClickException("no text to evaluate")
    # Empty documents stay: their BOS/EOS take room in the rows, exactly as in a dataset.
    framed = [frame(d, _patch_like_training(d, meta, entropy_model), name=f"<doc {i}>") for i, d in enumerate(docs)]
    position, rows = (0, 0), []
    while (packed := pack_row(lambda k: framed[k] if k < len(framed) else None, position, seq_len)) is not None:
        row, position = packed
        rows.append(row)
    for i in range(0, len(rows), batch_size):
        yield to_torch(collate(rows[i : i + batch_size]))


def _patch_like_training(doc: bytes, meta: dict, entropy_model: str | None):
    """Patch lengths of `doc` from the patcher recorded in the checkpoint (baseline: one patch, unused)."""
    if meta["model_type"] == "baseline":
        return [len(doc)]
    from bytepatch.cli.generate import checkpoint_entropy_model
    from bytepatch.patchers import patcher_from_dict

    model = checkpoint_entropy_model(meta["data"]["entropy_model"], entropy_model)  # checked by fingerprint
    try:
        return patcher_from_dict(meta["data"]["patcher"], model=model).patch_lengths(doc)
    except ValueError as exc:
        raise click.ClickException(f"cannot patch the text like the training data: {exc}") from exc
