"""`segment_corpus`: inputs -> documents -> shards -> manifest.

The main process reads documents (sequential, deterministic). With one worker (the
default) shards are streamed: documents go in groups of a few MB that are patched and
appended to their shard's file as they are read, on `threads` threads (`stream.py`).
With `workers` > 1, whole shard-sized chunks are patched and written in that many
processes, one chunk per worker in flight (`processes.py`). Either way shard k holds the same rows
(`chunks.shard_pieces` is the one rule), memory is bounded by the group or shard size,
not the corpus, and the manifest is written last; an interrupted run's finished shards
are kept by `--resume` once checked against the input (`resume.py`). The output
directory's rules live in `output.py`, reading in `reading.py`.

Several jobs may share one output directory (`num_jobs`/`job`, see `layout.py`): each
takes every K-th split of the inputs (`bytepatch.io.splits`: inside large files too),
writes its own namespace, and the last one to finish
merges the job manifests into `manifest.json`.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence


from bytepatch.cpus import available_cpus
from bytepatch.dataset.files import SHARD_SUFFIX, write_json
from bytepatch.dataset.manifest import ShardInfo, build_manifest
from bytepatch.dataset.metadata import DatasetMetadata
from bytepatch.dataset.schema import dataset_schema
from bytepatch.entropy.ref import EntropyModelRef
from bytepatch.errors import OutputError
from bytepatch.io import ReaderConfig, Source, Span, expand_sources
from bytepatch.io.documents import Document
from bytepatch.io.fs import file_size, is_uri, stamp
from bytepatch.io.jsonl_batch import DocumentBatch
from bytepatch.io.sources import STDIN, input_paths
from bytepatch.io.splits import plan_splits
from bytepatch.patchers import Patcher, PatcherSpec
from bytepatch.progress import Progress
from bytepatch.redact import redacted
from bytepatch.segment.chunks import Chunk, chunk_documents, stream_groups
from bytepatch.segment.layout import JobLayout, written_by_bytepatch
from bytepatch.segment.output import (
    RESUME_ADVICE,
    check_output_apart,
    check_shards_present,
    finish,
    job_lock,
    prepare_output,
    remove_temporaries,
    removing_in_background,
    temporaries,
)
from bytepatch.segment.reading import (
    DuplicateIds,
    check_named_inputs_early,
    counting,
    note_unused_fields,
    read_documents,
)
from bytepatch.segment.resume import Journal, KeptShard, check_none_left, finished_shards
from bytepatch.segment.stream import run_streamed
from bytepatch.segment.windows import DEFAULT_WINDOW
from bytepatch.segment.worker import ShardJob, ShardWriter, empty_shard


MAX_SHARD_BYTES = 1 << 62  # the most --shard-size-mb counts (about 4.6e12 MB): beyond it, no limit


@dataclass(frozen=True)
class SegmentOptions:
    shard_format: str = "arrow"  # arrow (IPC file) | parquet
    shard_size_mb: float = 64.0  # bytes of documents per shard; bounds memory per worker
    workers: int = 1
    overwrite: bool = False  # replace an existing dataset in the output directory
    resume: bool = False  # continue an interrupted run with identical settings
    save_entropies: bool = False
    show_progress: bool = True
    calibration: dict[str, Any] | None = field(default=None, hash=False)  # how the threshold was calibrated, if it was
    num_jobs: int = 1  # independent jobs writing one dataset (--num-shards)
    job: int = 0  # this job's index (--shard-index)
    merge: bool = True  # write manifest.json when this job finishes last (off: a coordinator does)
    window_bytes: int = DEFAULT_WINDOW  # longer documents are patched window by window
    threads: int = 1  # threads per worker for the kernels that release the GIL (the n-gram entropies)

    def __post_init__(self) -> None:
        if self.shard_format not in SHARD_SUFFIX:
            raise ValueError(f"shard format must be one of {sorted(SHARD_SUFFIX)}, got {self.shard_format!r}")
        # From Python a float or a str reached range() or math.isfinite ("'float' object cannot be
        # interpreted as an integer", "must be real number, not str"), or was taken (threads=2.5).
        for name in ("workers", "threads", "num_jobs", "job", "window_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        size = self.shard_size_mb
        if isinstance(size, bool) or not isinstance(size, (int, float)) or not math.isfinite(size) or size <= 0:
            raise ValueError(f"--shard-size-mb must be a positive number, got {size!r}")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.threads < 1:
            raise ValueError("threads must be at least 1")
        if self.overwrite and self.resume:
            raise ValueError("--overwrite and --resume exclude each other")

    @property
    def shard_bytes(self) -> int:
        """Document bytes per shard (`shard_size_mb` MB). A size too large to count in bytes
        (1e308 MB is finite, its bytes are not: `int()` of them raised OverflowError, a
        traceback after the run state was written) means no limit, as any size above the input does."""
        return int(min(self.shard_size_mb * 1e6, MAX_SHARD_BYTES))


def segment_corpus(
    inputs: Sequence[str],
    output: str | Path,
    patcher: Patcher | PatcherSpec | dict[str, Any],
    reader: ReaderConfig = ReaderConfig(),
    options: SegmentOptions = SegmentOptions(),
    entropy_model: EntropyModelRef | None = None,
    *,
    on_start: Callable[[], None] | None = None,
) -> dict[str, Any] | None:
    """Segment `inputs` into a dataset at `output`.

    Returns the dataset manifest, or None when this is one of several jobs and others
    have not finished yet. `patcher` is the patcher (an entropy patcher carries its
    model: give it a `SharedModel`, as `bytepatch.load_patcher` does, so a spawned worker
    process loads its own copy instead of receiving the weights through a pipe), or a
    model-free patcher's `PatcherSpec` / JSON dict. `entropy_model` is the record of
    the model the metadata keeps (default: `EntropyModelRef.of` the patcher's model).
    `on_start` is called once the inputs are listed and the output is ready, before the
    first document is read to be patched (not when the job has nothing left to do, or has
    failed before): the `bytepatch` command loads the kernels there, then resumes its
    cycle collector (`cli/_collector.py`), so that an input or output error is not kept
    waiting for them.
    """
    inputs = input_paths(inputs)
    check_output_apart(inputs, output)
    if is_uri(str(output)):
        return _segment_to_uri(inputs, str(output), patcher, reader, options, entropy_model, on_start)
    return _segment_to_directory(inputs, Path(output), patcher, reader, options, entropy_model, RESUME_ADVICE, on_start)


def _segment_to_directory(
    inputs,
    output: Path,
    patcher,
    reader: ReaderConfig,
    options: SegmentOptions,
    entropy_model,
    again: str,
    on_start: Callable[[], None] | None = None,
) -> dict[str, Any] | None:
    """`segment_corpus` into a local directory; `again`: what to rerun if a shard is gone
    from it before the manifest (`check_shards_present`)."""
    layout = JobLayout(output, options.shard_format, options.num_jobs, options.job)
    sources = expand_sources(inputs, output=str(output))
    note_unused_fields(sources, reader)
    check_named_inputs_early(sources, reader)
    all_files = [s.path for s in sources]
    parts = job_parts(sources, reader, options)
    files = list(dict.fromkeys(s.path for s, _ in parts))
    if options.resume and STDIN in files:
        raise OutputError("--resume cannot replay stdin; pass files")
    if isinstance(patcher, (PatcherSpec, dict)):
        spec = patcher if isinstance(patcher, PatcherSpec) else PatcherSpec.from_dict(patcher)
        patcher = spec.build()
    if patcher.needs_entropies and getattr(patcher, "model", None) is None:
        raise ValueError("the entropy patcher needs an entropy model: build it with one (bytepatch.load_patcher)")
    metadata = DatasetMetadata.of(patcher, options.save_entropies, options.calibration, entropy_model).to_dict()
    settings = {
        "reader": asdict(reader),
        "metadata": {k: v for k, v in metadata.items() if k != "bytepatch_version"},
        "shard_format": options.shard_format,
        "shard_size_mb": options.shard_size_mb,
    }
    # The same for every job of one run: the job manifests are merged only if they agree.
    # Inputs are named as stored in the run state: a URI without its secrets (`_stamp`).
    stamps = {s.path: _stamp(s) for s in sources}
    run_key = _digest({**settings, "inputs": [stamps[f] for f in all_files], "jobs": options.num_jobs})
    run_state = {
        **settings,
        "inputs": [stamps[f] for f in files],
        "job": [options.job, options.num_jobs],
        "run_key": run_key,
        "splits": [[redacted(s.path), span.start, span.end] for s, span in parts],
    }
    with job_lock(layout):
        if prepare_output(layout, options.overwrite, options.resume, run_state, set_aside=True):
            return finish(layout, options.merge)
        try:
            # A killed run's temporaries (we hold this job's lock, so none is live) and the
            # replaced dataset's files, set aside: unlinked while this run reads and patches,
            # or first where worker processes follow (they are forked only from a process
            # without other threads: `processes.start_method`).
            with removing_in_background(temporaries(layout), background=options.workers == 1):
                schema = dataset_schema(options.save_entropies, metadata)
                job = ShardJob(layout, schema, patcher, options.save_entropies, options.window_bytes, options.threads)
                if on_start is not None:
                    on_start()
                finished = finished_shards(layout)
                mine = set(files)
                total = _total_size([s for s in sources if s.path in mine]) if len(parts) == len(files) else None
                progress = Progress(total, enabled=options.show_progress, label="patched")
                documents = read_documents(parts, reader, threads=options.threads > 1)
                ids = DuplicateIds() if reader.id_field else None  # generated ids are unique by construction
                counted = counting(documents, progress, ids)
                try:
                    shards = _run(counted, options.shard_bytes, job, options.workers, finished, progress)
                finally:
                    progress.close()
        finally:
            remove_temporaries(layout)
        if ids is not None:
            ids.report()
        check_shards_present(layout.out, shards, again)
        try:
            write_json(
                layout.job_manifest, {**build_manifest(metadata, shards, options.shard_format), "run_key": run_key}
            )
        except OSError as exc:
            raise OutputError(f"{layout.job_manifest}: cannot write the manifest: {exc}") from exc
        return finish(layout, options.merge)


def _segment_to_uri(
    inputs, uri: str, patcher, reader: ReaderConfig, options: SegmentOptions, entropy_model, on_start=None
):
    """An object-storage output: the dataset is staged in a local temporary directory
    ($TMPDIR), then its shards are uploaded and the manifest last (`bytepatch.dataset.remote`)."""
    import dataclasses
    import shutil
    import tempfile

    from bytepatch.dataset.remote import prepare_remote_output, publish_dataset

    if options.resume:
        raise OutputError(
            f"{uri}: --resume needs a local output directory (object storage has no run state); rerun with --overwrite"
        )
    if options.num_jobs != 1:
        raise OutputError(
            f"{uri}: --num-shards jobs merge through a shared directory; for object storage use --engine ray"
        )
    prepare_remote_output(uri, options.overwrite, written_by_bytepatch)
    staging = Path(tempfile.mkdtemp(prefix="bytepatch-stage-"))
    try:
        dataset = staging / "dataset"
        check_output_apart(inputs, dataset)  # as for any local output: an input directory may hold $TMPDIR
        local = dataclasses.replace(options, overwrite=False)
        again = "rerun with --overwrite"  # object storage keeps no run state to --resume from
        manifest = _segment_to_directory(inputs, dataset, patcher, reader, local, entropy_model, again, on_start)
        publish_dataset(dataset, uri, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def job_parts(sources: list[Source], reader: ReaderConfig, options: SegmentOptions) -> list[tuple[Source, Span]]:
    """What this job reads: every input whole for a single job; for one of K jobs, every
    K-th split of the inputs cut into splits of about a shard each (inside large files
    too), so one big file still gives every job work. A job left without any split says so."""
    if options.num_jobs == 1:
        return [(s, Span(s.name, regular=s.regular)) for s in sources]
    splits = plan_splits(sources, reader, max(1, options.shard_bytes))
    mine = splits[options.job :: options.num_jobs]
    if not mine:
        print(
            f"warning: job {options.job} of {options.num_jobs} gets no input: the inputs make only "
            f"{len(splits)} split(s) of about --shard-size-mb {options.shard_size_mb:g}; it writes an empty "
            "job manifest (use fewer jobs or a smaller --shard-size-mb)",
            file=sys.stderr,
        )
    return mine


def _run(
    documents: Iterable[Document | DocumentBatch],
    shard_bytes: int,
    job: ShardJob,
    workers: int,
    finished: dict[int, tuple[Path, dict]],
    progress: Progress | None = None,
) -> list[ShardInfo]:
    """Patch and write every shard of `documents`; `progress` counts bytes patched (as each
    group of documents is done, in whichever process) and bytes written (as each shard lands)."""
    progress = progress or Progress(None, enabled=False)
    shards = Journal(job.layout.journal)
    workers = min(workers, available_cpus())  # more processes than CPUs only cost memory
    if workers == 1:  # one process: shards streamed, a group at a time, on --threads threads
        writer = ShardWriter(job, on_patched=progress.update)
        groups = stream_groups(documents, shard_bytes, job.window)
        return run_streamed(groups, writer, shards, finished, progress, job.threads) or _no_documents(job)
    # Imported here: multiprocessing and its pipes cost ~9 ms of every run's start-up, and
    # one process (the default) never uses them.
    from bytepatch.segment.processes import run_in_processes

    todo = _skip_finished(chunk_documents(documents, shard_bytes), finished, shards, job.layout, progress)
    # closing(): if recording a shard fails, the workers are stopped now, before the caller
    # removes the temporaries, not whenever the traceback lets go of the generator.
    with closing(run_in_processes(todo, job, workers, lambda n: progress.set_done(progress.skipped + n))) as results:
        for info in results:
            shards.append(info)
            progress.add_written(info.bytes)
    return shards.entries or _no_documents(job)


def _no_documents(job: ShardJob) -> list[ShardInfo]:
    """The shards of a run that read no documents: one empty shard (`empty_shard`), so a
    dataset always has a file that holds its schema. One of K jobs writes none: other
    jobs may have documents; the merge writes it if none had (`merge_job_manifests`)."""
    return [empty_shard(job.layout, job.schema)] if job.layout.single else []


def _skip_finished(
    chunks: Iterable[Chunk],
    finished: dict[int, tuple[Path, dict]],
    shards: Journal,
    layout: JobLayout,
    progress: Progress,
):
    """Chunks still to do; finished ones go straight to `shards` (their input is still read,
    because chunk boundaries are only known by reading) once they are checked to hold
    exactly the documents just read."""
    seen = set()
    for chunk in chunks:
        seen.add(chunk.index)
        if chunk.index in finished:
            kept = KeptShard(chunk.index, *finished[chunk.index], layout.shard_format)
            kept.check(chunk)
            shards.append(kept.info(), record=False)
            progress.skip(shards.entries[-1].bytes)  # done in an earlier run
        else:
            yield chunk
        del chunk  # drop it before the next one is read (memory: one shard at a time)
    check_none_left(finished, seen, layout)


def _stamp(source: Source) -> list:
    """[path, size, mtime_ns] of an input (from the stat taken when it was listed): a
    resumed run refuses inputs changed since. A URI's secrets are hidden (`bytepatch.redact`):
    the run state is a file in the dataset's directory, and the object is the same without them."""
    if source.path == STDIN:
        return [source.path]
    if source.size is None or source.mtime_ns is None:
        path, size, mtime_ns = stamp(source.path)  # a URI, or a file that could not be stat'ed: its error, now
        return [redacted(path), size, mtime_ns]
    return [source.path, source.size, source.mtime_ns]


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _total_size(sources: list[Source]) -> int | None:
    """Bytes of input (for the progress line), None when unknown (stdin)."""
    try:
        return sum(s.size if s.size is not None else file_size(s.path) for s in sources if s.path != STDIN) or None
    except OSError:
        return None
