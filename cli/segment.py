"""`bytepatch segment`: turn a corpus into a patch-boundary dataset."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial

import click

from bytepatch.cli._collector import resume_cycle_collection
from bytepatch.cli._patching import patcher_from_options
from bytepatch.cli._interrupt import exit_on_interrupt
from bytepatch.cli._threads import set_torch_threads
from bytepatch.cli._options import (
    entropy_model_option,
    input_format_option,
    max_document_bytes_option,
    reject_inapplicable,
    target_patch_size_option,
)
from bytepatch.io import InputError, ReaderConfig, expand_sources
from bytepatch.io.sources import check_readable_twice
from bytepatch.patchers import PATCHERS
from bytepatch.redact import redacted
from bytepatch.segment import OutputError, SegmentOptions, segment_corpus
from bytepatch.segment.output import check_output_apart
from bytepatch.segment.worker import load_kernels, on_torch


@click.command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False), help="Dataset directory to write.")
@click.option("--patcher", type=click.Choice(sorted(PATCHERS)), default="entropy", show_default=True)
@entropy_model_option()
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda", "auto"]),
    default="cpu",
    show_default=True,
    help="Where a transformer entropy model runs (bf16 on CUDA); n-gram models use the CPU.",
)
@click.option("--threshold", type=float, help="Global entropy threshold in nats (default: the model's).")
@click.option("--threshold-add", type=float, help="Relative (monotonic) threshold: h[t] - h[t-1] > F.")
@target_patch_size_option()
@click.option(
    "--stride", type=click.IntRange(min=1), default=4, show_default=True, help="Patch size for --patcher stride."
)
@click.option("--max-patch-length", type=click.IntRange(min=1), help="Cut patches longer than M bytes.")
@click.option("--text-field", default="text", show_default=True, help="JSONL field / column holding the text.")
@click.option("--id-field", help="JSONL field / column to use as the document id.")
@click.option("--doc-per-line", is_flag=True, help="Plain text: one document per line, not per file.")
@input_format_option()
@max_document_bytes_option()
@click.option("--format", "shard_format", type=click.Choice(["arrow", "parquet"]), default="arrow", show_default=True)
@click.option("--shard-size-mb", type=float, default=64.0, show_default=True, help="Document bytes per shard.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes (forked on Linux, sharing the loaded model; --threads is usually the better lever).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Threads per worker: shards and their document groups are patched and written on this many "
    "threads, sharing one model [default: CPUs available to this process (affinity, cgroup quota), "
    "divided among --workers].",
)
@click.option("--save-entropies", is_flag=True, help="Store per-byte entropies (float16) in the dataset.")
@click.option("--overwrite", is_flag=True, help="Replace an existing dataset in --output.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run with the same settings.")
@click.option(
    "--num-shards",
    type=click.IntRange(min=1),
    help="Split the inputs among K independent jobs (splits inside large files too).",
)
@click.option("--shard-index", type=click.IntRange(min=0), help="This job's index in [0, K) (with --num-shards).")
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="local: this machine (--workers processes); ray: a Ray cluster (see docs/cluster.md).",
)
@click.option("--ray-address", help="Ray cluster to join (e.g. auto, ray://head:10001) [default: start a local one].")
@click.option("--ray-actors", type=click.IntRange(min=1), help="Ray actors patching at once [default: one per CPU].")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary.")
def segment(**options) -> None:
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
    A Ray cluster (splits inside large files; actors load the model once):
      bytepatch segment s3://bucket/corpus/ -o s3://bucket/out/ --engine ray --ray-address auto

    \b
    Several jobs, one dataset (each job takes every K-th split of about --shard-size-mb):
      bytepatch segment corpus/ -o out/ --num-shards 8 --shard-index $SLURM_ARRAY_TASK_ID
    """
    args = SegmentArgs(**options)
    reject_inapplicable(click.get_current_context(), args.patcher)
    num_jobs, job = _job_split(args.num_shards, args.shard_index)
    if args.engine != "ray" and (args.ray_address or args.ray_actors):
        raise click.UsageError("--ray-address and --ray-actors need --engine ray")
    reader = ReaderConfig(
        args.text_field,
        args.id_field,
        args.doc_per_line,
        args.input_format,
        max_document_bytes=args.max_document_bytes,
    )
    before = _run_state_stamp(args, num_jobs, job)  # an earlier run's, if any: not this run's to resume
    manifest_before = _manifest_stamp(args)  # an earlier dataset's, if any: not this run's result
    with exit_on_interrupt(lambda: interrupted_advice(args, num_jobs, job, before, manifest_before)):
        manifest, calibrated_for, workers = _segment(args, reader, num_jobs, job)
    if args.quiet:
        return
    if manifest is None:
        click.echo(f"{args.output}: job {job} of {num_jobs} done; manifest.json follows when all jobs are", err=True)
        return
    n, b, p = manifest["documents"], manifest["bytes"], manifest["patches"]
    mean = b / p if p else 0.0  # 0: no hint below
    size = f"mean {mean:.2f} bytes/patch" if p else "mean n/a"  # no patches: no mean to show, as in stats
    shards = len(manifest["shards"])
    out = redacted(str(args.output))  # an output URI's credentials are no part of the line
    click.echo(f"{out}: {n:,} documents, {b:,} bytes, {p:,} patches ({size}), {shards} shard(s)", err=True)
    if workers > shards:  # the workers that ran: --workers capped at the CPUs
        click.echo(
            f"note: {shards} shard(s) for --workers {workers}: a worker patches one shard at a time, so only "
            f"{shards} could run; use --threads, or a smaller --shard-size-mb to split the input",
            err=True,
        )
    hint = calibration_hint(mean, calibrated_for)
    if hint:
        click.echo(hint, err=True)


