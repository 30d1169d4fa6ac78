"""`bytepatch eval`: held-out bits per byte of a trained checkpoint, as one JSON line."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from bytepatch.cli._options import given, input_format_option, max_document_bytes_option
from bytepatch.cli._threads import set_torch_threads, threads_option

if TYPE_CHECKING:
    from bytepatch.entropy.base import EntropyModel


# The checkpoint's entropy model, found on first use (None when its patcher needs none).
RecordedModel = Callable[[], "EntropyModel | None"]


@click.command("eval")
@click.argument("checkpoint", type=click.Path(exists=True))
@click.argument("data")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True, help="Rows per forward pass.")
@click.option("--seq-len", type=click.IntRange(min=2), default=None, help="Ids per row.  [default: the run's]")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="auto", show_default=True)
@click.option("--text", "as_text", is_flag=True, help="DATA is literal text to score, not a path.")
@click.option(
    "--entropy-model",
    "-m",
    default=None,
    help="Entropy model to patch text with (default: the checkpoint's, by name; checked by fingerprint).",
)
@click.option("--text-field", default="text", show_default=True, help="JSONL field / Parquet column of a corpus DATA.")
@click.option("--doc-per-line", is_flag=True, help="Each line of a text DATA is one document (as in segment).")
@input_format_option()
@max_document_bytes_option()
@threads_option
def eval_cmd(
    checkpoint: str,
    data: str,
    batch_size: int,
    seq_len: int | None,
    device: str,
    as_text: bool,
    entropy_model: str | None,
    text_field: str,
    doc_per_line: bool,
    input_format: str,
    max_document_bytes: int,
    threads: int | None,
) -> None:
    """Print the bits per byte of CHECKPOINT on DATA as one JSON line.

    CHECKPOINT is a run directory of `bytepatch train` or its checkpoint.pt.
    DATA is a dataset directory written by `bytepatch segment` (it must have been
    patched like the training data) or a corpus file or directory (text, JSONL,
    Parquet, Arrow, as `segment` reads them); with --text it is literal text
    instead. A DATA path that does not exist is an error. Files and text are patched here
    the way the checkpoint's training data was (same patcher, settings and entropy
    model) and each document is framed BOS ... EOS.
    Every document is scored in full; bits per byte counts document bytes (not
    EOS), packed into rows exactly as in training.

    Examples:

    \b
        bytepatch eval runs/tiny data/held-out
        bytepatch eval runs/tiny held_out.jsonl
        bytepatch eval runs/tiny --text "The quick brown fox"
    """
    set_torch_threads(threads)
    import functools
    import json
    import math
    from pathlib import Path

    import numpy as np
    import pyarrow as pa

    from bytepatch.models.data import evaluation_batches
    from bytepatch.models.entropy_lm.model import autocast_dtype, resolve_device
    from bytepatch.models.train import bits_per_byte, load_checkpoint
    from bytepatch.models.train.checkpoint import written_by

    if not as_text and not Path(data).exists():
        raise click.ClickException(f"{data}: no such dataset or file (to score literal text, pass --text)")
    is_dataset = not as_text and Path(data).is_dir() and (Path(data) / "manifest.json").exists()
    ctx = click.get_current_context()
    corpus_options = [
        f"--{name.replace('_', '-')}"
        for name in ("text_field", "doc_per_line", "input_format", "max_document_bytes")
        if given(ctx, name)
    ]
    if corpus_options and (as_text or is_dataset):  # they would be ignored: say so instead
        raise click.UsageError(
            f"{' and '.join(corpus_options)} read a corpus file or directory only, not "
            f"{'literal --text' if as_text else 'a dataset (its documents are stored)'}; drop them"
        )
    try:
        dev = resolve_device(device)
        model, _, meta = load_checkpoint(checkpoint, device=dev)
    except (OSError, ValueError) as exc:  # OSError: no checkpoint.pt in the directory
        raise click.ClickException(str(exc)) from exc
    if written_by(meta) == "train-entropy":  # train-entropy's checkpoint (raw documents)
        # Its byte transformer learnt each document alone (attention kept inside it): packed into rows
        # across documents, as eval scores a run, it gives another figure than its own scorer's.
        where = Path(meta["path"]).parent
        raise click.ClickException(
            f"{meta['path']}: an entropy LM's training checkpoint (train-entropy), not a BLT or baseline run's; "
            f"score the model with `bytepatch eval-entropy DATA -m {where}`"
        )
    seq_len = seq_len or int(meta["run"]["train"]["seq_len"])
    # Found once (by fingerprint, wherever generate finds it) for the patches and the EOS rule alike.
    recorded = functools.cache(lambda: _recorded_model(meta, entropy_model, dev))
    if entropy_model is not None:  # checked even where unused (a dataset is patched already), never ignored
        if meta["model_type"] == "baseline":
            raise click.ClickException("the byte baseline uses no patches, so no entropy model; drop --entropy-model")
        recorded()  # refuses one of another fingerprint, or any for a patcher that needs none
    amp = autocast_dtype(dev, "auto")
    kind = "<text>" if as_text else data
    try:
        if is_dataset:
            source = _dataset_source(data, meta)
            source.end_rule = _end_rule(meta, recorded)
            docs = np.arange(len(source))
            batches = evaluation_batches(source, docs, batch_size=batch_size, seq_len=seq_len)
            n_docs = len(source)
        else:
            texts = (
                [data.encode("utf-8", "surrogateescape")]
                if as_text
                else _read_corpus(data, text_field, doc_per_line, input_format, max_document_bytes)
            )
            batches = _text_batches(texts, meta, batch_size, seq_len, recorded, kind)
            n_docs = len(texts)
        bits, n_bytes, _ = bits_per_byte(meta["model_type"], model, batches, dev, amp)
    except (OSError, ValueError, pa.ArrowException) as exc:  # mismatched, truncated or unreadable data
        raise click.ClickException(f"cannot evaluate {kind}: {exc}") from exc
    if not n_bytes:  # bits per byte of nothing is undefined; never print NaN (not valid JSON)
        raise click.ClickException(f"{kind}: no bytes to evaluate (every document is empty)")
    if not math.isfinite(bits):  # NaN is not JSON, and no figure of such a model means anything
        raise click.ClickException(
            f"{meta['path']}: model output is not finite on {kind} (its forward pass overflows: the weights of a "
            "diverged run?); evaluate an earlier checkpoint or retrain with a lower --lr"
        )
    result = {
        "checkpoint": meta["path"],
        "data": kind,
        "bits_per_byte": bits / n_bytes,
        "bytes": n_bytes,
        "documents": n_docs,
        "step": meta["step"],
    }
    click.echo(json.dumps(result))


def _dataset_source(data: str, meta: dict):
    """DATA as documents, refused unless patched like the checkpoint's data (what to do said when known);
    any patching for the baseline, which never reads patch boundaries."""
    from bytepatch.models.data import DocumentSource
    from bytepatch.models.errors import DatasetMismatchError

    try:
        return DocumentSource(
            [data],
            meta["data"]["signature"],
            f"checkpoint {meta['path']}",
            check_patching=meta["model_type"] == "blt",
        )
    except DatasetMismatchError as exc:
        note = meta["data"].get("patching_note")  # e.g. a transformers BLT without a patcher: one byte per patch
        if not note:
            raise
        raise DatasetMismatchError(f"{exc} ({note})") from None


def _read_corpus(
    path: str, text_field: str, doc_per_line: bool, input_format: str, max_document_bytes: int
) -> list[bytes]:
    """The documents of a corpus file or directory, read as `bytepatch segment` reads them."""
    from bytepatch.io import InputError, iter_documents

    try:
        docs = iter_documents([path], text_field, None, doc_per_line, input_format, max_document_bytes)
        return [doc.data for doc in docs]
    except InputError as exc:
        raise click.ClickException(str(exc)) from exc


def _text_batches(docs: list[bytes], meta: dict, batch_size: int, seq_len: int, recorded: RecordedModel, where: str):
    """Patch `docs` like the training data and pack them as evaluation batches."""
    import numpy as np

    from bytepatch.models.data import frame, packed_batches

    if not any(docs):
        raise click.ClickException(f"{where}: no text to evaluate (no document, or only empty ones)")
    # Empty documents stay: their BOS/EOS take room in the rows, exactly as in a dataset.
    lengths = _patch_like_training(docs, meta, recorded)
    rule = _end_rule(meta, recorded)
    framed = [
        frame(
            d,
            lengths[i],
            name=f"<doc {i}>",
            eos_starts_patch=rule(np.frombuffer(d, np.uint8), np.asarray(lengths[i])) if rule else True,
        )
        for i, d in enumerate(docs)
    ]
    yield from packed_batches(lambda k: framed[k] if k < len(framed) else None, batch_size=batch_size, seq_len=seq_len)


GROUP_BYTES = 4 << 20  # documents patched per patch_batch call: bounded memory, few calls


def _recorded_model(meta: dict, entropy_model: str | None, device: Any) -> EntropyModel | None:
    """The entropy model the checkpoint's data was patched with (None if none), checked by fingerprint.

    Looked for where `generate` looks: `--entropy-model`, the recorded name, and near the run and its
    datasets (a converted transformers BLT keeps its patcher as RUN/entropy_model, under an absolute name
    that no longer resolves once the run directory moves).
    """
    from bytepatch.cli import _entropy_model
    from bytepatch.entropy.ref import EntropyModelRef

    try:
        recorded = EntropyModelRef.from_json(meta["data"]["entropy_model"])
    except ValueError as exc:
        raise click.ClickException(f"checkpoint {meta['path']}: {exc}") from exc
    note = meta["data"].get("patching_note")
    return _entropy_model.recorded_entropy_model(
        recorded, entropy_model, device, near=_entropy_model.run_places(meta), note=note
    )


def _end_rule(meta: dict, recorded: RecordedModel):
    """Under the reference decoder alignment, EOS follows the patcher's rule (`models.data.eos`), as in training."""
    if meta["model_type"] != "blt" or meta["run"]["model"].get("decoder_alignment") != "reference":
        return None
    from bytepatch.models.data.eos import end_rule

    model = recorded()
    try:
        return end_rule(meta["data"]["patcher"], model)
    except ValueError as exc:
        raise click.ClickException(f"cannot frame documents like the training data: {exc}") from exc


def _patch_like_training(docs: list[bytes], meta: dict, recorded: RecordedModel) -> list:
    """Patch lengths of every doc from the patcher recorded in the checkpoint (baseline: one patch, unused).

    The entropy model is resolved (loaded, fingerprint checked) once, and documents
    are patched in groups with `patch_batch`, as `segment` does.
    """
    if meta["model_type"] == "baseline":
        return [[len(d)] if d else [] for d in docs]
    from bytepatch.patchers import PatcherSpec
    from bytepatch.ragged import Ragged

    try:
        spec = PatcherSpec.from_dict(meta["data"]["patcher"])
    except ValueError as exc:
        raise click.ClickException(f"checkpoint {meta['path']}: {exc}") from exc
    model = recorded()
    try:
        patcher = spec.build(model)
        out: list = []
        start = 0
        while start < len(docs):
            stop, size = start, 0
            while stop < len(docs) and (stop == start or size + len(docs[stop]) <= GROUP_BYTES):
                size += len(docs[stop])
                stop += 1
            out.extend(patcher.patch_batch(Ragged.from_bytes(docs[start:stop])).to_list())
            start = stop
        return out
    except ValueError as exc:
        raise click.ClickException(f"cannot patch the text like the training data: {exc}") from exc
