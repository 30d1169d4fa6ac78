"""`bytepatch segment`: turn a corpus into a patch-boundary dataset."""

from __future__ import annotations

import importlib
import sys

import click

from bytepatch.cli._interrupt import exit_130_on_interrupt
from bytepatch.io import FORMATS, InputError, ReaderConfig
from bytepatch.patchers import PATCHERS
from bytepatch.segment import OutputError, SegmentOptions, segment_corpus


@click.command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="Dataset directory to write.")
@click.option("--patcher", type=click.Choice(sorted(PATCHERS)), default="entropy", show_default=True)
@click.option("--entropy-model", default="default", show_default=True, help="Entropy model name or directory.")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu", show_default=True,
              help="Where a transformer entropy model runs (bf16 on CUDA); n-gram models use the CPU.")
@click.option("--threshold", type=float, help="Global entropy threshold in nats (default: the model's).")
@click.option("--threshold-add", type=float, help="Relative (monotonic) threshold: h[t] - h[t-1] > F.")
@click.option("--target-patch-size", type=float, help="Calibrate the threshold to this mean patch size first.")
@click.option("--stride", type=click.IntRange(min=1), default=4, show_default=True, help="Patch size for --patcher stride.")
@click.option("--max-patch-length", type=click.IntRange(min=1), help="Cut patches longer than M bytes.")
@click.option("--text-field", default="text", show_default=True, help="JSONL field / column holding the text.")
@click.option("--id-field", help="JSONL field / column to use as the document id.")
@click.option("--doc-per-line", is_flag=True, help="Plain text: one document per line, not per file.")
@click.option("--input-format", type=click.Choice(FORMATS), default="auto", show_default=True)
@click.option("--format", "shard_format", type=click.Choice(["arrow", "parquet"]), default="arrow", show_default=True)
@click.option("--shard-size-mb", type=float, default=64.0, show_default=True, help="Document bytes per shard.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes (each loads its own patcher; --threads is usually the better lever).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads per worker for the n-gram entropy kernel [default: CPUs available to this "
                   "process (affinity, cgroup quota), divided among --workers].")
@click.option("--save-entropies", is_flag=True, help="Store per-byte entropies (float16) in the dataset.")
@click.option("--overwrite", is_flag=True, help="Replace an existing dataset in --output.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run with the same settings.")
@click.option("--num-shards", type=click.IntRange(min=1),
              help="Split the inputs among K independent jobs (splits inside large files too).")
@click.option("--shard-index", type=click.IntRange(min=0), help="This job's index in [0, K) (with --num-shards).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary.")
def segment(inputs: tuple[str, ...], output: str, patcher: str, entropy_model: str, device: str, threshold: float | None,
            threshold_add: float | None, target_patch_size: float | None, stride: int,
            max_patch_length: int | None, text_field: str, id_field: str | None, doc_per_line: bool,
            input_format: str, shard_format: str, shard_size_mb: float, workers: int, threads: int | None, save_entropies: bool,
            overwrite: bool, resume: bool, num_shards: int | None, shard_index: int | None,
            quiet: bool) -> None:  # fmt: skip
    """Segment INPUT... into patches and write an Arrow dataset to --output.

    Inputs are text files (one document each, or one per line with --doc-per-line),
    .jsonl/.jsonl.gz (field "text"), .parquet/.arrow (column "text"), directories
    (recursive), globs, or - for stdin.

    \b
    Examples:
      bytepatch segment corpus.jsonl -o out/
      bytepatch segment docs/ -o out/ --patcher space --max-patch-length 16
      bytepatch segment data.parquet -o out/ --target-patch-size 6 --workers 2
      cat notes.txt | bytepatch segment - -o out/ --patcher stride --stride 8

    \b
    Several jobs, one dataset (each job takes every K-th split of about --shard-size-mb):
      bytepatch segment corpus/ -o out/ --num-shards 8 --shard-index $SLURM_ARRAY_TASK_ID
      torchrun --nproc_per_node 4 -m bytepatch.cli.main segment corpus/ -o out/
    """
    num_jobs, job, dist = _job_split(num_shards, shard_index)
    reader = ReaderConfig(text_field, id_field, doc_per_line, input_format)
    with exit_130_on_interrupt("interrupted: no manifest written; finish with --resume"):
        manifest = _segment(inputs, output, patcher, entropy_model, device, threshold, threshold_add,
                            target_patch_size, stride, max_patch_length, shard_format, shard_size_mb, workers, threads,
                            save_entropies, overwrite, resume, quiet, num_jobs, job, dist, reader)  # fmt: skip
    if manifest is None:
        if not quiet:
            click.echo(f"{output}: job {job} of {num_jobs} done; manifest.json follows when all jobs are", err=True)
        return
    if not quiet:
        n, b, p = manifest["documents"], manifest["bytes"], manifest["patches"]
        mean = b / p if p else 0.0
        click.echo(f"{output}: {n:,} documents, {b:,} bytes, {p:,} patches (mean {mean:.2f} bytes/patch), "
                   f"{len(manifest['shards'])} shard(s)", err=True)  # fmt: skip
        if workers > len(manifest["shards"]):
            click.echo(f"note: {len(manifest['shards'])} shard(s) for --workers {workers}: a worker patches one "
                       f"shard at a time, so only {len(manifest['shards'])} could run; use --threads, or a smaller "
                       "--shard-size-mb to split the input", err=True)  # fmt: skip