def interrupted_advice(
    args: SegmentArgs,
    num_jobs: int,
    job: int,
    before: tuple[int, int] | None = None,
    manifest_before: tuple[int, int] | None = None,
) -> str | None:
    """The line an interrupted run ends with: `--resume` only where it can finish the run.
    It cannot before this run wrote its run state (calibration, listing; `before`: the
    stamp of one an earlier run left, which --resume would resume instead), for stdin, for
    an object-storage output or with --engine ray, and would refuse there; say what works.
    None when the signal came once the dataset was complete: its manifest.json written by
    this run (`manifest_before`: the stamp of an earlier dataset's, which --overwrite had
    not removed yet), or found complete by --resume. The line said "no manifest written;
    finish with --resume" beside a complete dataset, and the run exited 130."""
    from bytepatch.io.fs import is_uri
    from bytepatch.io.sources import STDIN

    manifest = _manifest_stamp(args)  # None for an output URI
    # Written atomically: a new file is this run's. (--resume of a complete dataset finds it complete;
    # --engine ray refuses --resume, so there the manifest is an earlier run's.)
    resumed = args.resume and args.engine != "ray"
    if manifest is not None and (resumed or manifest != manifest_before):
        return None
    if args.engine == "ray" or is_uri(args.output):
        return (
            "interrupted: no manifest written; --resume needs a local output and --engine local: rerun with --overwrite"
        )
    if STDIN in args.inputs:
        return "interrupted: no manifest written; --resume cannot replay stdin: run the command again with --overwrite"
    now = _run_state_stamp(args, num_jobs, job)
    if now is None or (now == before and not args.resume):  # written atomically: a new one is a new file
        return "interrupted: nothing written; run the command again"
    return "interrupted: no manifest written; finish with --resume"


def _manifest_stamp(args: SegmentArgs) -> tuple[int, int] | None:
    """(inode, mtime) of the dataset's manifest.json in a local output, None if there is none."""
    from bytepatch.dataset.manifest import MANIFEST

    return _stamp_in_output(args, MANIFEST)


def _run_state_stamp(args: SegmentArgs, num_jobs: int, job: int) -> tuple[int, int] | None:
    """(inode, mtime) of this job's run state in a local output, None if there is none."""
    from pathlib import Path

    from bytepatch.segment.layout import JobLayout

    return _stamp_in_output(args, JobLayout(Path(args.output), args.shard_format, num_jobs, job).run_state.name)


def _stamp_in_output(args: SegmentArgs, name: str) -> tuple[int, int] | None:
    """(inode, mtime) of file `name` in a local output, None for an output URI or no such file."""
    from bytepatch.io.fs import is_uri

    if is_uri(args.output):
        return None
    try:
        st = os.stat(os.path.join(args.output, name))
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


@dataclass(frozen=True)
class SegmentArgs:
    """The options of `segment`, as click parses them (one field per option)."""

    inputs: tuple[str, ...]
    output: str
    patcher: str
    entropy_model: str
    device: str
    threshold: float | None
    threshold_add: float | None
    target_patch_size: float | None
    stride: int
    max_patch_length: int | None
    text_field: str
    id_field: str | None
    doc_per_line: bool
    input_format: str
    max_document_bytes: int
    shard_format: str
    shard_size_mb: float
    workers: int
    threads: int | None
    save_entropies: bool
    overwrite: bool
    resume: bool
    num_shards: int | None
    shard_index: int | None
    engine: str
    ray_address: str | None
    ray_actors: int | None
    quiet: bool


FAR = 0.15  # relative distance from the model's calibration target that earns a hint


def calibration_hint(mean: float, calibrated_for: float | None) -> str | None:
    """A note when the mean patch size is far from what the model's default threshold
    was calibrated for (thresholds in nats do not transfer between kinds of text)."""
    if not calibrated_for or not mean or abs(mean / calibrated_for - 1) <= FAR:
        return None
    return (
        f"note: mean patch size {mean:.2f} bytes; the model's default threshold was calibrated for "
        f"{calibrated_for:g} bytes on its own training text. For a chosen mean patch size on this corpus, "
        f"rerun with --target-patch-size N (e.g. --target-patch-size {calibrated_for:g}): it calibrates the "
        "threshold on a sample spread over the whole input."
    )


