"""`fit-entropy`, `eval-entropy` and `calibrate`: the entropy-model commands.

Thin wrappers: documents come from `bytepatch.io` (any input `segment` reads), the work
is done by `bytepatch.entropy`. Documents are streamed in batches so memory stays
bounded, except for `calibrate`, which keeps its bounded sample
(`bytepatch.entropy.sample.sample_pieces`, the sampler `segment
--target-patch-size` uses too).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import click

from bytepatch.cli._entropy_model import load_model
from bytepatch.cli._options import (
    entropy_model_option,
    input_format_option,
    max_document_bytes_option,
    target_patch_size_option,
)
from bytepatch.cli._output_lock import output_lock
from bytepatch.cli.errors import user_errors
from bytepatch.lock import LOCK_NAME
from bytepatch.entropy.base import score
from bytepatch.entropy.calibrate import RULES, calibrate_threshold
from bytepatch.entropy.ngram import NgramConfig, NgramCounter
from bytepatch.entropy.sample import piece_entropies, sample_pieces
from bytepatch.io import InputError, ReaderConfig, read_inputs
from bytepatch.io.sources import check_readable_twice

BATCH_BYTES = 1 << 22  # documents per model call: ~4 MB keeps memory flat on any corpus


def input_options(fn):
    """The document-reading options shared by the three commands."""
    fn = click.option(
        "--text-field", default="text", show_default=True, help="JSONL/Parquet/Arrow column holding the text."
    )(fn)
    fn = click.option("--doc-per-line", is_flag=True, help="Each line of a text file is a document.")(fn)
    fn = input_format_option()(fn)
    fn = max_document_bytes_option()(fn)
    return click.argument("inputs", nargs=-1, required=True)(fn)


def reader_config(text_field: str, doc_per_line: bool, input_format: str, max_document_bytes: int) -> ReaderConfig:
    """How `input_options` say to read the inputs."""
    return ReaderConfig(
        text_field=text_field,
        doc_per_line=doc_per_line,
        input_format=input_format,
        max_document_bytes=max_document_bytes,
    )


def batches(inputs: Sequence[str], reader: ReaderConfig) -> Iterator[list[bytes]]:
    """Lists of documents of about BATCH_BYTES, every document of the inputs in order."""
    batch: list[bytes] = []
    size = 0
    try:
        for doc in read_inputs(list(inputs), reader):
            batch.append(doc.data)
            size += len(doc.data)
            if size >= BATCH_BYTES:
                yield batch
                batch, size = [], 0
    except InputError as exc:
        raise click.ClickException(str(exc)) from exc
    if batch:
        yield batch


@click.command("fit-entropy")
@input_options
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="Model directory to write.")
@click.option(
    "--order", default=NgramConfig.order, show_default=True, help="n-gram length (context = order - 1 bytes)."
)
@click.option(
    "--min-count", default=NgramConfig.min_count, show_default=True, help="Prune rarer successors of long contexts."
)
@click.option(
    "--max-contexts",
    default=NgramConfig.max_contexts,
    show_default=True,
    help="Keep at most this many long contexts (0 = all).",
)
@target_patch_size_option(
    default=4.5,
    help="Calibrate the model's default threshold to this mean patch size "
    "(bytes) on a sample of INPUT..., so `segment -m DIR` works without --threshold.",
)
@click.option(
    "--sample-bytes",
    type=click.IntRange(min=1),
    default=8_000_000,
    show_default=True,
    help="Calibrate on a sample of about this many bytes, spread over the inputs.",
)
@click.option("--overwrite", is_flag=True, help="Replace a model already in --output.")
def fit_entropy(
    inputs,
    text_field,
    doc_per_line,
    input_format,
    max_document_bytes,
    output,
    order,
    min_count,
    max_contexts,
    target_patch_size,
    sample_bytes,
    overwrite,
):
    """Fit a byte n-gram entropy model on INPUT... in one streaming pass, then calibrate
    its default threshold to --target-patch-size on a sample of the same inputs.

    \b
    Examples:
      bytepatch fit-entropy corpus.jsonl --output models/ngram
      bytepatch fit-entropy docs/ --order 5 -s 6 --output models/ngram5
      bytepatch segment corpus.jsonl -o out/ -m models/ngram
    """
    if not (math.isfinite(target_patch_size) and target_patch_size >= 1):
        raise click.ClickException(f"--target-patch-size must be >= 1, got {target_patch_size}")
    try:
        config = NgramConfig(order=order, min_count=min_count, max_contexts=max_contexts)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    with user_errors():
        check_readable_twice(inputs, "fit-entropy (the fit, then a sample to calibrate the default threshold)")
    with output_lock(output, "fit-entropy"):  # first: a directory in use is reported as such
        if any(p.name != LOCK_NAME for p in Path(output).iterdir()) and not overwrite:
            raise click.ClickException(f"{output}: exists and is not empty; pass --overwrite to replace it")
        if _training_run(Path(output)):
            # --overwrite replaces a model: a BLT or baseline run's config.json was replaced (and,
            # since its checkpoint is removed with a transformer model's, its checkpoint deleted).
            raise click.ClickException(
                f"{output}: holds a `bytepatch train` run (its config.json and checkpoint), not an entropy "
                "model; --overwrite replaces a model only: write the model to another --output"
            )
        reader = reader_config(text_field, doc_per_line, input_format, max_document_bytes)
        counter = NgramCounter(config)
        for batch in batches(inputs, reader):
            counter.update(batch)
        if counter.n_bytes == 0:
            raise click.ClickException("no bytes to fit on: the inputs hold no non-empty document")
        model = counter.finalize()
        try:
            sample = sample_pieces(inputs, reader, sample_bytes, note=None)  # the fit above said its notes
            result = calibrate_threshold(piece_entropies(model, sample), target_patch_size, rule="global")
        except (InputError, ValueError) as exc:
            raise click.ClickException(f"cannot calibrate a default threshold: {exc}") from exc
        model = model.with_default_threshold(float(result.threshold))
        model.stats["threshold_calibration"] = {
            "target_mean_patch_size": target_patch_size,
            "achieved": round(result.mean_patch_size, 4),
            "rule": "global",
            "sample": f"{sum(len(p) - ctx for p, ctx in sample):,} bytes of the training inputs",  # contexts not
        }
        _remove_other_models(Path(output))
        model.save(output)
    click.echo(
        f"wrote {output}: {model!r} from {counter.n_bytes} bytes in {counter.n_docs} documents; default "
        f"threshold {result.threshold:.4g} nats (mean patch size {result.mean_patch_size:.2f} on a sample)",
        err=True,
    )


# What a transformer entropy model directory (train-entropy) holds besides config.json: its weights, the
# training checkpoint and log (`models/entropy_lm/train.py`; not imported here, it imports torch).
TRANSFORMER_FILES = ("model.pt", "checkpoint.pt", "log.jsonl")


def _training_run(out: Path) -> bool:
    """Whether `out` holds a `bytepatch train` run: its config.json (written first) is a run's,
    as `train` and `verify` tell it (`is_run_config`). Without a config.json it is no run's: an
    unfinished train-entropy run holds a checkpoint alone, which --overwrite replaces."""
    config = out / "config.json"
    if not config.exists():
        return False
    from bytepatch.models.train.resume import is_run_config  # torch: only where a config.json is to judge

    return is_run_config(config)


def _remove_other_models(out: Path) -> None:
    """--overwrite replacing a transformer entropy model: its files go too, config.json first (it
    marks a model complete). Left beside the new n-gram model, its 2 MB-2 GB of weights and
    checkpoint rode along with every copy, and `train-entropy --resume` there resumed the old
    run over the new model's config.json."""
    try:
        kind = json.loads((out / "config.json").read_text(encoding="utf-8")).get("kind")
    except (OSError, ValueError, AttributeError):  # none, or not a model's: a run's checkpoint still says so
        kind = None
    if kind != "transformer" and not (out / "checkpoint.pt").is_file():
        return
    (out / "config.json").unlink(missing_ok=True)
    for name in TRANSFORMER_FILES:
        (out / name).unlink(missing_ok=True)