def _segment(inputs, output, patcher, entropy_model, device, threshold, threshold_add, target_patch_size, stride,
             max_patch_length, shard_format, shard_size_mb, workers, threads, save_entropies, overwrite, resume, quiet,
             num_jobs, job, dist, reader):  # fmt: skip
    """Run the segmentation; bad input and output errors become one-line click errors."""
    try:
        spec, factory, info, extra, model = patcher_spec(
            patcher, entropy_model, threshold, threshold_add, target_patch_size, stride, max_patch_length,
            inputs, reader, device,
        )  # fmt: skip
        if threshold is not None and threshold <= 0:  # legal, but almost surely a mistake
            click.echo(f"warning: --threshold {threshold:g} makes every byte a patch (entropies are never negative; "
                       "thresholds are in nats, typically 1 to 3)", err=True)  # fmt: skip
        workers = _cap_workers(workers, quiet)
        if workers > 1:
            model = None  # each worker loads its own; holding one here too would only cost memory
        if save_entropies and patcher != "entropy":
            raise click.UsageError("--save-entropies needs --patcher entropy")
        options = SegmentOptions(shard_format, shard_size_mb, workers, overwrite, resume, save_entropies,
                                 show_progress=not quiet, extra_metadata=extra, num_jobs=num_jobs, job=job,
                                 merge=dist is None, threads=threads or _default_threads(workers))  # fmt: skip
        manifest = segment_corpus(inputs, output, spec, reader, options, factory, info, model)
        if dist is not None:
            manifest = dist.finish(output, options)
    except (InputError, OutputError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:  # e.g. the output directory cannot be created
        raise click.ClickException(f"{exc.filename or output}: {exc.strerror or exc}") from exc
    return manifest


def _cap_workers(workers: int, quiet: bool) -> int:
    """--workers beyond the CPUs this process may use only add processes and memory."""
    from bytepatch.cpus import available_cpus

    cpus = available_cpus()
    if workers > cpus:
        click.echo(f"note: --workers {workers} capped at {cpus}, the CPUs available", err=True)
        return cpus
    return workers


def _default_threads(workers: int) -> int:
    from bytepatch.cpus import available_cpus

    return max(1, available_cpus() // workers)


def _job_split(num_shards: int | None, shard_index: int | None):
    """(number of jobs, this job, torchrun coordinator or None) for this run."""
    if (num_shards is None) != (shard_index is None):
        raise click.UsageError("--num-shards and --shard-index go together")
    if num_shards is not None:
        if shard_index >= num_shards:
            raise click.UsageError(f"--shard-index must be below --num-shards ({num_shards}), got {shard_index}")
        return num_shards, shard_index, None
    from bytepatch.cli.torchrun import TorchrunJob

    dist = TorchrunJob.from_env()
    if dist is None:
        return 1, 0, None
    return dist.world_size, dist.rank, dist


def patcher_spec(patcher, model_name, threshold, threshold_add, target, stride, max_len, inputs, reader, device="cpu"):
    """The patcher dict, entropy-model factory, model info, extra metadata and loaded model.

    Built by `bytepatch.pretrained.build_patcher`, the function behind the library's
    `bytepatch.load_patcher`: the command and the library cannot disagree.
    """
    from bytepatch.pretrained import PatcherOptionError, build_patcher

    model = None
    if patcher == "entropy":
        model = _entropy_resolver().load_shared(model_name, device)
    try:
        built = build_patcher(patcher, entropy_model=model, threshold=threshold, threshold_add=threshold_add,
                              target_patch_size=target, calibration_data=list(inputs), reader=reader,
                              stride=stride, max_patch_length=max_len, log=lambda m: click.echo(m, err=True))  # fmt: skip
    except PatcherOptionError as exc:
        raise click.UsageError(str(exc)) from exc
    if model is None:
        return built.patcher.to_dict(), None, None, {}, None
    # The source reloads the model in each worker process (cached, fingerprint-checked).
    return built.patcher.to_dict(), model.source.load, built.model_info, built.extra_metadata, model


def _entropy_resolver():
    # Imported here: the space and stride paths never load entropy-model code.
    return importlib.import_module("bytepatch.cli._entropy_model")