def _calibration_target(model: object) -> float | None:
    """The mean patch size the model's shipped default threshold was calibrated for, if recorded."""
    for obj in (model, getattr(model, "model", None)):
        stats = getattr(obj, "stats", None)
        if isinstance(stats, dict):
            target = (stats.get("threshold_calibration") or {}).get("target_mean_patch_size")
            if isinstance(target, (int, float)):
                return float(target)
    return None


def _segment(args: SegmentArgs, reader: ReaderConfig, num_jobs: int, job: int):
    """Run the segmentation: (manifest, the mean patch size the default threshold was
    calibrated for, if it is in use, the worker processes it ran with). Bad input and output
    errors become one-line click errors."""
    try:
        if args.save_entropies and args.patcher != "entropy":
            raise click.UsageError("--save-entropies needs --patcher entropy")
        check_output_apart(args.inputs, args.output)  # before calibration reads the inputs
        if args.target_patch_size is not None:
            check_readable_twice(args.inputs, "--target-patch-size (a sample to calibrate the threshold, then the run)")
            # Calibration lists the inputs itself: a link inside them into the output is refused
            # here, as the run's own listing would (`expand_sources(output=)`), not read as input.
            expand_sources(args.inputs, note=None, output=args.output)
        built = patcher_from_options(
            args.patcher,
            args.entropy_model,
            args.threshold,
            args.threshold_add,
            args.target_patch_size,
            args.stride,
            args.max_patch_length,
            args.inputs,
            reader,
            args.device,
            quiet=args.quiet,
        )
        if args.threshold is not None and args.threshold <= 0:  # legal, but almost surely a mistake
            click.echo(
                f"warning: --threshold {args.threshold:g} makes every byte a patch (entropies are never negative; "
                "thresholds are in nats, typically 1 to 3)",
                err=True,
            )
        if args.engine == "ray":
            return _segment_on_ray(args, built, reader, num_jobs), None, args.workers
        workers = _cap_workers(args.workers, args.quiet)
        uses_default = args.patcher == "entropy" and args.threshold is None and args.threshold_add is None
        uses_default = uses_default and args.target_patch_size is None
        calibrated_for = _calibration_target(getattr(built.patcher, "model", None)) if uses_default else None
        threads = args.threads or _default_threads(workers)
        if workers == 1 and on_torch(built.patcher):
            set_torch_threads(threads)  # not torch's every-CPU default (workers: share_torch_threads)
        options = _segment_options(args, built, workers, threads, num_jobs=num_jobs, job=job)
        start = partial(_started, built.patcher)
        manifest = segment_corpus(
            args.inputs, args.output, built.patcher, reader, options, built.entropy_model, on_start=start
        )
    except (InputError, OutputError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:  # e.g. the output directory cannot be created
        raise click.ClickException(f"{exc.filename or args.output}: {exc.strerror or exc}") from exc
    return manifest, calibrated_for, workers


def _started(patcher) -> None:
    """The inputs are listed, the output is ready: load what the groups call while the
    cycle collector is still paused for start-up, then resume it (`_collector`)."""
    load_kernels(patcher)
    resume_cycle_collection()


def _segment_on_ray(args: SegmentArgs, built, reader: ReaderConfig, num_jobs: int):
    from bytepatch.segment.ray_engine import RayOptions, segment_with_ray

    if num_jobs != 1:
        raise click.UsageError("--engine ray splits the work itself; drop --num-shards/--shard-index")
    options = _segment_options(args, built, workers=1, threads=1)
    return segment_with_ray(
        args.inputs,
        args.output,
        built.patcher,
        reader,
        options,
        built.entropy_model,
        RayOptions(args.ray_address, args.ray_actors),
        on_start=resume_cycle_collection,  # its actors load their own kernels
    )


def _segment_options(
    args: SegmentArgs, built, workers: int, threads: int, num_jobs: int = 1, job: int = 0
) -> SegmentOptions:
    """The library's options for this command line."""
    return SegmentOptions(
        args.shard_format,
        args.shard_size_mb,
        workers,
        args.overwrite,
        args.resume,
        args.save_entropies,
        show_progress=not args.quiet,
        calibration=built.calibration,
        num_jobs=num_jobs,
        job=job,
        threads=threads,
    )


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


def _job_split(num_shards: int | None, shard_index: int | None) -> tuple[int, int]:
    """(number of jobs, this job) for this run. Segmenting under torchrun is retired
    (docs/cluster.md says what replaces it): a run under it is refused rather than have
    every rank write the whole corpus."""
    if (num_shards is None) != (shard_index is None):
        raise click.UsageError("--num-shards and --shard-index go together")
    if num_shards is not None:
        if shard_index >= num_shards:
            raise click.UsageError(f"--shard-index must be below --num-shards ({num_shards}), got {shard_index}")
        return num_shards, shard_index
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1 and "RANK" in os.environ:
        raise click.UsageError(
            "segment no longer runs under torchrun: use --engine ray for a cluster, or "
            "--num-shards K --shard-index I for a scheduler's job array (docs/cluster.md)"
        )
    return 1, 0