@click.command("eval-entropy")
@input_options
@entropy_model_option()
def eval_entropy(inputs, text_field, doc_per_line, input_format, max_document_bytes, entropy_model):
    """Print bits per byte and mean entropy of an entropy model on INPUT... (one JSON line).

    \b
    Examples:
      bytepatch eval-entropy held_out.jsonl
      bytepatch eval-entropy notes/*.txt --entropy-model models/ngram
    """
    model = load_model(entropy_model)
    bits = nats = 0.0
    n_bytes = 0
    for batch in batches(inputs, reader_config(text_field, doc_per_line, input_format, max_document_bytes)):
        hs, batch_bits, batch_bytes = score(model, batch)
        bits += batch_bits
        nats += sum(float(h.sum(dtype="float64")) for h in hs)
        n_bytes += batch_bytes
    if n_bytes == 0:
        raise click.ClickException("no bytes to evaluate: the inputs hold no non-empty document")
    click.echo(json.dumps({"bits_per_byte": bits / n_bytes, "mean_entropy_nats": nats / n_bytes, "bytes": n_bytes}))


@click.command("calibrate")
@input_options
@target_patch_size_option(required=True, help="Wanted mean patch size in bytes (e.g. 4.5).")
@entropy_model_option()
@click.option("--rule", type=click.Choice(RULES), default="global", show_default=True, help="Entropy boundary rule.")
@click.option("--threshold-add", default=0.0, show_default=True, help="Relative threshold held fixed by --rule both.")
@click.option(
    "--max-patch-length", type=click.IntRange(min=1), default=None, help="Cap applied while measuring patch sizes."
)
@click.option(
    "--sample-bytes",
    type=click.IntRange(min=1),
    default=8_000_000,
    show_default=True,
    help="Calibrate on a sample of about this many bytes, spread over the inputs.",
)
def calibrate(
    inputs,
    text_field,
    doc_per_line,
    input_format,
    max_document_bytes,
    target_patch_size,
    entropy_model,
    rule,
    threshold_add,
    max_patch_length,
    sample_bytes,
):
    """Print the threshold giving mean patch size --target-patch-size on INPUT...

    The global threshold for --rule global and both (both holds --threshold-add fixed),
    the relative one for --rule relative. The sample takes documents round-robin
    from the inputs, each at most 1/16 of it while others remain. Details go to stderr.

    \b
    Examples:
      bytepatch calibrate corpus.jsonl --target-patch-size 4.5
      bytepatch calibrate corpus.jsonl -s 6 --rule relative
    """
    if not (math.isfinite(target_patch_size) and target_patch_size >= 1):
        raise click.ClickException(f"--target-patch-size must be >= 1, got {target_patch_size}")
    if not math.isfinite(threshold_add):
        raise click.UsageError(f"--threshold-add must be a finite number, got {threshold_add}")
    if threshold_add and rule != "both":  # global searches the threshold alone; relative searches this one
        raise click.UsageError("--threshold-add is held fixed by --rule both only; drop it, or pass --rule both")
    model = load_model(entropy_model)
    try:
        reader = reader_config(text_field, doc_per_line, input_format, max_document_bytes)
        sample = sample_pieces(inputs, reader, sample_bytes)
    except InputError as exc:
        raise click.ClickException(str(exc)) from exc
    entropies = piece_entropies(model, sample)
    try:
        result = calibrate_threshold(entropies, target_patch_size, rule, threshold_add, max_patch_length)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"rule {rule}: threshold={result.threshold} threshold_add={result.threshold_add} "
        f"mean patch size {result.mean_patch_size:.4f} on {sum(map(len, entropies))} bytes",
        err=True,
    )
    click.echo(f"{result.searched:.9g}")
